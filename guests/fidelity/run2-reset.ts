// run2-reset.ts — fidelity scenario: run=2 unmerges everything and drops the counters at once,
// resets full_scans to 0, keeps the areas mergeable; run=1 merges them again.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, counter, waitFullScans, writeKnob, readKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'run=2: counters and full_scans reset at once, pages unmerged, areas stay mergeable',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

const PAGES = 32;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x66, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  check(sys, 'before.full_scans_positive', counter(sys, 'full_scans') > 0);
  checkCounters(sys, 'before.', ['pages_shared', 'pages_sharing']);
  writeKnob(sys, 'run', '2');
  check(sys, 'run', readKnob(sys, 'run'));
  checkCounters(sys, 'now.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'full_scans', 'general_profit', 'stable_node_dups']);
  checkKsmStat(sys, 'now.stat.');
  checkContents(sys, 'now.contents', addr, len);
  await sys.sleep(100);
  check(sys, 'idle.full_scans', counter(sys, 'full_scans'));
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'again.', ['pages_shared', 'pages_sharing', 'pages_unshared']);
  checkKsmStat(sys, 'again.stat.', ['ksm_merging_pages', 'ksm_rmap_items']);
}
