// guest-control.ts — owns the layout of one guest's shared control words and its shared VMA table,
// the state that ksmd and the host read while the guest runs.

/** Word indexes into a guest's control Int32Array. The hazard word sits alone on its cache line. */
export const CTL_HAZARD = 0; // the access the guest is inside right now (hazardRead/hazardWrite), or -1
export const CTL_STATE = 16; // GUEST_RUNNING / GUEST_EXITED
export const CTL_MERGE_ANY = 17; // PR_SET_MEMORY_MERGE flag (MMF_VM_MERGE_ANY)
export const CTL_KSM_ENTERED = 18; // the mm is registered with ksm (first MADV_MERGEABLE or prctl)
export const CTL_KSM_ZERO_PAGES = 19; // KSM-placed zero pages still mapped (changes at once, as in the kernel)
export const CTL_RMAP_ITEMS = 20; // written by ksmd
export const CTL_MERGING_PAGES = 21; // written by ksmd
export const CTL_VMA_SEQ = 22; // seqlock over the VMA table: odd while the guest rewrites it
export const CTL_VMA_COUNT = 23;
export const CTL_MERGEABLE_VMAS = 24; // VMAs with VM_MERGEABLE (ksm_mergeable: yes|no)
// A 2 MiB folio being mapped (a huge fault or MADV_COLLAPSE, space-thp.ts): the head page of its
// block, and its first frame or -1. The host frees the folio's frames its PTEs do not map.
export const CTL_INFLIGHT_HUGE_HEAD = 25;
export const CTL_INFLIGHT_HUGE = 30;
// What a guest is in the middle of, so the host can finish it if the thread is killed there:
export const CTL_INFLIGHT_VPAGE = 26; // the page being faulted or released
export const CTL_INFLIGHT_FRAME = 27; // a frame allocated for it and not yet in its PTE, or -1
export const CTL_INFLIGHT_OLD = 28; // the PTE value being swung away (its reference not yet dropped), or 0
export const CTL_INFLIGHT_NEXT = 29; // the PTE value it is being swung to
// One past the highest virtual page any VMA ever covered (only grows). Stored before the VMA is
// inserted, so every PTE that can exist lies below it: a dead guest's sweep stops there instead of
// walking the whole address space (that walk was most of what a short-lived guest cost the host).
export const CTL_VA_HIGH = 31;
// The guest's merge domain (--ksm-domains; src/ksm/merge-policy.ts): set by the host at launch, read by the engines.
export const CTL_KSM_DOMAIN = 32;
// The guest's huge-page slot in the host's vmstat (its share of nr_anon_transparent_hugepages,
// vmstat.ts) and the slot's generation it claimed, packed (vmstat.ts hugeSlotAndGen: >= 0); or
// THP_SLOT_NONE until the first huge page is counted (thp.ts countHuge claims it), or
// THP_SLOT_RETIRED if the guest was torn down before any count claimed one.
export const CTL_THP_SLOT = 33;
export const THP_SLOT_NONE = -1;
export const THP_SLOT_RETIRED = -2;
export const CTL_WORDS = 34;

export const GUEST_RUNNING = 0;
export const GUEST_EXITED = 1;

export const HAZARD_NONE = -1;

// The hazard word names the page and the kind of access: 2·vpage for a read, 2·vpage + 1 for a
// write (or a fault that may write). ksmd's write-protect waits only for a write (a reader
// cannot change what ksmd compares, and the frame it reads is not freed while it is there:
// every deferred free still waits for any access to the page); issue 11, finding 7.
/** The hazard value of a read access to `vpage` (readInto, read faults, MADV_UNMERGEABLE's copy). */
export function hazardRead(vpage: number): number {
  return vpage * 2;
}
/** The hazard value of a write access to `vpage` (write, memset, write faults). */
export function hazardWrite(vpage: number): number {
  return vpage * 2 + 1;
}
/** The page of a hazard value (HAZARD_NONE → -1, which no page is). */
export function hazardPage(hazard: number): number {
  return hazard >> 1;
}

/** A VMA in the shared table: four Int32 words. */
export const VMA_WORDS = 4;
export const VMA_START = 0; // first virtual page
export const VMA_PAGES = 1;
export const VMA_FLAGS = 2;
export const VMA_NODE = 3; // bound NUMA node, or -1 for the guest's home node (falls back elsewhere)

/** Like vm.max_map_count, but sized for an emulator: more VMAs than this is ENOMEM. */
export const MAX_VMAS = 8192;

