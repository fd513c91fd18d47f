// many-guests.ts — fidelity scenario: 6 guests each map the same 16 pages plus 4 pages of their own;
// one KSM page per shared content with 5 sharers, the private pages stay unshared.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import {
  checkContents, checkCounters, checkKsmStat, counter, fillDistinct, guestIndex, mergingPages, raiseSignal, waitFullScans,
  waitSignal, waitUntil, type ScenarioMeta,
} from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '6 guests × (16 common + 4 own pages): pages_shared 16, pages_sharing 80, pages_unshared 24',
  knobs: { pages_to_scan: '2000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  guests: 6,
  root: true,
  timeoutMs: 90_000,
};

const COMMON = 16;
const OWN = 4;

export default async function main(sys: GuestSys, args: string[]): Promise<void> {
  const { index, count } = guestIndex(args);
  const P = sys.pageSize;
  const addr = sys.mmap((COMMON + OWN) * P);
  fillDistinct(sys, addr, COMMON, 99);
  fillDistinct(sys, addr + COMMON * P, OWN, 1000 + index);
  sys.madvise(addr, (COMMON + OWN) * P, MADV_MERGEABLE);
  await waitUntil(sys, () => mergingPages(sys) === COMMON, `the ${COMMON} common pages merged`, 60_000);
  checkContents(sys, 'contents', addr, (COMMON + OWN) * P);
  if (index === 0) {
    await waitUntil(sys, () => counter(sys, 'pages_shared') === COMMON && counter(sys, 'pages_sharing') === COMMON * (count - 1), 'every guest merged', 60_000);
    await waitFullScans(sys, 3);
    checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit', 'stable_node_dups']);
    checkKsmStat(sys, 'stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit']);
    raiseSignal(sys, 1);
  } else {
    await waitSignal(sys, 1, 60_000);
    checkKsmStat(sys, 'stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit']);
  }
}
