// constants.ts — owns the page size, the Linux protection/mapping/advice numbers, and the frame bank geometry.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT; // 4096
/** Pages per transparent huge page (2 MiB / 4 KiB): HPAGE_PMD_NR (thp.ts owns the rest of THP). */
export const HPAGE_PAGES = 512;
export const PAGE_WORDS = PAGE_SIZE >> 2; // Int32 words per page

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const PROT_MASK = PROT_READ | PROT_WRITE | PROT_EXEC;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_COLLAPSE = 25;

export const PR_SET_MEMORY_MERGE = 67;
export const PR_GET_MEMORY_MERGE = 68;

/** Frames live in SharedArrayBuffer "banks" of 1 GiB so no single typed array gets near V8's limits. */
export const BANK_SHIFT = 18; // frames per bank = 2^18 = 1 GiB of 4 KiB frames
export const BANK_FRAMES = 1 << BANK_SHIFT;
export const BANK_MASK = BANK_FRAMES - 1;

/** The shared zero page: frame 0 is reserved, never allocated and never written. */
export const ZERO_FRAME = 0;

/** Lowest address mmap hands out (Linux's default vm.mmap_min_addr is 64 KiB). */
export const MMAP_MIN_ADDR = 0x10000;
