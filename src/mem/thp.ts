// thp.ts — owns what a transparent huge page is in the page table: the 2 MiB block geometry, the
// THP modes (transparent_hugepage/enabled and defrag), the fault-time eligibility rule, and the two
// ways a huge mapping ends: the PMD split a guest does to itself (clearHugeBlock) and the folio split
// a merge engine does before merging any subpage (splitHugeBlock, as ksmd's try_to_merge_one_page).
//
// A huge page is 512 contiguous frames of one node (a folio allocated by FrameAllocator.allocHuge),
// mapped by the 512 PTEs of one 2 MiB-aligned block, each with PTE_HUGE and frame = base + index.
// The block is huge while its head PTE (the first) has PTE_HUGE: the head is set last when a block
// is installed (fault, collapse) and cleared first when it is split, so a tail with HUGE and a head
// without is a block in transition, which no engine touches. The guest's access fast path ignores
// HUGE (a subpage is an ordinary present, writable PTE), so huge pages cost the hot paths nothing.

import { HPAGE_PAGES, PROT_MASK, PROT_NONE, ZERO_FRAME } from './constants.ts';
import { CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, CTL_THP_SLOT, THP_SLOT_NONE, THP_SLOT_RETIRED, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_SHARED } from './guest-control.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import type { Vmstat } from './vmstat.ts';
import { PTE_HUGE, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_ZERO, isPrivateFrame, makePte, pteFrame } from './pte.ts';

// HPAGE_PAGES lives in constants.ts (physical-memory.ts needs it, and this module needs PhysicalMemory).
export { HPAGE_PAGES } from './constants.ts';
export const HPAGE_MASK = HPAGE_PAGES - 1;

/** transparent_hugepage/enabled values, in the order the file lists them. */
export const THP_MODES = ['always', 'madvise', 'never'] as const;
export type ThpMode = (typeof THP_MODES)[number];
export const THP_ALWAYS = 0;
export const THP_MADVISE = 1;
export const THP_NEVER = 2;
/** transparent_hugepage/defrag values, in the order the file lists them (default madvise). */
export const THP_DEFRAG_MODES = ['always', 'defer', 'defer+madvise', 'madvise', 'never'] as const;

/** The head page of the 2 MiB block holding `vpage`. */
export function hugeHead(vpage: number): number {
  return vpage - (vpage & HPAGE_MASK);
}

/**
 * Does a fault in this area get a huge page (the kernel's thp_vma_allowable_order at fault time)?
 * `always`, or `madvise` with MADV_HUGEPAGE; never with MADV_NOHUGEPAGE or in shared memory (shmem
 * has its own setting); and only if the page's whole 2 MiB block lies inside the area.
 */
export function hugeFaultAllowed(mode: number, flags: number, start: number, end: number, vpage: number): boolean {
  if (flags & (VM_SHARED | VM_NOHUGEPAGE) || (flags & PROT_MASK) === PROT_NONE) return false;
  if (mode !== THP_ALWAYS && !(mode === THP_MADVISE && (flags & VM_HUGEPAGE))) return false;
  const head = hugeHead(vpage);
  return head >= start && head + HPAGE_PAGES <= end;
}

/**
 * nr_anon_transparent_hugepages ± 1 for a head of the guest whose control words are `ctl` (a head PTE
 * that became huge, or stopped being): into the guest's own huge-page slot (vmstat.ts says why not
 * one host-wide word, and how a slot's generation drops a late add). Every thread that changes a head
 * counts here: the guest, ksmd and khugepaged, the host releasing a dead guest's pages. The first
 * count claims the slot and publishes it in CTL_THP_SLOT (publishHugeSlot). Races, argued:
 *  - Two claimers for one guest (the guest and ksmd both see THP_SLOT_NONE): each claims a slot of
 *    its own; the compare-and-exchange on CTL_THP_SLOT publishes one, and the loser frees its slot
 *    at once (nobody else saw it), then counts into the winner's. No slot stays in use unowned.
 *  - A count after the guest's teardown: a slot published then is retired, so the add is dropped by
 *    its generation; no slot published then means THP_SLOT_RETIRED (retireHugeCount), so nothing is
 *    claimed for a guest that has gone (a claim racing the teardown loses the exchange and frees).
 *  - A thread killed between its claim and the publish: that slot stays in use with count 0 for
 *    good (a residual leak; the host cannot tell it from a claim in progress, having no record of
 *    whose it is). Bounded: it takes a kill (of a guest thread, or of ksmd) inside a window of two
 *    Atomics operations, passed only by a thread making a guest's first count (the guest's own, or
 *    ksmd's racing it): at most two per guest's lifetime, each needing a kill to land right there. It
 *    adds 0 to the sum; the limit of guests mapping huge pages at once drops by one per leak.
 */
