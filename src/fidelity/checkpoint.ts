// checkpoint.ts — owns what a fidelity scenario (guests/fidelity/*.ts) uses to report what it saw:
// `CHECK name value` log lines (compared between the emulator and the kernel), `NOTE name value`
// lines (shown, never compared), and the small helpers every scenario needs on both backends:
// counters, /proc/self/ksm_stat, waiting for ksmd, errnos, content hashes, a cross-guest signal, and
// the median the bench guests (guests/bench/) report.

import type { GuestSys } from '../guest/guest-sys.ts';
import { isErrnoError } from '../mem/errno.ts';
import { KSM_DIR, PROC_KSM_MERGING_PAGES, PROC_KSM_STAT } from '../ksm/sysfs.ts';
import { PROC_SMAPS_ROLLUP } from '../mem/procfs.ts';

export const CHECK_PREFIX = 'CHECK ';
export const NOTE_PREFIX = 'NOTE ';

/** What a scenario module exports beside its default main(sys, args). */
export interface ScenarioMeta {
  /** One line: what the scenario shows. */
  readonly description: string;
  /** KSM knobs written as root (in this order) before the guests start, on both backends. */
  readonly knobs?: Readonly<Record<string, string>>;
  /** Guests to run at once (default 1); each gets args [index, count]. */
  readonly guests?: number;
  /** Launch the guests as root (may write knobs); default false. */
  readonly root?: boolean;
  /** Per-backend time limit of the whole scenario (default 60 s). */
  readonly timeoutMs?: number;
  /**
   * Swap for the run, in bytes (default none): the emulated host gets that much; on the kernel a
   * swap file of that size is swapped on for the run, under the run lock, and off again after.
   */
  readonly swapBytes?: number;
}

export type CheckValue = string | number | boolean | bigint | null;

/** Record an observation the two backends must agree on. Names: [a-z0-9_.:-]+, unique per guest. */
export function check(sys: GuestSys, name: string, value: CheckValue): void {
  sys.log(`${CHECK_PREFIX}${name} ${formatValue(value)}`);
}

/** Record something for the reader only (e.g. a raw value behind a boolean check). */
export function note(sys: GuestSys, name: string, value: CheckValue): void {
  sys.log(`${NOTE_PREFIX}${name} ${formatValue(value)}`);
}

export function formatValue(value: CheckValue): string {
  return value === null ? 'null' : typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The guest's index and the number of guests in this scenario (the runner passes them as args). */
export function guestIndex(args: readonly string[]): { index: number; count: number } {
  return { index: Number(args[0] ?? 0), count: Number(args[1] ?? 1) };
}

// ───────────── reading the files ─────────────

/** A /sys/kernel/mm/ksm file as a number (advisor_mode etc. are not numbers: use readKnob). */
export function counter(sys: GuestSys, name: string): number {
  return Number(sys.readFile(KSM_DIR + name).trim());
}

/** A kB field of /proc/self/smaps_rollup (Rss, KSM, Swap, …) as a number. */
export function smapsRollupKb(sys: GuestSys, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(sys.readFile(PROC_SMAPS_ROLLUP));
  if (!m) throw new Error(`no ${field} line in ${PROC_SMAPS_ROLLUP}`);
  return Number(m[1]);
}

export function readKnob(sys: GuestSys, name: string): string {
  return sys.readFile(KSM_DIR + name).trim();
}

export function writeKnob(sys: GuestSys, name: string, value: string): void {
  sys.writeFile(KSM_DIR + name, value);
}

/** /proc/self/ksm_stat as name → value text ("ksm_merge_any: no" → ksm_merge_any → "no"). */
export function ksmStat(sys: GuestSys): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of sys.readFile(PROC_KSM_STAT).split('\n')) {
    const m = /^(\w+):? (\S+)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function mergingPages(sys: GuestSys): number {
  return Number(sys.readFile(PROC_KSM_MERGING_PAGES).trim());
}

/** Check several global counters at once, as `${prefix}name`. */
export function checkCounters(sys: GuestSys, prefix: string, names: readonly string[]): void {
  for (const n of names) check(sys, `${prefix}${n}`, counter(sys, n));
}

/** Check every ksm_stat field, as `${prefix}field`. */
export function checkKsmStat(sys: GuestSys, prefix: string, fields?: readonly string[]): void {
  const stat = ksmStat(sys);
  for (const f of fields ?? Object.keys(stat)) check(sys, `${prefix}${f}`, stat[f] ?? 'missing');
}

// ───────────── waiting for ksmd ─────────────

/**
 * Wait until ksmd has completed `n` more full scans than now (the selftests wait for two). A scan may
 * be under way when this starts and have passed the page already, so `n` full scans guarantee only
 * n − 1 visits of it: scenarios wait for 3 where a page needs two visits (checksum, then merge), and
 * for 4 after zero-page merges (a third visit drops the rmap item of a page now mapping the zero page).
 */
export async function waitFullScans(sys: GuestSys, n = 2, timeoutMs = 30_000): Promise<void> {
  const target = counter(sys, 'full_scans') + n;
  await waitUntil(sys, () => counter(sys, 'full_scans') >= target, `${n} more full scans (full_scans ${target - n} → ${target})`, timeoutMs);
}

/** Poll `cond` every 2 ms until it holds; throws after `timeoutMs`, naming what was awaited. */
export async function waitUntil(sys: GuestSys, cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sys.sleep(2);
  }
}

/** The median of a list of measurements (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ───────────── errnos and contents ─────────────

/** 'ok' when `fn` returns, the errno code ('EINVAL') when it throws an ErrnoError; rethrows anything else. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (isErrnoError(e)) return e.code;
    throw e;
  }
}

export function checkErrno(sys: GuestSys, name: string, fn: () => unknown): void {
  check(sys, name, errnoOf(fn));
}

/** FNV-1a (32 bit) of the bytes, as 8 hex digits. */
export function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

export function checkContents(sys: GuestSys, name: string, addr: number, length: number): void {
  check(sys, name, fnv1a(sys.read(addr, length)));
}

/** Fill page `i` of [addr, +pages) with a pattern that is unique to (seed, i) in every byte run. */
export function fillDistinct(sys: GuestSys, addr: number, pages: number, seed: number): void {
  const page = new Uint8Array(sys.pageSize);
  const words = new Uint32Array(page.buffer);
  for (let i = 0; i < pages; i++) {
    let x = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
    for (let w = 0; w < words.length; w++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      words[w] = x;
    }
    sys.write(addr + i * sys.pageSize, page);
  }
}

// ───────────── a signal between the guests of one scenario ─────────────

/**
 * Guests of one scenario share no memory, so one guest (launched as root) signals the others through
 * a knob that means nothing while advisor_mode is none: advisor_max_cpu (default 70, restored by the
 * runner on the kernel, fresh on every emulated host). Only one guest may raise a given signal.
 */
const SIGNAL_KNOB = 'advisor_max_cpu';
const SIGNAL_BASE = 70;

export function raiseSignal(sys: GuestSys, step: number): void {
  writeKnob(sys, SIGNAL_KNOB, String(SIGNAL_BASE + step));
}

export async function waitSignal(sys: GuestSys, step: number, timeoutMs = 30_000): Promise<void> {
  await waitUntil(sys, () => counter(sys, SIGNAL_KNOB) >= SIGNAL_BASE + step, `signal ${step} from the coordinating guest`, timeoutMs);
}
