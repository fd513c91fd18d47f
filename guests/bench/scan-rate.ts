// scan-rate.ts — bench guest: SIZE MiB of unique pages; once ksmd has seen them twice (checksums
// stable, all in the unstable tree), the time of 3 more full scans gives the scan rate of pages that
// never merge. Logs `BENCH scan_mib_s N`. args: [index, count, sizeMiB=100]
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { counter, fillDistinct, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'scan rate of unique pages: pages_to_scan 100000, sleep_millisecs 0, smart_scan 0',
  knobs: { pages_to_scan: '100000', sleep_millisecs: '0', smart_scan: '0', run: '1' },
  timeoutMs: 180_000,
};

const SCANS = 3;

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const mib = Number(args[2] ?? 100);
  const len = mib * 2 ** 20;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, len / sys.pageSize, 42);
  const first = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitUntil(sys, () => counter(sys, 'full_scans') >= first + 2, 'two full scans', 150_000);
  const from = counter(sys, 'full_scans');
  await waitUntil(sys, () => counter(sys, 'full_scans') > from, 'the next scan boundary', 150_000);
  const start = performance.now();
  const base = counter(sys, 'full_scans');
  await waitUntil(sys, () => counter(sys, 'full_scans') >= base + SCANS, `${SCANS} full scans`, 150_000);
  const seconds = (performance.now() - start) / 1000;
  sys.log(`BENCH scan_mib_s ${(SCANS * mib) / seconds}`);
  sys.log(`NOTE pages_unshared ${counter(sys, 'pages_unshared')} pages_shared ${counter(sys, 'pages_shared')}`);
  return 0;
}
