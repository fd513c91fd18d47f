// knob-guard.test.ts — the real KSM knobs are snapshotted and restored around a run (also on an
// exception and on SIGTERM), and the run lock keeps two runs apart.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { KERNEL_KNOB_DEFAULTS } from '../../../src/backend/linux/kernel-defaults.ts';
import { KnobGuard, readKnobs, withKnobGuard } from '../../../src/backend/linux/knob-guard.ts';
import { DEFAULT_LOCK_PATH, RunLock } from '../../../src/backend/linux/run-lock.ts';
import { skipUnlessLinuxBackend } from './skip-unless-available.ts';

const KSM = '/sys/kernel/mm/ksm/';
const HOLDER = fileURLToPath(new URL('./fixtures/guard-holder.ts', import.meta.url));

/** The pid in the real lock file, if there is one (another developer's run may hold it meanwhile). */
function lockOwner(): number | undefined {
  return existsSync(DEFAULT_LOCK_PATH) ? Number.parseInt(readFileSync(DEFAULT_LOCK_PATH, 'utf8'), 10) : undefined;
}

function knob(name: string): string {
  return readFileSync(KSM + name, 'utf8').trim();
}

describe('linux backend: run lock', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is exclusive within the process and released once', async function () {
    const path = join(dir, 'lock');
    const lock = await RunLock.acquire({ path });
    expect(readFileSync(path, 'utf8').trim()).to.equal(String(process.pid));
    let err: Error | undefined;
    await RunLock.acquire({ path }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/already held by this process/);
    lock.release();
    lock.release();
    expect(existsSync(path)).to.equal(false);
  });

  it('takes over a stale lock left by a dead pid', async function () {
    const path = join(dir, 'lock');
    writeFileSync(path, '2147483646\n'); // above pid_max: never a live process
    const lock = await RunLock.acquire({ path });
    expect(readFileSync(path, 'utf8').trim()).to.equal(String(process.pid));
    lock.release();
  });

  it('refuses a lock held by a live process, naming it', async function () {
    const path = join(dir, 'lock');
    writeFileSync(path, `${process.ppid}\n`);
    let err: Error | undefined;
    await RunLock.acquire({ path, waitMs: 150 }).catch((e: Error) => (err = e));
    expect(err?.message).to.include(`pid ${process.ppid}`);
    expect(readFileSync(path, 'utf8').trim()).to.equal(String(process.ppid));
  });
});

