// knob-guard.ts — owns the real machine's KSM knobs around a linux-backend run: takes the run lock,
// snapshots every writable file under /sys/kernel/mm/ksm (and THP `enabled`), optionally starts the
// run from the kernel's defaults, and restores the snapshot afterwards — also on exceptions, on
// process exit and on SIGINT/SIGTERM/SIGHUP. A guard can nest inside another of this process.

import { readdirSync, statSync } from 'node:fs';
import { KSM_DIR, THP_ENABLED_PATH } from '../../ksm/sysfs.ts';
import { isErrnoError } from '../../mem/errno.ts';
import { KERNEL_KNOB_DEFAULTS, defaultsResetWrites, knobPath } from './kernel-defaults.ts';
import { readRealFile, selectedChoice, writeRealFile } from './real-files.ts';
import { RunLock, type RunLockOptions } from './run-lock.ts';

export type KnobSnapshot = ReadonlyMap<string, string>;

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Every writable KSM knob (plus THP `enabled`) as path → value, choice files as their selected word. */
export function readKnobs(): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(KSM_DIR).sort()) {
    const path = KSM_DIR + name;
    if (statSync(path).mode & 0o200) out.set(path, selectedChoice(readRealFile(path)));
  }
  if (isWritable(THP_ENABLED_PATH)) out.set(THP_ENABLED_PATH, selectedChoice(readRealFile(THP_ENABLED_PATH)));
  return out;
}

/**
 * Put the knobs back as they were in `saved`. Order matters:
 * run=2 first (unmerges everything, so max_page_sharing and merge_across_nodes are not EBUSY);
 * advisor_mode next (changing it resets pages_to_scan); pages_to_scan only with advisor_mode none
 * (otherwise EINVAL); the other knobs; the saved `run` last. Returns the writes that failed.
 */
export function restoreKnobs(saved: KnobSnapshot): string[] {
  const now = readKnobs();
  if ([...saved].every(([path, value]) => now.get(path) === value)) return [];
  const failures: string[] = [];
  const put = (path: string, value: string): void => {
    try {
      writeRealFile(path, value);
    } catch (e) {
      failures.push(`${path}=${value}: ${isErrnoError(e) ? e.code : (e as Error).message}`);
    }
  };
  const run = KSM_DIR + 'run';
  const advisor = KSM_DIR + 'advisor_mode';
  put(run, '2');
  if (saved.has(advisor) && readKnob(advisor) !== saved.get(advisor)) put(advisor, saved.get(advisor)!);
  const advisorOff = readKnob(advisor) === 'none';
  for (const [path, value] of saved) {
    if (path === run || path === advisor) continue;
    if (path === KSM_DIR + 'pages_to_scan' && !advisorOff) continue; // owned by the advisor
    if (readKnob(path) !== value) put(path, value);
  }
  if (saved.has(run)) put(run, saved.get(run)!);
  return failures;
}

/**
 * Put every knob this kernel has to the kernel's default (kernel-defaults.ts gives the values and the
 * order), then read them back. Returns the writes that failed and the knobs that still differ.
 */
export function resetKnobsToDefaults(): string[] {
  const present = new Set([...readKnobs().keys()].filter((p) => p.startsWith(KSM_DIR)).map((p) => p.slice(KSM_DIR.length)));
  const failures: string[] = [];
  for (const { name, value } of defaultsResetWrites(present)) {
    try {
      writeRealFile(knobPath(name), value);
    } catch (e) {
      failures.push(`${name}=${value}: ${isErrnoError(e) ? e.code : (e as Error).message}`);
    }
  }
  for (const [name, value] of Object.entries(KERNEL_KNOB_DEFAULTS)) {
    if (!present.has(name)) continue;
    const now = readKnob(knobPath(name));
    if (now !== value) failures.push(`${name} reads ${now} after the reset, not ${value}`);
  }
  return failures;
}

export interface KnobGuardOptions extends RunLockOptions {
  /** Called first when the guard restores (e.g. to kill guest processes), also from signal handlers. */
  readonly beforeRestore?: () => void;
  /**
   * Start the run from the kernel's default knobs (after the snapshot is taken): a run then sees the
   * same knobs whatever the machine was left at. The snapshot is still what gets restored.
   */
  readonly startFromDefaults?: boolean;
  /**
   * A guard this process already holds: nest inside it instead of taking the lock (which is not
   * re-entrant). The nested guard snapshots and restores on its own; the outer one releases any
   * nested guard still open before restoring its own snapshot (also on a signal), innermost first.
   */
  readonly within?: KnobGuard;
}

