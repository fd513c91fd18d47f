// attack-kit.ts — owns what the attack guests share (docs/security.md): their key=value arguments,
// page contents both sides derive from one seed, advising pages as the host's merge engine needs,
// waiting for its full scans, and the one timed write a side channel rests on. A guest learns the
// time only from sys.now().

import { MADV_DONTNEED, MADV_MERGEABLE, PROT_READ, PROT_WRITE, type GuestSys } from '../../src/guest/index.ts';
import { ENGINE_NAMES, engineDir, type EngineName } from '../../src/engines/engine.ts';
import { PageWriter, mix } from '../workloads/workload-kit.ts';

export { median } from '../../src/fidelity/checkpoint.ts';

export const PAGE = 4096;

/** Content kinds: part of every page's identity, so a probe page never equals a noise page. */
export const CONTENT = { candidate: 1, calibration: 2, noise: 3, bit: 4 } as const;

/** `seed=7 trials=20` → { seed: '7', trials: '20' }. */
export function parseArgs(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new Error(`argument ${JSON.stringify(a)} is not key=value`);
    out.set(a.slice(0, i), a.slice(i + 1));
  }
  return out;
}

export function intArg(args: Map<string, string>, key: string, fallback: number): number {
  const v = args.get(key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${key}=${v}: expected a whole number`);
  return n;
}

/** Writes whole pages of seeded content: page i of the mapping at `addr` gets the content of `key(i)`. */
export function fillPages(sys: GuestSys, addr: number, first: number, count: number, key: (i: number) => number): void {
  new PageWriter(sys).fill(addr, first, count, key);
}

export function contentKey(seed: number, kind: number, a: number, b = 0): number {
  return mix(seed, kind, a, b);
}

/** `engine=uksm` → 'uksm' (default ksm). */
export function engineArg(args: Map<string, string>): EngineName {
  const v = args.get('engine') ?? 'ksm';
  if (!(ENGINE_NAMES as readonly string[]).includes(v)) throw new Error(`engine=${v}: expected one of ${ENGINE_NAMES.join(', ')}`);
  return v as EngineName;
}

/** A private mapping of `pages` pages, to be filled and then given to the engine with `advise`. */
export function area(sys: GuestSys, pages: number): number {
  return sys.mmap(pages * PAGE);
}

/**
 * Give filled pages to the merge engine. ksm: MADV_MERGEABLE (ksmd scans them later); uksm ignores
 * the advice (it scans every private area). dksm merges inside this madvise, and only read-only
 * memory is meant to be advised: the pages are made read-only first and stay so unless `writable`
 * (the attacker, which must write its candidates to time them, makes them writable again: a page
 * DKSM merged stays write-protected and copies on write, the others are its own).
 */
export function advise(sys: GuestSys, engine: EngineName, addr: number, pages: number, writable = false): void {
  if (engine === 'dksm') sys.mprotect(addr, pages * PAGE, PROT_READ);
  sys.madvise(addr, pages * PAGE, MADV_MERGEABLE);
  if (engine === 'dksm' && writable) sys.mprotect(addr, pages * PAGE, PROT_READ | PROT_WRITE);
}

/** Give page `page` of the mapping at `addr` back (it reads as zeros and holds no frame). */
export function dropPage(sys: GuestSys, addr: number, page: number): void {
  sys.madvise(addr + page * PAGE, PAGE, MADV_DONTNEED);
}

/**
 * The engine's full scans, counted from when the guest started (sysfs is world-readable): ksmd's
 * full_scans, or UKSM's rounds. The lab starts the engine only once both guests are ready, so both
 * count from the same origin (0 for ksmd; UKSM's counter starts at 1 and may have run before).
 */
export class ScanClock {
  private readonly path: string;
  private readonly origin: number;

  constructor(private readonly sys: GuestSys, engine: EngineName) {
    if (engine === 'dksm') throw new Error('engine=dksm has no full scans: it merges inside madvise');
    this.path = engineDir(engine) + 'full_scans';
    this.origin = this.read();
  }

  private read(): number {
    return Number(this.sys.readFile(this.path));
  }

  /** Until `target` full scans have passed since the origin. */
  async until(target: number, timeoutMs = 120_000): Promise<void> {
    const deadline = this.sys.now() + timeoutMs;
    while (this.read() - this.origin < target) {
      if (this.sys.now() > deadline) throw new Error(`${this.path} did not reach ${target} in ${timeoutMs} ms`);
      await this.sys.sleep(1);
    }
  }
}

/** Nanoseconds one 1-byte write to the page at `addr` takes, by the guest's clock. */
export function timedWrite(sys: GuestSys, addr: number, byte: number): number {
  const t0 = sys.now();
  sys.memset(addr, byte, 1);
  return (sys.now() - t0) * 1e6;
}

/**
 * Nanoseconds one madvise(MADV_MERGEABLE) of the read-only page at `addr` takes: under DKSM the
 * merge happens inside it, and a page that merges (full compare, PTE swing, the private frame freed)
 * costs more than one that is only filed.
 */
export function timedAdvise(sys: GuestSys, addr: number): number {
  const t0 = sys.now();
  sys.madvise(addr, PAGE, MADV_MERGEABLE);
  return (sys.now() - t0) * 1e6;
}

/** A line the lab parses: `RESULT {json}` (or SECRETS, BITS). */
export function report(sys: GuestSys, tag: string, value: unknown): void {
  sys.log(`${tag} ${JSON.stringify(value)}`);
}
