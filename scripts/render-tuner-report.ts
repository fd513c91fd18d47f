// render-tuner-report.ts — owns the chart of docs/tuning.md: renders the committed comparison JSON
// (docs/data/tuners.json) with the `--html` page of `ksmsim density --tuner`, then screenshots it in
// headless Chromium (as test/report/html-browser.test.ts does) into a PNG.
//
//   npx tsx scripts/render-tuner-report.ts docs/data/tuners.json docs/tuning-report.png
import { readFileSync } from 'node:fs';
import type { TunerComparison } from '../src/density/tuner-run.ts';
import { renderTunerHtml, tunerMarkdown } from '../src/report/tuner-report.ts';
import { screenshotHtml } from './chromium-screenshot.ts';

const [input, png] = process.argv.slice(2);
if (!input || !png) {
  console.error('usage: render-tuner-report.ts COMPARISON.json OUT.png');
  process.exit(2);
}
const comparison = JSON.parse(readFileSync(input, 'utf8')) as TunerComparison;
screenshotHtml(renderTunerHtml(comparison), png, 1280, 1000);
process.stdout.write(tunerMarkdown(comparison));
