// remerge-stable.ts — fidelity scenario: when a page whose content equals an existing KSM page is
// merged. Linux 6.10+ (cmp_and_merge_page after "move checksum and zero page check before
// stable_tree_search") tests the checksum before searching the stable tree: a page written back to
// the content it had when ksmd last saw it remerges on the very next visit, but a page given the
// KSM page's content anew waits one more visit (volatile first). ksmd sleeps 200 ms between scans so
// each scan is read on its own.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, fillDistinct, mergingPages, waitFullScans, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'equal to a KSM page: written back remerges after one scan, new content after two (checksum before stable tree)',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '200', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const addr = sys.mmap(8 * P);
  sys.memset(addr, 0x51, 8 * P);
  const lone = sys.mmap(P);
  fillDistinct(sys, lone, 1, 23);
  sys.madvise(addr, 8 * P, MADV_MERGEABLE);
  sys.madvise(lone, P, MADV_MERGEABLE);
  await waitUntil(sys, () => mergingPages(sys) === 8, '8 pages merged');
  await waitFullScans(sys, 3);
  let scans = counter(sys, 'full_scans');
  const nextScan = async (): Promise<void> => {
    await waitUntil(sys, () => counter(sys, 'full_scans') > scans, 'the next scan');
    scans = counter(sys, 'full_scans');
  };
  const record = (step: string): void => {
    check(sys, `${step}.pages_shared`, counter(sys, 'pages_shared'));
    check(sys, `${step}.pages_sharing`, counter(sys, 'pages_sharing'));
    check(sys, `${step}.pages_unshared`, counter(sys, 'pages_unshared'));
    check(sys, `${step}.pages_volatile`, counter(sys, 'pages_volatile'));
    check(sys, `${step}.merging`, mergingPages(sys));
  };
  record('settled');
  // Page 0: changed and changed back in one go (same content, so same checksum as last seen).
  sys.memset(addr, 0x52, 1);
  sys.memset(addr, 0x51, 1);
  // Pages 6 and 7: a new content, equal to each other.
  sys.memset(addr + 6 * P, 0x53, 2 * P);
  // The lone unique page: given the KSM page's content (a new checksum for ksmd).
  sys.memset(lone, 0x51, P);
  record('written');
  await nextScan();
  record('scan1');
  await nextScan();
  record('scan2');
  await nextScan();
  record('scan3');
}
