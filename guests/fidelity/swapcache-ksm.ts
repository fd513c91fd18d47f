// swapcache-ksm.ts — fidelity scenario: a KSM page mapped once and paged out stays in the swap cache;
// there it takes no new merges (an equal page stays unmerged), and a swap-in brings back the same
// KSM page (smaps_rollup counts it as KSM at once, before ksmd runs), into which the equal page then
// merges.
import { MADV_MERGEABLE, MADV_PAGEOUT, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, smapsRollupKb, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'a paged-out KSM page in the swap cache takes no merges, comes back as the same KSM page, then merges again',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
  swapBytes: 16 * 2 ** 20,
};


export default async function main(sys: GuestSys): Promise<void> {
  const page = sys.pageSize;
  const addr = sys.mmap(2 * page);
  sys.memset(addr, 0x5a, 2 * page);
  sys.madvise(addr, 2 * page, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
  sys.memset(addr + page, 0x11, page); // page 1 copies on write: page 0 maps the KSM page alone
  sys.madvise(addr, page, MADV_PAGEOUT);
  check(sys, 'paged_out.swap_kb', smapsRollupKb(sys, 'Swap'));
  sys.memset(addr + page, 0x5a, page); // equal to the KSM page again
  await waitFullScans(sys, 3);
  checkCounters(sys, 'in_swap_cache.', ['pages_shared', 'pages_sharing']);
  check(sys, 'in_swap_cache.ksm_kb', smapsRollupKb(sys, 'KSM'));
  checkContents(sys, 'contents', addr, 2 * page); // page 0 comes back (a swap-in)
  check(sys, 'swapped_in.ksm_kb', smapsRollupKb(sys, 'KSM'));
  check(sys, 'swapped_in.swap_kb', smapsRollupKb(sys, 'Swap'));
  await waitFullScans(sys, 2);
  checkCounters(sys, 'remerged.', ['pages_shared', 'pages_sharing']);
  check(sys, 'remerged.ksm_kb', smapsRollupKb(sys, 'KSM'));
}
