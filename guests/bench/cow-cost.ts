// cow-cost.ts — bench guest, the `ksm_tests -C` method: 4000 pages; a 1-byte write to every other
// page while nothing is merged (plain write), then 2000 distinct merged pairs and a 1-byte write to
// one page of each pair (copy-on-write of a KSM page). Logs `BENCH write_ns_per_page` and
// `BENCH cow_ns_per_page`. args: [index, count, rounds=3] (the median round is reported).
import { MADV_MERGEABLE, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { counter, median, mergingPages, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'copy-on-write cost (ksm_tests -C): 2000 writes to unmerged pages, then to merged ones',
  knobs: { pages_to_scan: '100000', sleep_millisecs: '0', run: '1' },
  timeoutMs: 180_000,
};

const PAGES = 4000;

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const rounds = Number(args[2] ?? 3);
  const P = sys.pageSize;
  const writes: number[] = [];
  const cows: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const addr = sys.mmap(PAGES * P);
    sys.memset(addr, 0x2a, PAGES * P);
    let t = performance.now();
    for (let i = 0; i < PAGES - 1; i += 2) sys.memset(addr + P * i, 0x2d, 1);
    writes.push(((performance.now() - t) * 1e6) / (PAGES / 2));
    for (let i = 0; i < PAGES - 1; i += 2) {
      sys.memset(addr + P * i, 0x2b, i / 2 + 1);
      sys.memset(addr + P * (i + 1), 0x2b, i / 2 + 1);
    }
    const scans = counter(sys, 'full_scans');
    sys.madvise(addr, PAGES * P, MADV_MERGEABLE);
    await waitUntil(sys, () => counter(sys, 'full_scans') >= scans + 2 && mergingPages(sys) === PAGES, `${PAGES} pages merged`, 150_000);
    t = performance.now();
    for (let i = 0; i < PAGES - 1; i += 2) sys.memset(addr + P * i, 0x2d, 1);
    cows.push(((performance.now() - t) * 1e6) / (PAGES / 2));
    sys.madvise(addr, PAGES * P, MADV_UNMERGEABLE);
    sys.munmap(addr, PAGES * P);
    // ksmd forgets the unmapped pages on its next scan; the next round counts from 0 again.
    await waitUntil(sys, () => mergingPages(sys) === 0, 'the unmapped pages forgotten', 150_000);
  }
  sys.log(`BENCH write_ns_per_page ${median(writes)}`);
  sys.log(`BENCH cow_ns_per_page ${median(cows)}`);
  sys.log(`NOTE rounds write ${writes.map((x) => x.toFixed(0)).join(' ')} cow ${cows.map((x) => x.toFixed(0)).join(' ')}`);
  return 0;
}
