// guest-exit.ts — fidelity scenario: two guests share 16 equal pages; when one exits, the other
// keeps the KSM page (pages_shared 1, pages_sharing 15 once ksmd has noticed) and its own counts.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import {
  checkCounters, checkKsmStat, counter, guestIndex, mergingPages, raiseSignal, waitFullScans, waitSignal, waitUntil, type ScenarioMeta,
} from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '2 guests × 16 equal pages merge into 1 KSM page; after one guest exits the other keeps it',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  guests: 2,
  root: true,
};

export default async function main(sys: GuestSys, args: string[]): Promise<void> {
  const { index } = guestIndex(args);
  const len = 16 * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x4e, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitUntil(sys, () => mergingPages(sys) === 16, '16 pages merged');
  if (index === 1) {
    await waitSignal(sys, 1);
    return; // exit while merged
  }
  await waitUntil(sys, () => counter(sys, 'pages_shared') === 1 && counter(sys, 'pages_sharing') === 31, 'both guests merged');
  checkCounters(sys, 'both.', ['pages_shared', 'pages_sharing', 'pages_unshared']);
  raiseSignal(sys, 1);
  await waitUntil(sys, () => counter(sys, 'pages_sharing') < 31, 'ksmd to notice the exit');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'alone.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit']);
  checkKsmStat(sys, 'alone.stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit']);
}
