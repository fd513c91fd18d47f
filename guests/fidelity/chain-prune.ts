// chain-prune.ts — fidelity scenario: with max_page_sharing 4, 16 equal pages make a chain of 4 dups;
// unmerging 12 of them leaves stale dups that chain pruning frees, and a chain of one dup collapses
// back into a plain KSM page.
import { MADV_MERGEABLE, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { checkCounters, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'max_page_sharing 4: a chain of 4 dups; unmerging 12 of 16 pages prunes it back to one KSM page',
  knobs: { max_page_sharing: '4', stable_node_chains_prune_millisecs: '50', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const addr = sys.mmap(16 * P);
  sys.memset(addr, 0x5d, 16 * P);
  sys.madvise(addr, 16 * P, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'chain.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups']);
  sys.madvise(addr + 4 * P, 12 * P, MADV_UNMERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'unmerged.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups']);
  await sys.sleep(100);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'pruned.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'pruned.stat.', ['ksm_rmap_items', 'ksm_merging_pages']);
  // A new page with the same content searches the stable tree and meets the chain (whose one dup is full).
  const extra = sys.mmap(P);
  sys.memset(extra, 0x5d, P);
  sys.madvise(extra, P, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'searched.', ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups', 'pages_unshared']);
}
