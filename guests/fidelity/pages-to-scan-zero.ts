// pages-to-scan-zero.ts — fidelity scenario: with pages_to_scan 0 ksmd wakes but scans nothing (no
// rmap items, full_scans still); a larger value starts the merging.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkCounters, checkKsmStat, counter, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'pages_to_scan 0: ksmd scans nothing (full_scans and rmap items still); 1000 then merges',
  knobs: { pages_to_scan: '0', sleep_millisecs: '10', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const len = 16 * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x2f, len);
  const scans = counter(sys, 'full_scans');
  const scanned = counter(sys, 'pages_scanned');
  sys.madvise(addr, len, MADV_MERGEABLE);
  await sys.sleep(300);
  check(sys, 'idle.full_scans_delta', counter(sys, 'full_scans') - scans);
  check(sys, 'idle.pages_scanned_delta', counter(sys, 'pages_scanned') - scanned);
  checkKsmStat(sys, 'idle.stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_mergeable']);
  writeKnob(sys, 'pages_to_scan', '1000');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
}
