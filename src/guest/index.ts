// index.ts — what guest programs import: the GuestSys type, ErrnoError and the Linux constants.
export type { GuestSys, GuestMain } from './guest-sys.ts';
export { ErrnoError, ERRNO, isErrnoError, type ErrnoCode } from '../mem/errno.ts';
export {
  PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_POPULATE,
  MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_MERGEABLE, MADV_UNMERGEABLE,
  MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLLAPSE, MADV_COLD, MADV_PAGEOUT, PR_SET_MEMORY_MERGE, PR_GET_MEMORY_MERGE,
} from '../mem/constants.ts';
export { KSM_DIR, PROC_KSM_STAT, PROC_KSM_MERGING_PAGES, THP_DEFRAG_PATH, THP_ENABLED_PATH } from '../ksm/sysfs.ts';
export { PROC_MEMINFO, PROC_SMAPS_ROLLUP, PROC_VMSTAT } from '../mem/procfs.ts';
