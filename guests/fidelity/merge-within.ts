// merge-within.ts — fidelity scenario: 64 equal pages in one MADV_MERGEABLE area merge into one KSM
// page; the counters, ksm_stat and contents after two full scans.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '64 equal pages in one guest merge into 1 KSM page with 63 sharers',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', run: '1' },
};

const PAGES = 64;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x5a, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit', 'ksm_zero_pages', 'stable_node_chains', 'stable_node_dups']);
  checkKsmStat(sys, 'stat.');
  checkContents(sys, 'contents', addr, len);
  // A rescan changes nothing once everything is merged.
  await waitFullScans(sys, 3);
  checkCounters(sys, 'rescan.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  check(sys, 'rescan.merging', sys.readFile('/proc/self/ksm_merging_pages').trim());
}