describe('linux backend: knob guard on the real /sys/kernel/mm/ksm', function () {
  this.timeout(30_000);
  beforeEach(function () {
    skipUnlessLinuxBackend(this);
  });

  it('snapshots every writable knob, choice files as their selected word', function () {
    const knobs = readKnobs();
    for (const name of ['run', 'pages_to_scan', 'sleep_millisecs', 'max_page_sharing', 'merge_across_nodes', 'use_zero_pages', 'advisor_mode']) {
      expect(knobs.has(KSM + name), name).to.equal(true);
    }
    expect(knobs.has(KSM + 'pages_shared')).to.equal(false);
    expect(knobs.get(KSM + 'advisor_mode')).to.match(/^(none|scan-time)$/);
  });

  it('restores every knob after the run, advisor_mode and run included', async function () {
    this.timeout(150_000);
    let before = new Map<string, string>();
    await withKnobGuard(async () => {
      // Read under the lock: another run of the project may hold the knobs until we get it.
      before = readKnobs();
      writeFileSync(KSM + 'pages_to_scan', '1234');
      writeFileSync(KSM + 'sleep_millisecs', '3');
      writeFileSync(KSM + 'max_page_sharing', '17');
      writeFileSync(KSM + 'use_zero_pages', '1');
      writeFileSync(KSM + 'advisor_mode', 'scan-time');
      writeFileSync(KSM + 'run', '1');
    }, { waitMs: 120_000 });
    expect(readKnobs()).to.deep.equal(before);
    expect(lockOwner()).to.not.equal(process.pid);
  });

  it('restores the knobs when the run throws', async function () {
    this.timeout(150_000);
    let before = new Map<string, string>();
    let err: Error | undefined;
    await withKnobGuard(async () => {
      before = readKnobs();
      writeFileSync(KSM + 'sleep_millisecs', '5');
      throw new Error('boom');
    }, { waitMs: 120_000 }).catch((e: Error) => (err = e));
    expect(err?.message).to.equal('boom');
    expect(knob('sleep_millisecs')).to.equal(before.get(KSM + 'sleep_millisecs'));
  });

  it('keeps a second run out while one holds the guard', async function () {
    const guard = await KnobGuard.acquire({ waitMs: 10_000 });
    try {
      let err: Error | undefined;
      await KnobGuard.acquire().catch((e: Error) => (err = e));
      expect(err?.message).to.match(/already held/);
    } finally {
      guard.release();
    }
  });

  /** Knobs left at values no fresh kernel has, written as the restore order would (run=2 first: EBUSY). */
  const NON_DEFAULT: Record<string, string> = { run: '2', use_zero_pages: '1', max_page_sharing: '16', smart_scan: '0', sleep_millisecs: '7', advisor_mode: 'scan-time' };
  function leaveNonDefault(): void {
    for (const [k, v] of Object.entries(NON_DEFAULT)) writeFileSync(KSM + k, v);
  }
  function defaultsNow(): Record<string, string> {
    return Object.fromEntries(Object.keys(KERNEL_KNOB_DEFAULTS).map((k) => [k, knob(k).replace(/^.*\[(.*)\].*$/, '$1')]));
  }

  it('starts a run from the kernel\'s default knobs whatever the machine was left at, and restores the machine\'s afterwards', async function () {
    const outer = await KnobGuard.acquire({ waitMs: 60_000 });
    try {
      leaveNonDefault();
      const left = readKnobs();
      await withKnobGuard(async () => {
        expect(defaultsNow()).to.deep.equal(KERNEL_KNOB_DEFAULTS);
      }, { within: outer, startFromDefaults: true });
      expect(readKnobs()).to.deep.equal(left);
      expect(knob('max_page_sharing')).to.equal('16');
    } finally {
      outer.release();
    }
  });

  it('a nested guard restores the outer run\'s knobs; the outer one then the machine\'s', async function () {
    const outer = await KnobGuard.acquire({ waitMs: 60_000 });
    const before = readKnobs(); // under the lock: what the outer guard will restore
    try {
      writeFileSync(KSM + 'sleep_millisecs', '13');
      const inner = await KnobGuard.acquire({ within: outer });
      writeFileSync(KSM + 'sleep_millisecs', '14');
      inner.release();
      expect(knob('sleep_millisecs')).to.equal('13');
      expect(lockOwner()).to.equal(process.pid);
    } finally {
      outer.release();
    }
    expect(readKnobs()).to.deep.equal(before);
    expect(lockOwner()).to.not.equal(process.pid);
  });

  it('releasing the outer guard first releases a nested one still open (its cleanup runs, then the machine\'s knobs come back)', async function () {
    const outer = await KnobGuard.acquire({ waitMs: 60_000 });
    const before = readKnobs(); // under the lock: what the outer guard will restore
    let cleaned = false;
    writeFileSync(KSM + 'sleep_millisecs', '15');
    await KnobGuard.acquire({ within: outer, beforeRestore: () => (cleaned = true) });
    writeFileSync(KSM + 'sleep_millisecs', '16');
    outer.release();
    expect(cleaned).to.equal(true);
    expect(readKnobs()).to.deep.equal(before);
    let err: Error | undefined;
    await KnobGuard.acquire({ within: outer }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/already released/);
  });

  /** Start guard-holder.ts with knob changes; resolves once it holds the guard and changed them. */
  async function startHolder(...changes: string[]): Promise<ChildProcess & { stdout: Readable }> {
    const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, ...changes], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
    });
    return child;
  }

  function killed(child: ChildProcess, signal: NodeJS.Signals): Promise<NodeJS.Signals | null> {
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    child.kill(signal);
    return exited;
  }

  it('restores the knobs and drops the lock when the holder gets SIGTERM', async function () {
    const before = readKnobs();
    const child = await startHolder('sleep_millisecs=9', 'pages_to_scan=4321', 'run=1');
    expect(knob('sleep_millisecs')).to.equal('9');
    expect(lockOwner()).to.equal(child.pid);
    expect(await killed(child, 'SIGTERM')).to.equal('SIGTERM');
    expect(readKnobs()).to.deep.equal(before);
    expect(lockOwner()).to.not.equal(child.pid);
  });

  it('restores the knobs of a run killed by SIGKILL when the next run takes its lock over', async function () {
    const before = readKnobs();
    const child = await startHolder('sleep_millisecs=11', 'max_page_sharing=5', 'run=1');
    expect(await killed(child, 'SIGKILL')).to.equal('SIGKILL');
    expect(knob('sleep_millisecs')).to.equal('11');
    const guard = await KnobGuard.acquire({ waitMs: 10_000 });
    try {
      expect(guard.snapshot).to.deep.equal(before);
      expect(readKnobs()).to.deep.equal(before);
    } finally {
      guard.release();
    }
  });
});