export function countHuge(ctl: Int32Array, mem: PhysicalMemory, delta: number): void {
  let slot = Atomics.load(ctl, CTL_THP_SLOT);
  if (slot === THP_SLOT_NONE) slot = publishHugeSlot(ctl, mem.vmstat, mem.vmstat.claimHugeSlot());
  if (slot >= 0) mem.vmstat.addHuge(slot, delta);
}

/**
 * Publish a claimed slot (`mine`, vmstat.claimHugeSlot) as the guest's, unless another thread's claim
 * got there first or the guest was torn down: then free `mine` (never seen by anyone) and return what
 * CTL_THP_SLOT holds (the winner's slot, or THP_SLOT_RETIRED).
 */
export function publishHugeSlot(ctl: Int32Array, vmstat: Vmstat, mine: number): number {
  const seen = Atomics.compareExchange(ctl, CTL_THP_SLOT, THP_SLOT_NONE, mine);
  if (seen === THP_SLOT_NONE) return mine;
  vmstat.releaseHugeSlot(mine);
  return seen;
}

/**
 * The guest's page table is gone (its pages all released, by itself at exit or by the host after a
 * kill): its huge-page slot stops adding to the host's count, whatever it holds, and is free for
 * another guest (vmstat.retireHuge). It holds more than 0 after a kill between a head's change and
 * its count (the dead thread's, never to come) or while ksmd finishes a split of one of its blocks
 * (its −1 is dropped by the slot's generation: the head it cleared was then not released as huge, so
 * the release did not count it either). Nothing is subtracted, so nothing can be subtracted twice.
 * CTL_THP_SLOT keeps the retired slot and generation, so a late count is dropped, never lands on the
 * slot's next guest; a guest with no slot yet gets THP_SLOT_RETIRED, so a late count claims none.
 * Retiring twice (an exit and then the host's reclaim) does nothing the second time.
 */
export function retireHugeCount(ctl: Int32Array, mem: PhysicalMemory): void {
  for (;;) {
    const slot = Atomics.load(ctl, CTL_THP_SLOT);
    if (slot >= 0) {
      mem.vmstat.retireHuge(slot);
      return;
    }
    if (slot === THP_SLOT_RETIRED || Atomics.compareExchange(ctl, CTL_THP_SLOT, THP_SLOT_NONE, THP_SLOT_RETIRED) === THP_SLOT_NONE) return;
    // A claimer published a slot meanwhile: retire that.
  }
}

/** Is `vpage` inside a block that is PMD-mapped right now (its own PTE or its head has HUGE)? */
export function inHugeBlock(pt: Int32Array, vpage: number): boolean {
  return ((Atomics.load(pt, vpage) | Atomics.load(pt, hugeHead(vpage))) & PTE_HUGE) !== 0;
}

/**
 * Clear PTE_HUGE on every PTE of the block at `head`, head first (split_huge_pmd: the subpages keep
 * their frames and protection, only the block stops being huge). Each clear is a compare-and-exchange
 * retried on the value seen: ksmd may write-protect nothing here (it refuses HUGE PTEs), but it may be
 * splitting the same block, clearing the same bits: both end with them clear. Returns whether this
 * call cleared the head's bit (and then counts thp_split_pmd, and one huge page less mapped).
 *
 * Two races, found by the deterministic simulation (docs/stress.md, THP), argued here:
 *  - Once the head was seen with HUGE, only tails mapping that head's folio are cleared: a tail of
 *    another folio is a guest's MADV_COLLAPSE taking the block over (ksmd split the old huge page
 *    before the guest's record of its folio was visible), and its HUGE bits must stay for its head.
 *  - Tails cleared while the head had no HUGE (a block khugepaged is installing): khugepaged may set
 *    the head after our load of it and then, looking at the tails (its settle), still see ours with
 *    HUGE. So we load the head again after the pass; HUGE now: clear the block again. Either our second
 *    load sees its head, or its settle sees our cleared tail and splits it itself.
 */
export function clearHugeBlock(pt: Int32Array, ctl: Int32Array, head: number, mem: PhysicalMemory): boolean {
  let splitHere = false;
  let folio = -1;
  for (;;) {
    let cleared = false;
    for (let p = head; p < head + HPAGE_PAGES; p++) {
      for (;;) {
        const pte = Atomics.load(pt, p);
        if (!(pte & PTE_HUGE)) break;
        if (p === head) folio = pteFrame(pte);
        else if (folio >= 0 && pteFrame(pte) !== folio + (p - head)) break;
        if (Atomics.compareExchange(pt, p, pte, pte & ~PTE_HUGE) === pte) {
          if (p === head) splitHere = true;
          cleared = true;
          break;
        }
      }
    }
    if (!cleared || splitHere || !(Atomics.load(pt, head) & PTE_HUGE)) break;
  }
  if (splitHere) {
    countHuge(ctl, mem, -1);
    mem.vmstat.add('thp_split_pmd');
  }
  return splitHere;
}

