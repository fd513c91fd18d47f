// ksm-stat-format.ts — fidelity scenario: /proc/self/ksm_stat and ksm_merging_pages, byte for byte,
// before any KSM use, after madvise (run=0), after scanning unique pages (negative profit), after
// MADV_UNMERGEABLE and after munmap.
import { MADV_MERGEABLE, MADV_UNMERGEABLE, PROC_KSM_MERGING_PAGES, PROC_KSM_STAT, type GuestSys } from '../../src/guest/index.ts';
import { check, fillDistinct, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '/proc/self/ksm_stat byte for byte through a guest\'s life: fresh, madvised, scanned, unmerged, unmapped',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '0' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const raw = (name: string): void => {
    check(sys, `${name}.ksm_stat`, sys.readFile(PROC_KSM_STAT));
    check(sys, `${name}.ksm_merging_pages`, sys.readFile(PROC_KSM_MERGING_PAGES));
  };
  raw('fresh');
  const len = 8 * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, 8, 3);
  sys.madvise(addr, len, MADV_MERGEABLE);
  raw('madvised');
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  raw('scanned');
  sys.madvise(addr, len, MADV_UNMERGEABLE);
  raw('unmergeable');
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  sys.munmap(addr, len);
  raw('unmapped');
  // With nothing mergeable left ksmd forgets the items on its next scan, then stops scanning (full_scans
  // stops advancing), so wait a while rather than for full scans.
  await sys.sleep(300);
  raw('unmapped_later');
}
