// unmerge-run0.ts — fidelity scenario: with run=0, MADV_UNMERGEABLE unmerges the pages but the
// counters stay as they were until ksmd runs again.
import { MADV_MERGEABLE, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, counter, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'MADV_UNMERGEABLE with run=0: pages unmerged, counters frozen until run=1',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

const PAGES = 32;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x55, len);
  const keep = sys.mmap(sys.pageSize);
  sys.memset(keep, 0x56, sys.pageSize);
  sys.madvise(keep, sys.pageSize, MADV_MERGEABLE);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  writeKnob(sys, 'run', '0');
  const scans = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_UNMERGEABLE);
  checkContents(sys, 'contents', addr, len);
  await sys.sleep(150);
  checkCounters(sys, 'frozen.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'general_profit']);
  checkKsmStat(sys, 'frozen.stat.');
  check(sys, 'frozen.full_scans_delta', counter(sys, 'full_scans') - scans);
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'after.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'after.stat.', ['ksm_rmap_items', 'ksm_merging_pages']);
}