/** Holds the run lock (or nests in a guard that does) and the knob snapshot of one run; `release()` restores. */
export class KnobGuard {
  readonly snapshot: KnobSnapshot;
  /** Undefined for a nested guard: the outer guard holds the lock. */
  private readonly lock: RunLock | undefined;
  private readonly outer: KnobGuard | undefined;
  private readonly nested = new Set<KnobGuard>();
  private readonly beforeRestore: (() => void) | undefined;
  private released = false;
  private readonly onExit = (): void => this.releaseQuietly();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.releaseQuietly();
    // Die of the signal as if we had never caught it, unless someone else handles it.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };

  private constructor(lock: RunLock | undefined, outer: KnobGuard | undefined, snapshot: KnobSnapshot, beforeRestore: (() => void) | undefined) {
    this.lock = lock;
    this.outer = outer;
    this.snapshot = snapshot;
    this.beforeRestore = beforeRestore;
    if (outer) {
      // Only the outermost guard listens for exit and signals: it releases the nested ones first, so
      // an inner snapshot is never written back after the outer one.
      outer.nested.add(this);
    } else {
      process.on('exit', this.onExit);
      for (const s of SIGNALS) process.on(s, this.onSignal);
    }
  }

  static async acquire(options: KnobGuardOptions = {}): Promise<KnobGuard> {
    const outer = options.within;
    if (outer) {
      if (outer.released) throw new Error('cannot nest a knob guard in one already released');
      const guard = new KnobGuard(undefined, outer, readKnobs(), options.beforeRestore);
      guard.startFromDefaultsOrRelease(options);
      return guard;
    }
    const lock = await RunLock.acquire(options);
    let guard: KnobGuard;
    try {
      // A run that died without restoring (SIGKILL) left its snapshot in the lock: put it back first.
      if (lock.inherited) {
        const failures = restoreKnobs(parseSnapshot(lock.inherited));
        process.stderr.write(`ksmsim: restored the KSM knobs left by a dead run${failures.length ? ` except ${failures.join('; ')}` : ''}\n`);
      }
      const snapshot = readKnobs();
      lock.record(JSON.stringify([...snapshot]));
      guard = new KnobGuard(lock, undefined, snapshot, options.beforeRestore);
    } catch (e) {
      lock.release();
      throw e;
    }
    guard.startFromDefaultsOrRelease(options);
    return guard;
  }

  /** Restore the knobs and release the lock (once); throws if some knob could not be restored. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.outer) {
      this.outer.nested.delete(this);
    } else {
      process.off('exit', this.onExit);
      for (const s of SIGNALS) process.off(s, this.onSignal);
    }
    const failures: string[] = [];
    try {
      // Innermost first: a nested guard's snapshot is the state this guard's run had made.
      for (const inner of [...this.nested].reverse()) {
        try {
          inner.release();
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      this.beforeRestore?.();
    } finally {
      try {
        failures.push(...restoreKnobs(this.snapshot));
      } finally {
        this.lock?.release();
      }
    }
    if (failures.length) throw new Error(`could not restore the KSM knobs: ${failures.join('; ')}`);
  }

  private startFromDefaultsOrRelease(options: KnobGuardOptions): void {
    if (!options.startFromDefaults) return;
    const failures = resetKnobsToDefaults();
    if (failures.length === 0) return;
    this.releaseQuietly();
    throw new Error(`could not start from the kernel's default KSM knobs: ${failures.join('; ')}`);
  }

  private releaseQuietly(): void {
    try {
      this.release();
    } catch (e) {
      process.stderr.write(`ksmsim: ${(e as Error).message}\n`);
    }
  }
}

/** Run `fn` with the knobs guarded: they are restored however `fn` ends. */
export async function withKnobGuard<T>(fn: (guard: KnobGuard) => Promise<T>, options: KnobGuardOptions = {}): Promise<T> {
  const guard = await KnobGuard.acquire(options);
  let result: T;
  try {
    result = await fn(guard);
  } catch (e) {
    try {
      guard.release();
    } catch (restoreError) {
      process.stderr.write(`ksmsim: ${(restoreError as Error).message}\n`);
    }
    throw e;
  }
  guard.release();
  return result;
}

/** A snapshot as recorded in the lock file: JSON [[path, value], ...] of KSM and THP knobs only. */
function parseSnapshot(text: string): KnobSnapshot {
  const out = new Map<string, string>();
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    return out;
  }
  if (!Array.isArray(entries)) return out;
  for (const e of entries) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string') continue;
    const [path, value] = e as [string, string];
    if ((path.startsWith(KSM_DIR) && !path.slice(KSM_DIR.length).includes('/')) || path === THP_ENABLED_PATH) out.set(path, value);
  }
  return out;
}

function readKnob(path: string): string {
  return selectedChoice(readRealFile(path));
}

function isWritable(path: string): boolean {
  try {
    return (statSync(path).mode & 0o200) !== 0;
  } catch {
    return false;
  }
}
