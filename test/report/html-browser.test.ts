// html-browser.test.ts — the `--html` page in headless Chromium (Debian's `chromium` package): it must
// paint a non-trivial screenshot with the charts' colours, and its DOM must hold the four charts.
// With no network: the page is opened from file:// with every host name resolving to nothing.
//
// Skips (saying why) when /usr/bin/chromium is absent; install it with `apt-get install -y chromium`.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHART_TITLES, renderDensityHtml } from '../../src/report/html-report.ts';
import { PALETTE } from '../../src/report/svg-chart.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';
import { countColor, decodePng } from './png.ts';
import { CHROMIUM, chromium, chromiumArgs } from '../helpers/chromium.ts';

const TIME_LIMIT_MS = 60_000;

describe('density HTML report in headless Chromium', function () {
  this.timeout(TIME_LIMIT_MS);
  let dir: string;
  let html: string;
  let profile = 0;

  const base = (): string[] => chromiumArgs(join(dir, `profile-${profile++}`), 1280, 1800);

  before(function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is absent (install it with: apt-get install -y chromium)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-html-'));
    html = join(dir, 'density.html');
    writeFileSync(html, renderDensityHtml(buildDensityResult({ capacity: true, numa: true })));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('paints a full screenshot with the charts drawn', async () => {
    const png = join(dir, 'density.png');
    const r = await chromium([...base(), `--screenshot=${png}`, pathToFileURL(html).href], TIME_LIMIT_MS - 5000);
    expect(existsSync(png), `no screenshot; chromium exited ${r.code}:\n${r.stderr.slice(-2000)}`).to.equal(true);
    expect(statSync(png).size).to.be.greaterThan(10 * 1024);
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).to.deep.equal([1280, 1800]);
    // The series colours must be painted in quantity: lines, bars and legends, not just a swatch.
    expect(countColor(img, PALETTE[0]), 'with-KSM blue').to.be.greaterThan(5000);
    expect(countColor(img, PALETTE[1]), 'without-KSM vermillion').to.be.greaterThan(5000);
    expect(countColor(img, PALETTE[2]), 'pages_sharing / db green').to.be.greaterThan(1000);
  });

  it('lays the four charts out in the DOM with their titles', async () => {
    const r = await chromium([...base(), '--dump-dom', pathToFileURL(html).href], TIME_LIMIT_MS - 5000);
    const dom = r.stdout;
    expect(dom, `empty DOM; chromium exited ${r.code}:\n${r.stderr.slice(-2000)}`).to.contain('<svg');
    expect(dom.match(/<svg\b/g)).to.have.length(4);
    for (const t of Object.values(CHART_TITLES)) expect(dom).to.contain(t);
    expect(dom).to.contain('<polyline').and.contain('class="bar"');
    expect(dom).to.contain('KSM density report');
  });
});
