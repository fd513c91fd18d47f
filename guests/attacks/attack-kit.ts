// attack-kit.ts — owns what the attack guests share (docs/security.md): their key=value arguments,
// page contents both sides derive from one seed, waiting for ksmd's full scans, and the one timed
// write a side channel rests on. A guest learns the time only from sys.now().

import { MADV_DONTNEED, MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
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

/** A mergeable private mapping of `pages` pages. */
export function mergeableArea(sys: GuestSys, pages: number): number {
  const addr = sys.mmap(pages * PAGE);
  sys.madvise(addr, pages * PAGE, MADV_MERGEABLE);
  return addr;
}

/** Give page `page` of the mapping at `addr` back (it reads as zeros and holds no frame). */
export function dropPage(sys: GuestSys, addr: number, page: number): void {
  sys.madvise(addr + page * PAGE, PAGE, MADV_DONTNEED);
}

export function fullScans(sys: GuestSys): number {
  return Number(sys.readFile('/sys/kernel/mm/ksm/full_scans'));
}

/** Until full_scans reaches `target` (read through sysfs, which any guest may read). */
export async function untilScans(sys: GuestSys, target: number, timeoutMs = 120_000): Promise<void> {
  const deadline = sys.now() + timeoutMs;
  while (fullScans(sys) < target) {
    if (sys.now() > deadline) throw new Error(`full_scans did not reach ${target} in ${timeoutMs} ms`);
    await sys.sleep(1);
  }
}

/** Nanoseconds one 1-byte write to the page at `addr` takes, by the guest's clock. */
export function timedWrite(sys: GuestSys, addr: number, byte: number): number {
  const t0 = sys.now();
  sys.memset(addr, byte, 1);
  return (sys.now() - t0) * 1e6;
}

/** A line the lab parses: `RESULT {json}` (or SECRETS, BITS). */
export function report(sys: GuestSys, tag: string, value: unknown): void {
  sys.log(`${tag} ${JSON.stringify(value)}`);
}
