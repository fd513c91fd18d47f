// merge-across-guests.ts — fidelity scenario: two guests map the same 32 distinct pages; each page
// merges with its twin in the other guest (pages_shared 32, pages_sharing 32).
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import {
  check, checkContents, checkCounters, checkKsmStat, counter, fillDistinct, guestIndex, mergingPages, raiseSignal, waitFullScans,
  waitSignal, waitUntil, type ScenarioMeta,
} from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '2 guests with the same 32 distinct pages: each page merges across the guests',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  guests: 2,
  root: true,
};

const PAGES = 32;

export default async function main(sys: GuestSys, args: string[]): Promise<void> {
  const { index, count } = guestIndex(args);
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, PAGES, 7);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitUntil(sys, () => mergingPages(sys) === PAGES, `all ${PAGES} pages merged`);
  checkKsmStat(sys, 'stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit', 'ksm_zero_pages']);
  checkContents(sys, 'contents', addr, len);
  if (index === 0) {
    await waitUntil(sys, () => counter(sys, 'pages_shared') === PAGES && counter(sys, 'pages_sharing') === PAGES * (count - 1), 'every guest merged');
    await waitFullScans(sys, 3);
    checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit']);
    // A copy-on-write in one guest leaves the other guest's page a KSM page with no sharer.
    sys.memset(addr, 0xee, 1);
    check(sys, 'cow.byte', sys.read(addr, 1)[0]!);
    await waitFullScans(sys, 3);
    checkCounters(sys, 'cow.', ['pages_shared', 'pages_sharing', 'pages_unshared']);
    check(sys, 'cow.merging', mergingPages(sys));
    raiseSignal(sys, 1);
  } else {
    await waitSignal(sys, 1);
    check(sys, 'after_cow.merging', mergingPages(sys));
  }
}
