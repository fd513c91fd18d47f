// zero-pages-run2.ts — fidelity scenario: KSM zero pages (use_zero_pages 1) and run=2: the zero-page
// mappings are broken at once too; and turning use_zero_pages off keeps nothing else from merging.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { checkContents, checkCounters, checkKsmStat, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'use_zero_pages 1 then run=2: ksm_zero_pages drops at once; a zero-filled KSM page vs the zero page for new zero pages',
  knobs: { use_zero_pages: '1', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const len = 16 * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 4);
  checkCounters(sys, 'zero.', ['ksm_zero_pages', 'pages_shared', 'pages_sharing', 'general_profit']);
  writeKnob(sys, 'run', '2');
  checkCounters(sys, 'run2.', ['ksm_zero_pages', 'pages_shared', 'pages_sharing', 'general_profit', 'full_scans']);
  checkKsmStat(sys, 'run2.stat.');
  checkContents(sys, 'run2.contents', addr, len);
  writeKnob(sys, 'use_zero_pages', '0');
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'ksm.', ['ksm_zero_pages', 'pages_shared', 'pages_sharing']);
  // A zero-filled KSM page is in the stable tree; with use_zero_pages 1 again, do new zero-filled pages
  // join it or become zero pages? Linux 6.10+ tries the zero page before searching the stable tree
  // (cmp_and_merge_page), so they become KSM zero pages.
  writeKnob(sys, 'use_zero_pages', '1');
  const more = sys.mmap(len);
  sys.memset(more, 0, len);
  sys.madvise(more, len, MADV_MERGEABLE);
  await waitFullScans(sys, 4);
  checkCounters(sys, 'zero_first.', ['ksm_zero_pages', 'pages_shared', 'pages_sharing', 'pages_unshared']);
  checkKsmStat(sys, 'zero_first.stat.', ['ksm_zero_pages', 'ksm_merging_pages', 'ksm_rmap_items']);
}
