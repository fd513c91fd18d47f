// smart-scan.ts — fidelity scenario: with smart_scan 1, a unique page that never merges is skipped
// more and more often (pages_skipped), and a skipped page leaves the unstable tree for that scan.
// ksmd sleeps 100 ms between scans so each scan's counters are read between two scans.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, fillDistinct, ksmStat, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'smart_scan 1: pages_skipped and pages_unshared over 15 scans of 32 unique pages',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '100', smart_scan: '1', run: '1' },
};

const PAGES = 32;
const SCANS = 15;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, PAGES, 9);
  let scans = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_MERGEABLE);
  let skipped0 = -1;
  for (let visit = 1; visit <= SCANS; visit++) {
    await waitUntil(sys, () => counter(sys, 'full_scans') > scans && Number(ksmStat(sys).ksm_rmap_items) === PAGES, `scan ${visit}`);
    scans = counter(sys, 'full_scans');
    const skipped = counter(sys, 'pages_skipped');
    if (skipped0 < 0) skipped0 = skipped;
    check(sys, `visit${visit}.skipped_since_first`, skipped - skipped0);
    check(sys, `visit${visit}.pages_unshared`, counter(sys, 'pages_unshared'));
  }
}
