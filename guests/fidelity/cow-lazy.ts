// cow-lazy.ts — fidelity scenario: writing a merged page copies it at once (contents), but the
// counters change only when ksmd next scans it (held still here with run=0), then settle.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import {
  check, checkContents, checkCounters, checkKsmStat, counter, waitFullScans, writeKnob, type ScenarioMeta,
} from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'copy-on-write of 4 of 16 merged pages: contents at once, counters at the next scans',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

const PAGES = 16;
const WRITTEN = 4;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x33, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
  writeKnob(sys, 'run', '0');
  const scans = counter(sys, 'full_scans');
  for (let i = 0; i < WRITTEN; i++) sys.memset(addr + i * sys.pageSize + 100, i + 1, 1);
  for (let i = 0; i < WRITTEN + 1; i++) check(sys, `byte.${i}`, sys.read(addr + i * sys.pageSize + 100, 1)[0]!);
  checkContents(sys, 'contents', addr, len);
  await sys.sleep(100);
  checkCounters(sys, 'lazy.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'lazy.stat.', ['ksm_rmap_items', 'ksm_merging_pages']);
  check(sys, 'lazy.full_scans_delta', counter(sys, 'full_scans') - scans);
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'after.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'after.stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_process_profit']);
  checkContents(sys, 'after.contents', addr, len);
}
