// dashboard-browser.test.ts — the live host's dashboard in headless Chromium (Debian's `chromium`,
// driven by puppeteer-core; no browser is downloaded): the page follows the host live, starts two
// identical guests from its form and shows pages_sharing rise; knob errors and destroy work from it.
//
// Callbacks passed to page.$eval and waitForFunction run in the page, hence the DOM library below.
// Skips (saying why) when /usr/bin/chromium is absent; install it with `apt-get install -y chromium`.
/// <reference lib="dom" />
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { request } from '../../src/live/control-client.ts';
import { runHost } from '../../src/live/host-runner.ts';
import type { HelloInfo, StopResult } from '../../src/live/protocol.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('live host dashboard in headless Chromium', function () {
  this.timeout(180_000);
  let dir: string;
  let socket: string;
  let hostRun: Promise<StopResult> | undefined;
  let hello: HelloInfo;
  let browser: Browser | undefined;
  let page: Page;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is absent (install it with: apt-get install -y chromium)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-dash-'));
    socket = join(dir, 'host.sock');
    hello = await new Promise<HelloInfo>((resolve, reject) => {
      hostRun = runHost({
        socket, memoryBytes: 64 * 2 ** 20, numaNodes: 2, dashboardPort: 0, print: () => {}, onReady: resolve,
        // smart_scan off: with it on, a guest's idle pages are scanned one pass in nine, and two guests
        // started apart can stay out of phase for long (see docs/live-host.md).
        knobs: [['run', '1'], ['sleep_millisecs', '5'], ['pages_to_scan', '1000'], ['smart_scan', '0']],
      });
      hostRun.catch(reject);
    });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: join(dir, 'profile'),
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--window-size=1400,1000'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
  });

  after(async () => {
    await browser?.close();
    if (hostRun) {
      await request(socket, 'stop').catch(() => {});
      await hostRun.catch(() => {});
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is served on the loopback address only', () => {
    expect(hello.dashboard).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('follows the host live over its event stream', async () => {
    await page.goto(hello.dashboard!);
    await page.waitForFunction(() => document.getElementById('conn')!.textContent === 'live', { timeout: 0 });
    // Two renders apart: the chart's history grows as samples arrive.
    const first = await page.$$eval('#chart polyline', (ls) => (ls[0]?.getAttribute('points') ?? '').split(' ').length);
    await page.waitForFunction((n: number) => (document.querySelector('#chart polyline')?.getAttribute('points') ?? '').split(' ').length > n, { timeout: 0 }, first);
    expect(await page.$eval('#meta', (e) => e.textContent)).to.contain(`pid ${process.pid}`).and.contain('64.0 MiB on 2 nodes');
    expect(await page.$$eval('#nodes .bar', (b) => b.length)).to.equal(2);
  });

  it('starts two identical guests from the page and shows pages_sharing rise', async () => {
    expect(await page.$eval('#c-pages_sharing', (e) => e.textContent)).to.equal('0');
    for (const name of ['twin1', 'twin2']) {
      await page.$eval('#start-name', (e, v) => { (e as HTMLInputElement).value = v; }, name);
      await page.select('#start-workload', 'web');
      await page.select('#start-node', '0');
      await page.$eval('#start-args', (e) => { (e as HTMLInputElement).value = 'size=1MiB seed=3 rate=0'; });
      await page.click('#start-button');
      await page.waitForSelector(`#guests tr[data-name="${name}"]`, { timeout: 0 });
    }
    await page.waitForFunction(() => Number(document.getElementById('c-pages_sharing')!.textContent) > 0, { timeout: 0 });
    // Each guest's ksm_stat on the page: both map the merged pages.
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#guests tbody tr')).every((tr) => Number((tr as HTMLTableRowElement).cells[8]!.textContent) > 0), { timeout: 0 });
    expect(await page.$eval('#start-error', (e) => e.textContent)).to.equal('');
  });

  it('shows the kernel\'s error when a knob write is refused', async () => {
    await page.$eval('#knob-run', (e) => { (e as HTMLInputElement).value = '3'; });
    await page.click('button.knob-set[data-knob="run"]');
    await page.waitForFunction(() => document.getElementById('knob-error-run')!.textContent !== '', { timeout: 0 });
    expect(await page.$eval('#knob-error-run', (e) => e.textContent)).to.equal('/sys/kernel/mm/ksm/run: write error: Invalid argument');
  });

  it('shows libvirt-style EBUSY for merge_across_nodes while pages are shared', async () => {
    await page.$eval('#knob-merge_across_nodes', (e) => { (e as HTMLInputElement).value = '0'; });
    await page.click('button.knob-set[data-knob="merge_across_nodes"]');
    await page.waitForFunction(() => document.getElementById('knob-error-merge_across_nodes')!.textContent !== '', { timeout: 0 });
    expect(await page.$eval('#knob-error-merge_across_nodes', (e) => e.textContent)).to.equal('/sys/kernel/mm/ksm/merge_across_nodes: write error: Device or resource busy');
  });

  it('shows a start the host refuses, and destroys a guest from its button', async () => {
    await page.$eval('#start-name', (e) => { (e as HTMLInputElement).value = 'twin1'; });
    await page.click('#start-button');
    await page.waitForFunction(() => document.getElementById('start-error')!.textContent !== '', { timeout: 0 });
    expect(await page.$eval('#start-error', (e) => e.textContent)).to.match(/^guest 'twin1' already exists/);
    await page.click('#guests tr[data-name="twin2"] button.destroy');
    await page.waitForFunction(() => !document.querySelector('#guests tr[data-name="twin2"]'), { timeout: 0 });
    const names = (await request(socket, 'list')) as Array<{ name: string }>;
    expect(names.map((g) => g.name)).to.deep.equal(['twin1']);
  });
});
