// volatile-pages.ts — fidelity scenario: pages_volatile counts pages whose checksum changed since
// ksmd last saw them (every page on its first visit), pages_unshared the stable unique ones. ksmd
// sleeps 300 ms between scans, so each step is read between two scans.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, fillDistinct, ksmStat, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '16 unique pages: all volatile on the first visit, rewritten ones volatile again, the rest unshared',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '300', smart_scan: '0', run: '1' },
};

const PAGES = 16;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, PAGES, 5);
  let scans = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_MERGEABLE);
  const nextScan = async (): Promise<void> => {
    await waitUntil(sys, () => counter(sys, 'full_scans') > scans && Number(ksmStat(sys).ksm_rmap_items) === PAGES, 'the next full scan');
    scans = counter(sys, 'full_scans');
  };
  const record = (step: string): void => {
    check(sys, `${step}.pages_volatile`, counter(sys, 'pages_volatile'));
    check(sys, `${step}.pages_unshared`, counter(sys, 'pages_unshared'));
    check(sys, `${step}.rmap_items`, ksmStat(sys).ksm_rmap_items ?? 'missing');
  };
  await nextScan();
  record('first');
  fillDistinct(sys, addr, 8, 6); // pages 0-7 change
  await nextScan();
  record('second');
  fillDistinct(sys, addr, 4, 7); // pages 0-3 change again
  await nextScan();
  record('third');
  await nextScan();
  record('fourth');
}
