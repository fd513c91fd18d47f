// thp-checks.ts — owns what the THP fidelity scenarios (guests/fidelity/thp-*.ts) share on both
// backends: a 2 MiB-aligned MADV_HUGEPAGE area, AnonHugePages of /proc/self/smaps_rollup, and the
// host-wide THP events of /proc/vmstat.

import type { GuestSys } from '../guest/guest-sys.ts';
import { MADV_HUGEPAGE, MADV_MERGEABLE } from '../mem/constants.ts';

export const HPAGE_BYTES = 2 * 2 ** 20;

/**
 * A private area of `blocks` 2 MiB blocks at a 2 MiB-aligned address, advised MADV_HUGEPAGE (the
 * host's THP setting stays madvise, so nothing else of the guest gets huge pages) and MADV_MERGEABLE.
 */
export function hugeArea(sys: GuestSys, blocks: number): number {
  const raw = sys.mmap((blocks + 1) * HPAGE_BYTES);
  const addr = Math.ceil(raw / HPAGE_BYTES) * HPAGE_BYTES;
  sys.madvise(addr, blocks * HPAGE_BYTES, MADV_HUGEPAGE);
  sys.madvise(addr, blocks * HPAGE_BYTES, MADV_MERGEABLE);
  return addr;
}

/** AnonHugePages of /proc/self/smaps_rollup, in kB. */
export function anonHugeKb(sys: GuestSys): number {
  const m = /^AnonHugePages:\s+(\d+) kB$/m.exec(sys.readFile('/proc/self/smaps_rollup'));
  if (!m) throw new Error('/proc/self/smaps_rollup has no AnonHugePages line');
  return Number(m[1]);
}

/** A /proc/vmstat counter (host-wide: on the kernel other processes move it too, so compare deltas with care). */
export function vmstat(sys: GuestSys, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(sys.readFile('/proc/vmstat'));
  if (!m) throw new Error(`/proc/vmstat has no ${name} line`);
  return Number(m[1]);
}

/** Write one byte `value(i)` at the start of each page of [addr, +pages) (the rest stays zero). */
export function markPages(sys: GuestSys, addr: number, pages: number, value: (i: number) => number): void {
  for (let i = 0; i < pages; i++) sys.write(addr + i * sys.pageSize, Uint8Array.of(value(i)));
}