/** What a merge engine lends the folio split: its own write-protect and release of a replaced frame. */
export interface SplitPrimitives {
  /** write_protect_page on a non-huge private PTE: the write-protected value (WP_KSMD), or 0. */
  writeProtect(vpage: number, pte: number): number;
  /** The PTE at `vpage` no longer maps `frame` (a private frame): free it once the guest is off the page. */
  releaseReplaced(vpage: number, frame: number): void;
}

export const SPLIT_DONE = 1; // this call split the block (and counted thp_split_page)
export const SPLIT_NOT_HUGE = 0; // the block is not huge (any more): nothing to split
export const SPLIT_BUSY = -1; // the block is being installed or split: try later

/**
 * split_huge_page by a merge engine (ksmd, UKSM) before it merges any subpage of the block holding
 * `vpage`, then remap_page with RMP_USE_SHARED_ZEROPAGE: every all-zero subpage is mapped to the
 * zero page (a plain PTE_ZERO, as a read fault maps it: no KSM counter moves, no rmap item) and its
 * frame freed. Measured on Linux 6.18 (notes "THP and KSM").
 *
 * Races, argued here:
 *  - A block in transition (a tail with HUGE, the head without) is a fault or a collapse installing
 *    it, or a guest splitting it: SPLIT_BUSY, retried on a later visit (a failed split is retried by
 *    ksmd too).
 *  - A block still being mapped: a fault or MADV_COLLAPSE records the folio (CTL_INFLIGHT_HUGE, and
 *    the block's head in CTL_INFLIGHT_HUGE_HEAD) before any PTE names it and clears the record only
 *    after setting the head; the host frees the folio's unmapped frames if the guest dies in between
 *    (reclaimInflightFolio). If we split and freed a zero subpage inside that window, that free and
 *    the host's would be a double free. So we first see the head with HUGE, then load the record:
 *    the guest stored it before setting the head, so a record that is clear (or names another block:
 *    its head is stored first and the folio cleared last) means this block's install is over. While
 *    it is not, we give up (as split_huge_page fails on a folio it cannot lock). A dead guest's record
 *    stays until the host reclaims it: no split meanwhile. The guest merely reading or writing the
 *    block does not stop the split (the kernel splits under the page lock, not the guest's accesses):
 *    subpages keep their frames, and the zero remap below waits for a writer per page.
 *  - Clearing the bits: clearHugeBlock, by compare-and-exchange. Only the caller that cleared the
 *    head counts the split (thp_split_page here, thp_split_pmd and the gauge in clearHugeBlock).
 *  - The zero subpages: each goes through the engine's full merge protocol against the zero page —
 *    write-protect (which refuses a PTE still in a huge block), the wait for a writer, a full
 *    compare, and the install by compare-and-exchange on the write-protected value — and the frame
 *    is released as a merge releases it (deferred while the guest is on that page). A block installed
 *    anew meanwhile (released and refaulted) has its head HUGE again: write-protect refuses its pages.
 */
export function splitHugeBlock(pt: Int32Array, ctl: Int32Array, mem: PhysicalMemory, vpage: number, prims: SplitPrimitives): number {
  const head = hugeHead(vpage);
  if (!(Atomics.load(pt, head) & PTE_HUGE)) return Atomics.load(pt, vpage) & PTE_HUGE ? SPLIT_BUSY : SPLIT_NOT_HUGE;
  // The guest's record of a folio it is still mapping (see the races above): loaded after the head.
  if (Atomics.load(ctl, CTL_INFLIGHT_HUGE) >= 0 && Atomics.load(ctl, CTL_INFLIGHT_HUGE_HEAD) === head) return SPLIT_BUSY;
  const done = clearHugeBlock(pt, ctl, head, mem) ? SPLIT_DONE : SPLIT_NOT_HUGE;
  if (done === SPLIT_DONE) mem.vmstat.add('thp_split_page');
  for (let p = head; p < head + HPAGE_PAGES; p++) {
    const pte = Atomics.load(pt, p);
    // Unreferenced read of the frame: it only chooses; the compare after write-protect decides.
    if (!isPrivateFrame(pte) || (pte & PTE_HUGE) || mem.compareFrames(pteFrame(pte), ZERO_FRAME) !== 0) continue;
    const wp = prims.writeProtect(p, pte);
    if (!wp || mem.compareFrames(pteFrame(wp), ZERO_FRAME) !== 0) continue;
    const next = makePte(ZERO_FRAME, PTE_PRESENT | PTE_ZERO | (wp & (PTE_MERGEABLE | PTE_NOACCESS)));
    if (Atomics.compareExchange(pt, p, wp, next) !== wp) continue;
    prims.releaseReplaced(p, pteFrame(wp));
  }
  return done;
}
