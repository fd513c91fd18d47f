// merge-speed.ts — bench guest, the `ksm_tests -P` method: SIZE MiB of identical pages ('*'), the
// time from madvise(MADV_MERGEABLE) until ksmd has finished two more full scans and every page is
// merged. Logs `BENCH merge_mib_s N`. args: [index, count, sizeMiB=100]
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { counter, mergingPages, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'merge speed (ksm_tests -P): identical pages, pages_to_scan 100000, sleep_millisecs 0',
  knobs: { pages_to_scan: '100000', sleep_millisecs: '0', run: '1' },
  timeoutMs: 180_000,
};

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const mib = Number(args[2] ?? 100);
  const len = mib * 2 ** 20;
  const pages = len / sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x2a, len);
  const start = performance.now();
  const scans = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitUntil(sys, () => counter(sys, 'full_scans') >= scans + 2 && mergingPages(sys) === pages, `${pages} pages merged`, 150_000);
  const seconds = (performance.now() - start) / 1000;
  sys.log(`BENCH merge_seconds ${seconds}`);
  sys.log(`BENCH merge_mib_s ${mib / seconds}`);
  sys.log(`NOTE pages_shared ${counter(sys, 'pages_shared')} pages_sharing ${counter(sys, 'pages_sharing')}`);
  return 0;
}
