// zero-pages-on.ts — fidelity scenario: with use_zero_pages 1, zero-filled pages are replaced by the
// zero page (ksm_zero_pages), never KSM pages; a write or MADV_UNMERGEABLE takes a page back at once.
import { MADV_MERGEABLE, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'use_zero_pages 1: 32 zero-filled pages become KSM zero pages; a write and an unmerge give them back at once',
  knobs: { use_zero_pages: '1', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

const PAGES = 32;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 4);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit']);
  checkKsmStat(sys, 'merged.stat.');
  // One write: the zero page is copied at once and ksm_zero_pages drops at once.
  sys.memset(addr, 7, 1);
  check(sys, 'write.ksm_zero_pages', sys.readFile('/sys/kernel/mm/ksm/ksm_zero_pages').trim());
  checkKsmStat(sys, 'write.stat.', ['ksm_zero_pages']);
  // Unmerging the second half gives those pages back at once too.
  sys.madvise(addr + len / 2, len / 2, MADV_UNMERGEABLE);
  check(sys, 'unmerge.ksm_zero_pages', sys.readFile('/sys/kernel/mm/ksm/ksm_zero_pages').trim());
  checkKsmStat(sys, 'unmerge.stat.', ['ksm_zero_pages']);
  checkContents(sys, 'contents', addr, len);
  await waitFullScans(sys, 4);
  checkCounters(sys, 'after.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit']);
  checkKsmStat(sys, 'after.stat.');
}
