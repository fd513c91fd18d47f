// density-vs-kernel.test.ts — `ksmsim density --backend linux|both`: a small deterministic fleet
// on the emulator and on the real kernel agrees within the tolerance of docs/density-vs-kernel.md,
// the kernel's memory figures agree with each other, and runs that cannot happen are refused.
import { expect } from 'chai';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunLock } from '../../src/backend/linux/run-lock.ts';
import { compareDensity, compareFigure, toleranceFailures, type DensityBothResult, type DensityComparison } from '../../src/density/density-compare.ts';
import { runDensity, type DensityOptions } from '../../src/density/density-runner.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { fleetFootprint, fleetTooLarge, GUEST_RUNTIME_BYTES } from '../../src/density/fleet-footprint.ts';
import { parseFleetSpec } from '../../src/density/fleet-spec.ts';
import { LINUX_REFUSED_EXIT, LinuxDensityRefused, runLinuxDensity } from '../../src/density/linux-density.ts';
import { projectPath } from '../../src/platform/project-root.ts';
import { runCli } from '../helpers/run-cli.ts';
import { skipUnlessLinuxBackend } from '../backend/linux/skip-unless-available.ts';

/**
 * Deterministic: nothing is rewritten (rate=0), and smart_scan=0 so a page's merge does not depend
 * on when its guest started. The kernel's default scan speed (100 pages / 20 ms) makes one full scan
 * of the 2048 pages take about 0.4 s, much longer than a sample, so full scans are counted finely.
 */
const FLEET = parseFleetSpec('os-image:3:size=2MiB;rate=0,web:2:size=1MiB;rate=0');
const OPTIONS: DensityOptions = {
  memoryBytes: 64 * 2 ** 20, numaNodes: 1, mergeAcrossNodes: '1', capacity: false, maxSeconds: 40, sampleMs: 50, log: () => {},
  knobs: [['pages_to_scan', '100'], ['sleep_millisecs', '20'], ['smart_scan', '0']],
};
/** Another helper's linux-backend run may hold the knobs: wait for it rather than fail. */
const LOCK_WAIT_MS = 180_000;

describe('ksmsim density on the real kernel beside the emulator', function () {
  this.timeout(LOCK_WAIT_MS + 120_000);
  let emulator: DensityResult;
  let linux: DensityResult;
  let c: DensityComparison;

  before(async function () {
    skipUnlessLinuxBackend(this);
    emulator = await runDensity(OPTIONS, FLEET);
    linux = await runLinuxDensity(OPTIONS, FLEET, { lockWaitMs: LOCK_WAIT_MS });
    c = compareDensity(emulator, linux);
  });

  it('names the backend that ran each result', () => {
    expect(emulator.backend).to.equal('emulator');
    expect(linux.backend).to.equal('linux');
  });

  it('measures the same memory without KSM on both: every page the fleet mapped and touched', () => {
    const pages = 3 * 512 + 2 * 256;
    expect(emulator.memory_without_ksm_bytes).to.equal(pages * 4096);
    expect(linux.memory_without_ksm_bytes).to.equal(pages * 4096);
  });

  it('saves within 2 % of what the kernel saves', () => {
    expect(c.saved_bytes.ratio).to.be.within(0.98, 1.02);
  });

  it('ends with the same pages_shared and pages_sharing as the kernel for a deterministic fleet', () => {
    expect(c.pages_shared.emulator).to.equal(c.pages_shared.linux);
    expect(c.pages_sharing.emulator).to.equal(c.pages_sharing.linux);
  });

  it('converges in the same number of full scans as the kernel, ± 1', () => {
    expect(c.converge_full_scans.emulator).to.be.a('number');
    expect(c.converge_full_scans.linux).to.be.a('number');
    expect(Math.abs(c.converge_full_scans.emulator! - c.converge_full_scans.linux!)).to.be.at.most(1);
  });

  it('is within the documented tolerance as a whole', () => {
    expect(toleranceFailures(c, true)).to.deep.equal([]);
  });

  it('counts the kernel\'s memory with KSM as Σ Rss − pages_sharing, which Σ Pss of the same mappings confirms', () => {
    const k = linux.kernel!;
    expect(linux.memory_with_ksm_bytes).to.equal(k.with_ksm.rss_bytes - k.with_ksm.pages_sharing * 4096);
    // Pss is reported in kB per VMA, so rounding leaves at most a few kB per guest.
    expect(Math.abs(k.pss_with_ksm_bytes - linux.memory_with_ksm_bytes)).to.be.at.most(5 * 4096);
  });

  it('saves exactly what the kernel says it freed (pages_sharing + ksm_zero_pages) when no page changes', () => {
    expect(linux.kernel!.saved_minus_freed_bytes).to.equal(0);
    expect(linux.general_profit).to.be.at.most(linux.saved_bytes);
  });

  it('leaves the Node runtime of the guest processes out of the fleet', () => {
    const k = linux.kernel!;
    expect(k.with_ksm.process_rss_bytes).to.be.greaterThan(k.with_ksm.rss_bytes + 5 * 2 ** 20);
    expect(k.without_ksm.rss_bytes).to.equal(linux.memory_without_ksm_bytes);
  });

  it('records full_scans at fleet-up and at convergence on both backends', () => {
    for (const r of [emulator, linux]) {
      expect(r.full_scans_at_converge! - r.full_scans_at_fleet_up!).to.equal(r.converge_full_scans);
    }
  });

  it('reads ksmd\'s CPU time from its /proc entry', () => {
    expect(linux.ksmd_cpu_seconds).to.be.a('number').and.at.least(0);
    expect(linux.ksmd_cpu_clock).to.be.oneOf(['schedstat', 'stat']);
  });
});

