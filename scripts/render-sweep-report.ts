// render-sweep-report.ts — owns the picture of docs/sweeps.md: renders a sweep's results (DIR, as
// `ksmsim sweep --out DIR` left it) with the page of `ksmsim sweep-report`, and screenshots its top —
// the two heatmaps and the saving-against-CPU scatter — in headless Chromium into a PNG.
//
//   npx tsx scripts/render-sweep-report.ts docs/data/sweep-sample docs/sweep-report.png
import { renderSweepHtml } from '../src/report/sweep-html.ts';
import { readManifest, readResults } from '../src/sweep/results-file.ts';
import { screenshotHtml } from './chromium-screenshot.ts';

const [dir, png] = process.argv.slice(2);
if (!dir || !png) {
  console.error('usage: render-sweep-report.ts SWEEP_DIR OUT.png');
  process.exit(2);
}
screenshotHtml(renderSweepHtml(readManifest(dir), readResults(dir)), png, 1280, 850);
