// remerge-stable.ts — fidelity scenario: a page written back to the content of an existing KSM page
// merges on ksmd's very next visit (the stable tree is searched before the checksum test), while a
// page with new content needs two visits. ksmd sleeps 200 ms so each scan is read on its own.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, mergingPages, waitFullScans, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'a COWed page written back to its old content remerges after one scan; new equal content after two',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '200', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const addr = sys.mmap(8 * P);
  sys.memset(addr, 0x51, 8 * P);
  sys.madvise(addr, 8 * P, MADV_MERGEABLE);
  await waitUntil(sys, () => mergingPages(sys) === 8, '8 pages merged');
  await waitFullScans(sys, 1);
  let scans = counter(sys, 'full_scans');
  const nextScan = async (): Promise<void> => {
    await waitUntil(sys, () => counter(sys, 'full_scans') > scans, 'the next scan');
    scans = counter(sys, 'full_scans');
  };
  const record = (step: string): void => {
    check(sys, `${step}.pages_shared`, counter(sys, 'pages_shared'));
    check(sys, `${step}.pages_sharing`, counter(sys, 'pages_sharing'));
    check(sys, `${step}.pages_volatile`, counter(sys, 'pages_volatile'));
    check(sys, `${step}.merging`, mergingPages(sys));
  };
  // Page 0: changed and changed back in one go (content equals the KSM page again).
  sys.memset(addr, 0x52, 1);
  sys.memset(addr, 0x51, 1);
  // Pages 6 and 7: a new content, equal to each other.
  sys.memset(addr + 6 * P, 0x53, 2 * P);
  record('written');
  await nextScan();
  record('scan1');
  await nextScan();
  record('scan2');
  await nextScan();
  record('scan3');
}
