// render-tuner-report.ts — owns the chart of docs/tuning.md: renders the committed comparison JSON
// (docs/data/tuners.json) with the `--html` page of `ksmsim density --tuner`, then screenshots it in
// headless Chromium (as test/report/html-browser.test.ts does) into a PNG.
//
//   npx tsx scripts/render-tuner-report.ts docs/data/tuners.json docs/tuning-report.png
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TunerComparison } from '../src/density/tuner-run.ts';
import { renderTunerHtml, tunerMarkdown } from '../src/report/tuner-report.ts';

const [input, png] = process.argv.slice(2);
if (!input || !png) {
  console.error('usage: render-tuner-report.ts COMPARISON.json OUT.png');
  process.exit(2);
}
const comparison = JSON.parse(readFileSync(input, 'utf8')) as TunerComparison;
const dir = mkdtempSync(join(tmpdir(), 'tuner-report-'));
try {
  const html = join(dir, 'tuners.html');
  writeFileSync(html, renderTunerHtml(comparison));
  const r = spawnSync('/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND', '--hide-scrollbars',
    `--user-data-dir=${join(dir, 'profile')}`, '--window-size=1280,1000', `--screenshot=${resolve(png)}`, pathToFileURL(html).href,
  ], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`chromium exited ${r.status}: ${r.stderr.slice(-2000)}`);
  process.stdout.write(tunerMarkdown(comparison));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
