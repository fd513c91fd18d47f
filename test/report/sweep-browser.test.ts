// sweep-browser.test.ts — the sweep report in headless Chromium (Debian's `chromium`), opened offline
// from file://: the committed sample sweep (docs/data/sweep-sample) paints both heatmaps and the
// scatter, and its DOM holds one row a point.
//
// Skips (saying why) when /usr/bin/chromium is absent; install it with `apt-get install -y chromium`.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectPath } from '../../src/platform/project-root.ts';
import { renderSweepHtml } from '../../src/report/sweep-html.ts';
import { PALETTE } from '../../src/report/svg-chart.ts';
import { readManifest, readResults } from '../../src/sweep/results-file.ts';
import { CHROMIUM, chromium, chromiumArgs } from '../helpers/chromium.ts';
import { countColor, decodePng } from './png.ts';

const TIME_LIMIT_MS = 60_000;
const SAMPLE = projectPath('docs', 'data', 'sweep-sample');

describe('sweep HTML report in headless Chromium', function () {
  this.timeout(TIME_LIMIT_MS);
  let dir: string;
  let html: string;

  before(function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is absent (install it with: apt-get install -y chromium)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-sweep-html-'));
    html = join(dir, 'sweep.html');
    writeFileSync(html, renderSweepHtml(readManifest(SAMPLE), readResults(SAMPLE)));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('paints the saving heatmap, the CPU heatmap and the Pareto front', async () => {
    const png = join(dir, 'sweep.png');
    const r = await chromium([...chromiumArgs(join(dir, 'profile-png'), 1280, 900), `--screenshot=${png}`, pathToFileURL(html).href], TIME_LIMIT_MS - 5000);
    expect(existsSync(png), `no screenshot; chromium exited ${r.code}:\n${r.stderr.slice(-2000)}`).to.equal(true);
    const img = decodePng(readFileSync(png));
    // 11 of the sample's 12 cells hold the top saving (full blue); the costliest CPU cell is full orange.
    expect(countColor(img, PALETTE[0]), 'saving blue').to.be.greaterThan(20_000);
    expect(countColor(img, PALETTE[1]), 'CPU and Pareto orange').to.be.greaterThan(2_000);
  });

  it('lays out one table row a point and the three charts', async () => {
    const r = await chromium([...chromiumArgs(join(dir, 'profile-dom'), 1280, 900), '--dump-dom', pathToFileURL(html).href], TIME_LIMIT_MS - 5000);
    const dom = r.stdout;
    expect(dom.match(/<svg\b/g), `chromium exited ${r.code}:\n${r.stderr.slice(-2000)}`).to.have.length(3);
    expect(dom.match(/<tr[^>]*><td>/g)).to.have.length(12);
    expect(dom).to.contain('id="sweep-saving"').and.contain('id="sweep-cpu"').and.contain('id="sweep-pareto"');
  });
});
