// prctl-merge-any.ts — fidelity scenario: PR_SET_MEMORY_MERGE 1 makes every area mergeable (new ones
// too), PR_GET_MEMORY_MERGE reports it, 0 unmerges. On the kernel the Node runtime's own heap merges
// too, so only what the program's area guarantees is compared (the raw counts are notes).
import { PR_GET_MEMORY_MERGE, PR_SET_MEMORY_MERGE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkErrno, ksmStat, mergingPages, note, waitFullScans, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'prctl PR_SET_MEMORY_MERGE 1/0: flags, old and new areas merge without madvise, 0 unmerges everything',
  knobs: { pages_to_scan: '20000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

const PAGES = 64;

export default async function main(sys: GuestSys): Promise<void> {
  // An area mapped before the prctl: it becomes mergeable too.
  const len = PAGES * sys.pageSize;
  const before = sys.mmap(len);
  sys.memset(before, 0x99, len);
  check(sys, 'get.initial', sys.prctl(PR_GET_MEMORY_MERGE));
  check(sys, 'stat.initial.merge_any', ksmStat(sys).ksm_merge_any ?? 'missing');
  checkErrno(sys, 'get_with_arg2', () => sys.prctl(PR_GET_MEMORY_MERGE, 1));
  check(sys, 'set.1', sys.prctl(PR_SET_MEMORY_MERGE, 1));
  check(sys, 'get.after_set', sys.prctl(PR_GET_MEMORY_MERGE));
  const stat = ksmStat(sys);
  check(sys, 'stat.merge_any', stat.ksm_merge_any ?? 'missing');
  check(sys, 'stat.mergeable', stat.ksm_mergeable ?? 'missing');
  // A new area after the prctl: mergeable without madvise.
  const addr = sys.mmap(len);
  sys.memset(addr, 0x99, len);
  await waitUntil(sys, () => mergingPages(sys) >= 2 * PAGES, `${2 * PAGES} pages merged under merge-any`);
  await waitFullScans(sys, 3);
  const merged = mergingPages(sys);
  check(sys, 'areas_merged', merged >= 2 * PAGES);
  note(sys, 'merging_pages', merged);
  check(sys, 'set.0', sys.prctl(PR_SET_MEMORY_MERGE, 0));
  check(sys, 'get.after_clear', sys.prctl(PR_GET_MEMORY_MERGE));
  const cleared = ksmStat(sys);
  check(sys, 'stat.cleared.merge_any', cleared.ksm_merge_any ?? 'missing');
  check(sys, 'stat.cleared.mergeable', cleared.ksm_mergeable ?? 'missing');
  checkContents(sys, 'contents', addr, len);
  checkContents(sys, 'contents_before', before, len);
  sys.memset(addr, 0x9a, 1);
  checkContents(sys, 'contents_after_write', addr, len);
  note(sys, 'merging_pages_right_after_clear', mergingPages(sys));
}
