// max-page-sharing.ts — fidelity scenario: max_page_sharing 4 splits equal pages over duplicate KSM
// pages in stable node chains; changing it (or merge_across_nodes) while KSM pages exist is EBUSY.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { checkCounters, checkErrno, checkKsmStat, readKnob, check, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'max_page_sharing 4: 16 + 10 equal pages give 7 dups in 2 chains; EBUSY while KSM pages exist',
  knobs: { max_page_sharing: '4', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const a = sys.mmap(16 * sys.pageSize);
  sys.memset(a, 0x77, 16 * sys.pageSize);
  sys.madvise(a, 16 * sys.pageSize, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'one.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups', 'pages_unshared', 'pages_volatile']);
  const b = sys.mmap(10 * sys.pageSize);
  sys.memset(b, 0x78, 10 * sys.pageSize);
  sys.madvise(b, 10 * sys.pageSize, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'two.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups', 'pages_unshared', 'pages_volatile', 'general_profit']);
  checkKsmStat(sys, 'stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit']);
  checkErrno(sys, 'set_max_page_sharing_8', () => writeKnob(sys, 'max_page_sharing', '8'));
  checkErrno(sys, 'set_max_page_sharing_same', () => writeKnob(sys, 'max_page_sharing', '4'));
  checkErrno(sys, 'set_merge_across_nodes_0', () => writeKnob(sys, 'merge_across_nodes', '0'));
  checkErrno(sys, 'set_merge_across_nodes_same', () => writeKnob(sys, 'merge_across_nodes', '1'));
  check(sys, 'max_page_sharing', readKnob(sys, 'max_page_sharing'));
  // After run=2 nothing is shared, so the change is allowed.
  writeKnob(sys, 'run', '2');
  checkErrno(sys, 'after_run2.set_max_page_sharing_8', () => writeKnob(sys, 'max_page_sharing', '8'));
  check(sys, 'after_run2.max_page_sharing', readKnob(sys, 'max_page_sharing'));
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'eight.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups']);
}
