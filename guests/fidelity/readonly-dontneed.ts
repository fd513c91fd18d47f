// readonly-dontneed.ts — fidelity scenario: pages of a read-only area merge too (and writing them is
// EFAULT); MADV_DONTNEED on merged pages drops them at once (they read as zeros) and the counters
// follow at the next scans.
import { MADV_DONTNEED, MADV_MERGEABLE, PROT_READ, PROT_WRITE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkErrno, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '16 equal pages made read-only still merge; MADV_DONTNEED on 8 merged pages zeroes them, counters follow',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const ro = sys.mmap(16 * P);
  sys.memset(ro, 0x71, 16 * P);
  sys.mprotect(ro, 16 * P, PROT_READ);
  sys.madvise(ro, 16 * P, MADV_MERGEABLE);
  const rw = sys.mmap(16 * P);
  sys.memset(rw, 0x72, 16 * P);
  sys.madvise(rw, 16 * P, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing', 'pages_unshared']);
  checkKsmStat(sys, 'merged.stat.', ['ksm_merging_pages', 'ksm_rmap_items']);
  checkErrno(sys, 'write.readonly', () => sys.memset(ro, 0, 1));
  sys.mprotect(ro, P, PROT_READ | PROT_WRITE);
  checkErrno(sys, 'write.after_mprotect', () => sys.memset(ro, 0x70, 1));
  check(sys, 'readonly.second_page', sys.read(ro + P, 1)[0]!);
  sys.madvise(rw, 8 * P, MADV_DONTNEED);
  checkContents(sys, 'dontneed.contents', rw, 16 * P);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'after.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'after.stat.', ['ksm_merging_pages', 'ksm_rmap_items']);
}