describe('ksmsim density --backend linux refusals', function () {
  this.timeout(120_000);

  it('refuses capacity mode on the kernel before anything runs (exit 2)', async () => {
    const run = await runCli(['density', '--backend', 'linux', '--capacity', '--fleet', 'idle:1:size=1MiB', '--quiet']);
    expect(run.code).to.equal(LINUX_REFUSED_EXIT.capacity);
    expect(run.stderr).to.match(/--capacity runs on the emulator only/);
  });

  it('says in its help that capacity mode is emulator-only', () => {
    const help = execFileSync(process.execPath, [projectPath('bin', 'ksmsim'), 'density', '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
    expect(help).to.match(/emulator only: refused with --backend linux or both/);
  });

  it('refuses a fleet larger than the machine\'s available memory before starting anything', () => {
    const fleet = parseFleetSpec('random:4:size=1GiB');
    expect(fleetFootprint(fleet).total_bytes).to.equal(4 * 2 ** 30 + 4 * GUEST_RUNTIME_BYTES);
    expect(fleetTooLarge(fleet, 2 ** 30)).to.match(/needs 4352 MiB .* only 1024 MiB available/);
    expect(fleetTooLarge(fleet, 8 * 2 ** 30)).to.equal(null);
  });

  it('exits 5 naming the sizes when the fleet does not fit (no guest started)', async function () {
    skipUnlessLinuxBackend(this);
    const run = await runCli(['density', '--backend', 'linux', '--fleet', 'random:2:size=60GiB', '--quiet']);
    expect(run.code).to.equal(LINUX_REFUSED_EXIT['too-large']);
    expect(run.stderr).to.match(/the fleet needs \d+ MiB .* refused before starting anything/);
  });

  describe('with the knobs held by another run', () => {
    let holder: ChildProcess;
    let lockPath: string;

    before(() => {
      holder = spawn('sleep', ['60'], { stdio: 'ignore' });
      lockPath = join(mkdtempSync(join(tmpdir(), 'ksmsim-lock-')), 'lock');
      writeFileSync(lockPath, `${holder.pid}\n`);
    });
    after(() => {
      holder.kill('SIGKILL');
    });

    it('refuses with a message naming the holder', async function () {
      skipUnlessLinuxBackend(this);
      let err: unknown;
      try {
        await runLinuxDensity(OPTIONS, parseFleetSpec('idle:1:size=1MiB'), { lockPath, lockWaitMs: 0 });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(LinuxDensityRefused);
      expect((err as LinuxDensityRefused).kind).to.equal('busy');
      expect((err as Error).message).to.contain(`in use by pid ${holder.pid}`);
    });
  });

  it('with --backend both still runs the emulator half when the kernel half is refused', async function () {
    skipUnlessLinuxBackend(this);
    // Hold the real lock as any linux-backend run would, so the CLI's kernel half finds it taken.
    const lock = await RunLock.acquire({ waitMs: LOCK_WAIT_MS });
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-both-'));
    try {
      const run = await runCli(['density', '--backend', 'both', '--lock-wait', '0', '--fleet', 'os-image:2:size=1MiB;rate=0',
        '--ksm', 'sleep_millisecs=0', '--max-seconds', '10', '--json', join(dir, 'both.json'), '--quiet']);
      expect(run.code).to.equal(LINUX_REFUSED_EXIT.busy);
      expect(run.stderr).to.match(/the kernel half did not run: another linux-backend run holds the real KSM knobs/);
      const both = JSON.parse(readFileSync(join(dir, 'both.json'), 'utf8')) as DensityBothResult;
      expect(both.emulator.backend).to.equal('emulator');
      expect(both.emulator.saved_bytes).to.be.greaterThan(0);
      expect(both.linux).to.equal(null);
      expect(both.comparison).to.equal(null);
    } finally {
      lock.release();
    }
  });
});

describe('ksmsim density --backend linux as a user other than root', function () {
  this.timeout(120_000);
  const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

  before(function () {
    // Only root can become another user; a non-root run of the suite is itself the case, skipped here.
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv')) this.skip();
    // The other user must be able to reach the checkout (a clone inside a 0700 folder is not).
    if (spawnSync('/usr/bin/setpriv', [...NOBODY, '/usr/bin/test', '-r', projectPath('bin', 'ksmsim')]).status !== 0) {
      console.log(`      skipped: user 65534 cannot read ${projectPath('bin', 'ksmsim')} (a folder above the checkout is closed to it)`);
      this.skip();
    }
    // The other user cannot rebuild a stale dist/ in a root-owned checkout: build it now, as root.
    execFileSync(process.execPath, [projectPath('scripts', 'build.mjs')]);
  });

  function asNobody(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('/usr/bin/setpriv', [...NOBODY, process.execPath, projectPath('bin', 'ksmsim'), 'density', ...args], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('exits 3 saying the linux backend must run as root', () => {
    const r = asNobody(['--backend', 'linux', '--fleet', 'idle:1:size=1MiB', '--quiet']);
    expect(r.status).to.equal(LINUX_REFUSED_EXIT.unavailable);
    expect(r.stderr).to.match(/the linux backend is not available here: .* must run as root/);
  });

  it('with --backend both runs the emulator half and exits 3', () => {
    const r = asNobody(['--backend', 'both', '--fleet', 'os-image:2:size=1MiB;rate=0', '--ksm', 'sleep_millisecs=0', '--max-seconds', '10', '--json', '-']);
    expect(r.status).to.equal(LINUX_REFUSED_EXIT.unavailable);
    const both = JSON.parse(r.stdout) as DensityBothResult;
    expect(both.emulator.saved_bytes).to.be.greaterThan(0);
    expect(both.linux).to.equal(null);
    expect(both.linux_error).to.match(/must run as root/);
  });
});

describe('the emulator/kernel comparison', () => {
  it('gives each figure as emulator, kernel and emulator ÷ kernel', () => {
    expect(compareFigure(99, 100)).to.deep.equal({ emulator: 99, linux: 100, ratio: 0.99 });
    expect(compareFigure(0, 0).ratio).to.equal(1);
    expect(compareFigure(5, 0).ratio).to.equal(null);
    expect(compareFigure(null, 3).ratio).to.equal(null);
  });

  it('names every figure outside the tolerance', () => {
    const f = (e: number, l: number) => compareFigure(e, l);
    const c: DensityComparison = {
      saved_bytes: f(97, 100), pages_shared: f(10, 11), pages_sharing: f(20, 20), converge_seconds: f(1, 1), converge_full_scans: f(5, 3), ksmd_cpu_seconds: f(1, 1),
    };
    const failures = toleranceFailures(c, true);
    expect(failures.map((x) => x.split(':')[0])).to.deep.equal(['saved_bytes', 'pages_shared', 'converge_full_scans']);
    expect(toleranceFailures(c, false).map((x) => x.split(':')[0])).to.deep.equal(['saved_bytes', 'converge_full_scans']);
  });
});
