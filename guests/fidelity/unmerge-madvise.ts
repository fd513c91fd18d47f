// unmerge-madvise.ts — fidelity scenario: MADV_UNMERGEABLE gives every page back its own copy at
// once (contents, ksm_mergeable), and the counters drop at the next scans.
import { MADV_MERGEABLE, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, ksmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'MADV_UNMERGEABLE on 32 merged pages: pages at once, counters at the next scans',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

const PAGES = 32;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x44, len);
  // A second, unique mergeable page keeps ksmd scanning this guest after the unmerge.
  const keep = sys.mmap(sys.pageSize);
  sys.memset(keep, 0x45, sys.pageSize);
  sys.madvise(keep, sys.pageSize, MADV_MERGEABLE);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
  sys.madvise(addr, len, MADV_UNMERGEABLE);
  check(sys, 'now.ksm_mergeable', ksmStat(sys).ksm_mergeable ?? 'missing');
  checkContents(sys, 'now.contents', addr, len);
  // Unmerged pages are private again: writing one changes nothing else.
  sys.memset(addr, 0x46, 1);
  checkContents(sys, 'now.contents_after_write', addr, len);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'after.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'general_profit']);
  checkKsmStat(sys, 'after.stat.');
  // Unmerging twice is no error; merging the area again merges it again.
  check(sys, 'unmerge_again', (sys.madvise(addr, len, MADV_UNMERGEABLE), 'ok'));
  sys.memset(addr, 0x44, 1);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'remerged.', ['pages_shared', 'pages_sharing']);
}