export const VM_READ = 1;
export const VM_WRITE = 2;
export const VM_EXEC = 4;
export const VM_SHARED = 8;
export const VM_MERGEABLE = 16;
export const VM_HUGEPAGE = 32;
export const VM_NOHUGEPAGE = 64;

export interface GuestSpaceHandles {
  readonly pid: number;
  readonly homeNode: number;
  readonly vaPages: number;
  readonly pageTable: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly vmaTable: SharedArrayBuffer;
}

export function createGuestSpaceHandles(pid: number, homeNode: number, vaPages: number): GuestSpaceHandles {
  const control = new SharedArrayBuffer(CTL_WORDS * 4);
  const ctl = new Int32Array(control);
  ctl[CTL_HAZARD] = HAZARD_NONE;
  ctl[CTL_INFLIGHT_FRAME] = -1;
  ctl[CTL_INFLIGHT_HUGE] = -1;
  ctl[CTL_THP_SLOT] = THP_SLOT_NONE;
  return {
    pid,
    homeNode,
    vaPages,
    pageTable: new SharedArrayBuffer(vaPages * 4),
    control,
    vmaTable: new SharedArrayBuffer(MAX_VMAS * VMA_WORDS * 4),
  };
}

export interface VmaSnapshot {
  start: number;
  pages: number;
  flags: number;
  node: number;
}

/**
 * Read a consistent copy of a guest's VMA table from another thread (seqlock reader).
 * Returns the entries whose flags contain every bit of `mustHave`.
 */
export function readVmaTable(ctl: Int32Array, table: Int32Array, mustHave: number, out: VmaSnapshot[]): VmaSnapshot[] {
  while (!tryReadVmaTable(ctl, table, mustHave, out));
  return out;
}

/**
 * readVmaTable without waiting: false (and `out` unspecified) while the guest is rewriting its table.
 * For readers on the host's thread, which must never spin on a seqlock a terminated guest left odd
 * (the host repairs it on that same thread: Host.supervise → recoverVmaTable).
 */
export function tryReadVmaTable(ctl: Int32Array, table: Int32Array, mustHave: number, out: VmaSnapshot[]): boolean {
  const s1 = Atomics.load(ctl, CTL_VMA_SEQ);
  if (s1 & 1) return false;
  out.length = 0;
  const count = Math.min(Math.max(Atomics.load(ctl, CTL_VMA_COUNT), 0), MAX_VMAS);
  for (let i = 0; i < count; i++) {
    const b = i * VMA_WORDS;
    const flags = Atomics.load(table, b + VMA_FLAGS);
    if ((flags & mustHave) !== mustHave) continue;
    out.push({ start: Atomics.load(table, b + VMA_START), pages: Atomics.load(table, b + VMA_PAGES), flags, node: Atomics.load(table, b + VMA_NODE) });
  }
  return Atomics.load(ctl, CTL_VMA_SEQ) === s1;
}

/**
 * Make a dead guest's VMA table readable again. A guest thread terminated inside VmaList.publish()
 * leaves the seqlock odd, and every reader (ksmd, the host's exit summary) would spin on it forever;
 * its entries may be half rewritten. Only for a writer that can no longer run: close the write, and
 * keep just the entries that still lie inside the address space. Returns whether it had to.
 */
export function recoverVmaTable(ctl: Int32Array, table: Int32Array, vaPages: number): boolean {
  const seq = Atomics.load(ctl, CTL_VMA_SEQ);
  if (!(seq & 1)) return false;
  const count = Math.min(Math.max(Atomics.load(ctl, CTL_VMA_COUNT), 0), MAX_VMAS);
  let kept = 0;
  let mergeable = 0;
  for (let i = 0; i < count; i++) {
    const b = i * VMA_WORDS;
    const start = Atomics.load(table, b + VMA_START);
    const pages = Atomics.load(table, b + VMA_PAGES);
    if (start < 0 || pages <= 0 || start + pages > vaPages) continue;
    const k = kept++ * VMA_WORDS;
    const flags = Atomics.load(table, b + VMA_FLAGS);
    Atomics.store(table, k + VMA_START, start);
    Atomics.store(table, k + VMA_PAGES, pages);
    Atomics.store(table, k + VMA_FLAGS, flags);
    Atomics.store(table, k + VMA_NODE, Atomics.load(table, b + VMA_NODE));
    if (flags & VM_MERGEABLE) mergeable++;
  }
  Atomics.store(ctl, CTL_VMA_COUNT, kept);
  Atomics.store(ctl, CTL_MERGEABLE_VMAS, mergeable);
  Atomics.store(ctl, CTL_VMA_SEQ, seq + 1);
  return true;
}
