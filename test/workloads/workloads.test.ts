// workloads.test.ts — each workload of guests/workloads, run as a small fleet on an emulated host
// with ksmd, saves the share of its memory that guests/workloads/README.md documents (the bands
// are read from that file's table), the volatile workload shows up in pages_volatile, and bad
// arguments fail the guest with a message naming the key.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Host, type GuestHandle, type GuestReport } from '../../src/host/host.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';
import { workloadPath } from '../../src/workloads/workload-catalog.ts';
import { Mulberry32 } from '../helpers/prng.ts';

const MiB = 2 ** 20;
const PAGE = 4096;
const README = new URL('../../guests/workloads/README.md', import.meta.url);
// smart_scan=0: with smart_scan a page that stayed unique for a while is visited only every 9th
// scan, and a twin that arrives later may never be in the same scan (README.md, "smart_scan").
const FAST_KNOBS: Array<[string, string]> = [['pages_to_scan', '5000'], ['sleep_millisecs', '0'], ['smart_scan', '0']];
const READY = /^\[([^\]]+)\] READY (\d+)$/;

/** The bands of the README's "Expected sharing" table: first cell → [low, high]. */
function documentedBands(): Map<string, [number, number]> {
  const bands = new Map<string, [number, number]>();
  for (const line of readFileSync(README, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const band = /^\[([\d.]+), ([\d.]+)\]$/.exec(cells[cells.length - 2] ?? '');
    if (band && cells[1]) bands.set(cells[1].replace(/`/g, ''), [Number(band[1]), Number(band[2])]);
  }
  return bands;
}

interface GuestSpec {
  readonly workload: string;
  readonly args: readonly string[];
}

interface Fleet {
  readonly host: Host;
  readonly guests: GuestHandle[];
  readonly logs: string[];
  readonly mappedPages: number;
  readonly baselineBytes: number;
}

function usedBytes(host: Host): number {
  return host.nodeMemory().reduce((n, m) => n + m.usedBytes, 0);
}

/**
 * Start a 128 MiB host with `knobs`, launch the guests, wait until all are READY, then start ksmd
 * (run=1): with sleep_millisecs=0 ksmd would otherwise take a whole core while the guests start.
 */
async function startFleet(specs: readonly GuestSpec[], knobs: Array<[string, string]> = FAST_KNOBS): Promise<Fleet> {
  const logs: string[] = [];
  const host = await Host.start({ memoryBytes: 128 * MiB, onLog: (l) => logs.push(l) });
  try {
    for (const [k, v] of knobs) await host.writeFile(KSM_DIR + k, v);
    const baselineBytes = usedBytes(host);
    const guests = specs.map((s, i) => host.launch(workloadPath(s.workload), { name: `${s.workload}.${i}`, args: s.args }));
    const ended: GuestReport[] = [];
    for (const g of guests) void g.done.then((r) => ended.push(r));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = logs.filter((l) => READY.test(l));
      if (ready.length === guests.length) {
        const mappedPages = ready.reduce((n, l) => n + Number(READY.exec(l)![2]), 0);
        await host.writeFile(KSM_DIR + 'run', '1');
        return { host, guests, logs, mappedPages, baselineBytes };
      }
      if (ended.length) throw new Error(`guest ended before READY: ${ended.map((r) => `${r.name} ${r.status} ${r.error ?? ''}`).join('; ')}`);
      if (Date.now() > deadline) throw new Error(`not all guests READY: ${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (e) {
    await host.shutdown();
    throw e;
  }
}

async function stopFleet(f: Fleet): Promise<void> {
  await Promise.all(f.guests.map((g) => g.kill()));
  await f.host.shutdown();
}

interface Saving {
  /** (pages_sharing + ksm_zero_pages) / mapped pages. */
  readonly byCounters: number;
  /** 1 − (memory used by the fleet) / (memory it mapped). */
  readonly byMemory: number;
  readonly counters: Record<string, number>;
  readonly scans: number;
}

/**
 * Wait for at least 3 full scans after READY, then until the saving has not changed for 10 full
 * scans in a row (smart_scan skips a page that has not merged for up to 8 scans, so a page can
 * find its twin that late).
 */
async function settledSaving(f: Fleet): Promise<Saving> {
  const ksmd = f.host.ksmd!;
  const start = f.host.files.counters().full_scans;
  await ksmd.waitForFullScans(3, 20_000);
  const saved = () => {
    const c = f.host.files.counters();
    return c.pages_sharing + c.ksm_zero_pages;
  };
  let last = saved();
  let same = 0;
  const deadline = Date.now() + 20_000;
  while (same < 10 && Date.now() < deadline) {
    await ksmd.waitForFullScans(1, 20_000);
    const now = saved();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  const counters = f.host.files.counters();
  const used = (usedBytes(f.host) - f.baselineBytes) / PAGE;
  return {
    byCounters: (counters.pages_sharing + counters.ksm_zero_pages) / f.mappedPages,
    byMemory: 1 - used / f.mappedPages,
    counters,
    scans: counters.full_scans - start,
  };
}

function fleetOf(workload: string, count: number, args: readonly string[]): GuestSpec[] {
  return Array.from({ length: count }, () => ({ workload, args }));
}

const bands = documentedBands();

/** Run `specs`, check the settled saving lies in the README band `row`; returns the measurement. */
async function expectBand(row: string, specs: readonly GuestSpec[]): Promise<Saving> {
  const band = bands.get(row);
  expect(band, `README band for ${row}`).to.not.equal(undefined);
  const f = await startFleet(specs);
  try {
    const s = await settledSaving(f);
    const c = s.counters;
    const what = `${row}: saving ${s.byCounters.toFixed(4)} (memory ${s.byMemory.toFixed(4)}) after ${s.scans} full scans; ` +
      `pages_shared ${c.pages_shared} pages_sharing ${c.pages_sharing} ksm_zero_pages ${c.ksm_zero_pages} of ${f.mappedPages} pages`;
    if (process.env.WORKLOADS_VERBOSE) console.log(`      ${what}`);
    expect(s.byCounters, what).to.be.within(band![0], band![1]);
    // The counters and the host's memory agree (a frame or two may wait for ksmd to free it).
    expect(Math.abs(s.byCounters - s.byMemory), what).to.be.lessThan(0.01);
    return s;
  } finally {
    await stopFleet(f);
  }
}

const TWO_MIB = ['size=2MiB'];

describe('workload library: sharing of a small fleet lands in the documented band', function () {
  this.timeout(40_000);

  it('README documents a band for every workload', () => {
    for (const w of ['os-image', 'os-image, 2 versions', 'idle', 'web', 'db', 'jvm', 'random', 'volatile']) {
      expect(bands.has(w), w).to.equal(true);
    }
  });

  it('os-image: 4 guests of one distro version', async () => {
    await expectBand('os-image', fleetOf('os-image', 4, TWO_MIB));
  });

  it('os-image: 2 distro versions, 2 guests each, share only the common part across versions', async () => {
    await expectBand('os-image, 2 versions', [
      ...fleetOf('os-image', 2, [...TWO_MIB, 'distro=1']),
      ...fleetOf('os-image', 2, [...TWO_MIB, 'distro=2']),
    ]);
  });

  it('os-image image=PATH loads real files into the image (same band as a generated image)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-image-'));
    try {
      const rng = new Mulberry32(7);
      mkdirSync(join(dir, 'lib'));
      writeFileSync(join(dir, 'bin-a'), rng.fill(new Uint8Array(10_000)));
      writeFileSync(join(dir, 'lib', 'libb.so'), rng.fill(new Uint8Array(50 * PAGE)));
      writeFileSync(join(dir, 'lib', 'libc.so'), rng.fill(new Uint8Array(20 * PAGE + 1)));
      symlinkSync(join(dir, 'bin-a'), join(dir, 'link-to-a'));
      const specs = [
        ...fleetOf('os-image', 2, [...TWO_MIB, `image=${dir}`, 'verbose=1']),
        ...fleetOf('os-image', 2, [...TWO_MIB, '--image', dir, 'verbose=1']),
      ];
      const band = bands.get('os-image')!;
      const f = await startFleet(specs);
      try {
        const layouts = f.logs.filter((l) => l.includes('layout:'));
        expect(layouts).to.have.length(4);
        // 3 + 50 + 21 pages of 3 files (the symlink is skipped).
        for (const l of layouts) expect(l).to.include('from files 74 pages of 3 files');
        const s = await settledSaving(f);
        expect(s.byCounters, `saving ${s.byCounters}`).to.be.within(band[0], band[1]);
      } finally {
        await stopFleet(f);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('idle: 4 guests', async () => {
    await expectBand('idle', fleetOf('idle', 4, TWO_MIB));
  });

  it('web: 4 guests', async () => {
    await expectBand('web', fleetOf('web', 4, TWO_MIB));
  });

  it('db: 4 guests', async () => {
    await expectBand('db', fleetOf('db', 4, TWO_MIB));
  });

  it('jvm: 4 guests', async () => {
    await expectBand('jvm', fleetOf('jvm', 4, TWO_MIB));
  });

  it('random: 4 guests (and its static pages are not volatile)', async () => {
    const s = await expectBand('random', fleetOf('random', 4, TWO_MIB));
    // The control for the volatile workload: with smart_scan=0 a static unique page sits in the
    // unstable tree (pages_unshared), not in pages_volatile.
    if (process.env.WORKLOADS_VERBOSE) console.log(`      random: pages_volatile ${s.counters.pages_volatile} of 2048`);
    expect(s.counters.pages_volatile / 2048, `pages_volatile ${s.counters.pages_volatile}`).to.be.at.most(0.05);
  });

  it('mergeable=0: an idle fleet saves nothing and ksmd tracks none of its pages', async () => {
    // A small mergeable random guest keeps ksmd's full scans going (with no mergeable area at all
    // full_scans stays put, as in the kernel).
    const f = await startFleet([...fleetOf('idle', 2, ['size=1MiB', 'mergeable=0']), { workload: 'random', args: ['pages=64'] }]);
    try {
      await f.host.ksmd!.waitForFullScans(3);
      const c = f.host.files.counters();
      expect(c.pages_sharing + c.ksm_zero_pages).to.equal(0);
      expect(c.rmap_items, 'only the random guest\'s pages').to.equal(64);
    } finally {
      await stopFleet(f);
    }
  });
});

describe('workload library: volatile pages', function () {
  this.timeout(40_000);
  // The kernel's default scan speed (100 pages per 20 ms), without smart_scan's skipping.
  const SLOW_KNOBS: Array<[string, string]> = [['pages_to_scan', '100'], ['sleep_millisecs', '20'], ['smart_scan', '0']];

  /** Median pages_volatile over 3 full scans (after 2), as a fraction of the fleet's pages. */
  async function volatileShare(specs: readonly GuestSpec[]): Promise<{ share: number; saving: number }> {
    const f = await startFleet(specs, SLOW_KNOBS);
    try {
      await f.host.ksmd!.waitForFullScans(2);
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        await f.host.ksmd!.waitForFullScans(1);
        seen.push(f.host.files.counters().pages_volatile);
      }
      seen.sort((a, b) => a - b);
      const c = f.host.files.counters();
      return { share: seen[1]! / f.mappedPages, saving: (c.pages_sharing + c.ksm_zero_pages) / f.mappedPages };
    } finally {
      await stopFleet(f);
    }
  }

  it('volatile: nearly every page is in pages_volatile, nothing merges (random is the control above)', async () => {
    const band = bands.get('volatile')!;
    const vol = await volatileShare(fleetOf('volatile', 3, ['size=512KiB']));
    if (process.env.WORKLOADS_VERBOSE) console.log(`      volatile: pages_volatile share ${vol.share.toFixed(3)}, saving ${vol.saving}`);
    expect(vol.share, `pages_volatile share ${vol.share}`).to.be.at.least(0.9);
    expect(vol.saving).to.be.within(band[0], band[1]);
  });
});

describe('workload library: arguments', function () {
  this.timeout(30_000);

  it('bad arguments fail the guest with a message naming the key and the value; hold= ends it with 0', async () => {
    const logs: string[] = [];
    const host = await Host.start({ memoryBytes: 64 * MiB, ksmd: false, onLog: (l) => logs.push(l) });
    try {
      const cases: Array<[string, string[], RegExp]> = [
        ['idle', ['rate=fast'], /idle: bad value for rate: "fast"/],
        ['web', ['colour=blue'], /web: unknown key "colour"/],
        ['os-image', ['zero=1.5'], /os-image: bad value for zero: "1\.5"/],
        ['os-image', ['image=/no/such/dir'], /os-image: bad value for image: "\/no\/such\/dir"/],
        ['jvm', ['classdata=0.6', 'strings=0.5'], /jvm: classdata=0\.6 \+ strings=0\.5 .* > 1/],
        ['db', ['size=12XB'], /db: bad value for size: "12XB"/],
        ['volatile', ['period='], /volatile: bad value for period: ""/],
      ];
      const runs = cases.map(([w, args]) => host.launch(workloadPath(w), { name: w, args }).done);
      const ok = host.launch(workloadPath('random'), { name: 'ok', args: ['pages=64', 'hold=50ms', 'seed=3'] });
      const reports = await Promise.all(runs);
      reports.forEach((r, i) => {
        expect(r.status, `${cases[i]![0]} ${cases[i]![1].join(' ')}`).to.equal('failed');
        expect(r.error, `${cases[i]![0]} ${cases[i]![1].join(' ')}`).to.match(cases[i]![2]);
      });
      const okReport = await ok.done;
      expect(okReport.status, okReport.error).to.equal('exited');
      expect(okReport.exitCode).to.equal(0);
      expect(okReport.memoryAtExit.privatePages).to.equal(64);
      expect(logs.filter((l) => l.startsWith('[ok] '))).to.deep.equal(['[ok] READY 64']);
    } finally {
      await host.shutdown();
    }
  });
});
