// space-swap.ts — owns taking frames for a guest's pages under memory pressure: allocFor (with the
// in-flight record of the new frame), page-out of the guest's own pages (swapOutOne, and
// madvise(MADV_PAGEOUT) through pageOutRange), and swap-in (swapIn), from the swap cache or from the
// slot. The race arguments for each sit beside it; the KSM paths are in docs/protocol-races.md
// ("KSM pages in swap").
//
// What may be paged out from a guest's own thread: a private page, and a KSM page this PTE alone
// maps (mapcount 1, not already in the swap cache): the kernel's rule for MADV_PAGEOUT, which skips
// a KSM page mapped more than once (its other mappers' PTEs are out of this guest's reach; ksmd,
// which holds the reverse map, swaps those: KsmEngine.reclaim). A paged-out KSM page stays
// in the swap cache (the cache takes the PTE's reference), so it comes back as the same KSM page
// with no I/O until memory pressure drops it from the cache (PhysicalMemory.shrinkSwapCache).

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from './constants.ts';
import { OutOfMemoryKill } from './errno.ts';
import { CTL_INFLIGHT_FRAME, CTL_INFLIGHT_NEXT, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, VM_MERGEABLE, VM_SHARED, VM_WRITE } from './guest-control.ts';
import { PTE_HUGE, PTE_KSM, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte, pteFrame } from './pte.ts';
import { mergeBit } from './space-core.ts';
import { SpaceInflight } from './space-inflight.ts';
import { SLOT_KSM, SLOT_KSM_TAKEN } from './swap-area.ts';
import { clearHugeBlock, hugeHead } from './thp.ts';
import { VM } from './vmstat.ts';
import type { Vma } from './vma-list.ts';

/** Pages a fault may swap out looking for a free frame (more only when frames go to other nodes). */
const SWAP_OUT_TRIES = 64;
/**
 * With nothing of its own to page out, a fault waits for ksmd's reclaim: RECLAIM_WAITS waits of
 * RECLAIM_WAIT_MS in a row that see no page go to swap end in the OOM kill (a busy machine slows
 * ksmd, not the verdict); RECLAIM_MAX_WAITS bounds the whole wait.
 */
const RECLAIM_WAITS = 250;
const RECLAIM_WAIT_MS = 2;
const RECLAIM_MAX_WAITS = 2500;
/** A word nobody notifies: Atomics.wait on it is a sleep. */
const SLEEP_WORD = new Int32Array(new SharedArrayBuffer(4));

export class SpaceSwap extends SpaceInflight {
  /** Clock hand of the swap-out scan (MADV_COLD moves it to the advised range: those pages go first). */
  protected swapHand = 0;

  /** A zeroed (or, for a copy, uninitialised) frame for a page of `vma`, honouring its NUMA policy. */
  protected allocFor(vma: Vma, zeroed: boolean, what: string, vpage: number): number {
    const mem = this.mem;
    let f = this.tryAlloc(vma);
    // Memory pressure: first drop unmapped pages from the swap cache (already on swap: no I/O), then
    // page out this guest's own pages until a frame is free.
    for (let tries = 0; f < 0 && tries < SWAP_OUT_TRIES && (mem.shrinkSwapCache(1) > 0 || this.swapOutOne(vpage)); tries++) f = this.tryAlloc(vma);
    // Nothing of its own left to page out: other guests' pages are ksmd's to reclaim (direct reclaim
    // of another thread's pages would race with that thread: see KsmEngine.swapOutPrivatePages).
    let idle = 0;
    for (let waits = 0; f < 0 && mem.swap && idle < RECLAIM_WAITS && waits < RECLAIM_MAX_WAITS && this.hooks.memoryPressure?.(); waits++) {
      const out = mem.vmstat.get('pswpout');
      Atomics.wait(SLEEP_WORD, 0, 0, RECLAIM_WAIT_MS);
      idle = mem.vmstat.get('pswpout') === out ? idle + 1 : 0;
      f = this.tryAlloc(vma);
    }
    if (f < 0) {
      const where = vma.node >= 0 ? ` (bound to node ${vma.node})` : '';
      throw new OutOfMemoryKill(vma.node >= 0 ? vma.node : this.homeNode, `${what} of guest ${this.pid}${where}${mem.swap ? ', swap full or nothing left to swap' : ''}`);
    }
    // Record it at once: if the guest dies before the frame reaches its PTE, the host frees it (see
    // reclaimInflight). A thread killed between the allocator and this store still leaks the frame
    // (window 1 in space-inflight.ts's list).
    Atomics.store(this.ctl, CTL_INFLIGHT_VPAGE, vpage);
    Atomics.store(this.ctl, CTL_INFLIGHT_FRAME, f);
    if (zeroed) mem.zeroFrame(f);
    return f;
  }

  protected tryAlloc(vma: Vma): number {
    const mem = this.mem;
    if (vma.node >= 0) return mem.allocUninitialized(vma.node, this.allocHints);
    // Default (local) policy: the home node first, then the others in order.
    const nodes = mem.nodes.length;
    let f = -1;
    for (let i = 0; i < nodes && f < 0; i++) f = mem.allocUninitialized((this.homeNode + i) % nodes, this.allocHints);
    return f;
  }

  /**
   * May this guest page out the page `pte` maps? A private page, or a KSM page that this PTE alone
   * maps and that is not in the swap cache already. Not the zero page, not a KSM page mapped more
   * than once (MADV_PAGEOUT's rule, measured). The mapcount read is a hint: ksmd may merge another
   * page into the frame right after it, which only means the frame stays mapped by that other page
   * and in the swap cache, where our swap-in finds it again.
   */
  protected canPageOut(pte: number): boolean {
    if (isPrivateFrame(pte)) return true;
    if ((pte & (PTE_PRESENT | PTE_KSM | PTE_ZERO | PTE_SWAPPED)) !== (PTE_PRESENT | PTE_KSM)) return false;
    const f = pteFrame(pte);
    return this.mem.mapcount(f) === 1 && !this.mem.inSwapCache(f);
  }

  /**
   * Page out one of this guest's own pages that canPageOut allows (a clock hand over its private
   * areas), skipping `except`, the page being faulted. Zero pages and shared memory stay in memory.
   * Returns false when swap is full or no page qualifies.
   */
  protected swapOutOne(except: number): boolean {
    const swap = this.mem.swap;
    if (!swap) return false;
    const ranges = this.vmas.all.filter((m) => !(m.flags & VM_SHARED));
    const pt = this.pt;
    const hand = this.swapHand;
    let slot = -1;
    // Two sweeps: from the hand to the end of the address space, then from the start to the hand.
    for (let sweep = 0; sweep < 2; sweep++) {
      for (const m of ranges) {
        const from = sweep === 0 ? Math.max(m.start, hand) : m.start;
        const to = sweep === 0 ? m.end : Math.min(m.end, hand);
        for (let p = from; p < to; p++) {
          for (;;) {
            const pte = Atomics.load(pt, p);
            if (p === except || !this.canPageOut(pte)) break;
            if (pte & PTE_HUGE) {
              // One subpage of a huge page goes out alone: split the block first (split_huge_pmd).
              clearHugeBlock(pt, this.ctl, hugeHead(p), this.mem);
              continue;
            }
            if (slot < 0) slot = swap.alloc();
            if (slot < 0) return false;
            if (!this.pageOutPte(p, pte, slot)) continue; // ksmd changed it meanwhile: look again
            this.swapHand = p + 1;
            return true;
          }
        }
      }
    }
    if (slot >= 0) this.mem.putSwapSlot(slot);
    return false;
  }

  /**
   * madvise(MADV_PAGEOUT) over [start, end) of a private area: every page canPageOut allows goes to
   * swap; the rest (KSM pages mapped more than once, zero pages, untouched or swapped pages) are
   * skipped, and so is everything once swap is full or when there is none. Returns pages paged out.
   */
  protected pageOutRange(start: number, end: number): number {
    const swap = this.mem.swap;
    if (!swap) return 0;
    const pt = this.pt;
    let done = 0;
    for (let p = start; p < end; p++) {
      for (;;) {
        const pte = Atomics.load(pt, p);
        if (!this.canPageOut(pte)) break;
        if (pte & PTE_HUGE) {
          // A huge page is paged out as 512 small ones: split the block first (as swap does without THP swap).
          clearHugeBlock(pt, this.ctl, hugeHead(p), this.mem);
          continue;
        }
        const slot = swap.alloc();
        if (slot < 0) return done;
        if (this.pageOutPte(p, pte, slot)) {
          done++;
          break;
        }
        this.mem.putSwapSlot(slot);
      }
    }
    return done;
  }

  /**
   * Swap page `p` (whose PTE was `pte`, a page canPageOut allowed) out to `slot`, which the caller
   * allocated (its one hold becomes the PTE's). False if the PTE changed first (the slot stays the
   * caller's).
   *
   * Unmap first, copy second (try_to_unmap before pageout, as the kernel orders them). The guest's
   * hazard word does not hold `p` (it holds the faulting page, or nothing in madvise), so nothing
   * stops ksmd from merging `p` and freeing its frame at once while we look at it: a copy taken
   * *before* the compare-and-exchange could hold another guest's bytes (ksmd merges p and frees f;
   * another guest allocates f and writes it; a run=2 unmerge gives p a private frame again, which
   * can be f with exactly the PTE value we loaded, so the compare-and-exchange succeeds: issue 11,
   * finding 1). Once our compare-and-exchange has taken f out of the PTE, the PTE's reference on f
   * is ours: a private f is ours alone (no PTE maps it, ksmd's write-protect and merge CASes on the
   * old value fail, ksmd at most still reads it: see KsmEngine.cmpAndMerge on unreferenced reads);
   * a KSM f is read-only for everyone, so its bytes cannot change while we copy. So the copy is p's
   * content. The slot stays ours too: only this thread's swap-in and releaseRange (or the host's,
   * after our death) take a swap entry out of a PTE, and ksmd never changes one.
   * A private frame is freed at once (dropped from the swap cache: writeback here is synchronous);
   * a KSM frame goes to the swap cache with the PTE's reference (keepInSwapCache).
   * Residual leak windows: a slot allocated and not yet in a PTE (a kill leaks one swap slot:
   * window 6 in space-inflight.ts's list); for a KSM page, between claiming the swing and the swap
   * cache taking the reference (window 2: one reference on a KSM frame).
   * A kill after the compare-and-exchange leaves a slot with unwritten bytes, but the swing is
   * recorded (INFLIGHT_OLD/NEXT), so the host drops the frame's reference and then the slot; no one
   * reads it.
   */
  protected pageOutPte(p: number, pte: number, slot: number): boolean {
    const ctl = this.ctl;
    const next = makePte(slot, PTE_SWAPPED | (pte & (PTE_MERGEABLE | PTE_NOACCESS)));
    // Recorded like any swing: a guest killed after the swap still gets its reference dropped.
    Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
    Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
    Atomics.store(ctl, CTL_INFLIGHT_OLD, pte);
    if (Atomics.compareExchange(this.pt, p, pte, next) !== pte) {
      Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
      return false;
    }
    const f = pteFrame(pte);
    const swap = this.mem.swap!;
    swap.writeSlot(slot, this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
    if (!(pte & PTE_KSM)) {
      this.dropReference(pte);
      return true;
    }
    // Keep the KSM page in the swap cache, unless another swap cache holds it (ksmd's reclaim may be
    // swapping it out this moment): then it is on swap for us like any page, and our reference goes.
    if (!this.mem.claimSwapCache(f)) {
      this.dropReference(pte);
      return true;
    }
    // Claim the swing (as dropReference does), then hand the PTE's reference to the swap cache.
    Atomics.compareExchange(ctl, CTL_INFLIGHT_OLD, pte, 0);
    this.mem.addToSwapCache(slot, f);
    return true;
  }

  /**
   * Swap a page back in (the caller holds the hazard word on it). Returns what the swing saw.
   *
   * From the swap cache (a KSM page, still there: takeSwapCache) in a mergeable area: the PTE takes
   * our reference on that frame: the same KSM page, read-only, with no I/O. In an area that is no
   * longer mergeable the page comes back as a private copy of the cached frame (ksm_might_need_to_copy:
   * ksm_swpin_copy); the new frame is allocated before the reference is taken, so no allocation (and
   * no page-out) happens while we hold it.
   * From the slot ("disk"): a new private frame with the slot's bytes. For a KSM page that ksmd
   * swapped out of every mapping (SLOT_KSM), the first mapper to fault reads it (pswpin) and every
   * later one gets its own copy (ksm_swpin_copy; the kernel copies the swap-cache page): sharing is
   * broken, and ksmd merges them again later.
   * Residual leak window 7 (space-inflight.ts): killed while holding the swap-cache reference (after
   * takeSwapCache, until the swing is recorded, or after a failed swing or the copy, until the put):
   * one reference on a KSM frame.
   */
  protected swapIn(vma: Vma, vpage: number, pte: number): number {
    const mem = this.mem;
    const swap = mem.swap;
    if (!swap) throw new Error(`guest ${this.pid}: swapped page without swap`);
    const slot = pteFrame(pte);
    const mergeable = (vma.flags & VM_MERGEABLE) !== 0;
    if (mergeable) {
      const k = this.takeSwapCache(slot);
      if (k) {
        const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
        const ctl = this.ctl;
        Atomics.store(ctl, CTL_INFLIGHT_VPAGE, vpage);
        Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
        Atomics.store(ctl, CTL_INFLIGHT_OLD, pte);
        const seen = Atomics.compareExchange(this.pt, vpage, pte, next);
        if (seen === pte) this.dropReference(pte); // the slot's count for this PTE
        else {
          Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
          mem.putFrame(k);
        }
        return seen;
      }
    }
    const f = this.allocFor(vma, false, 'swap-in', vpage);
    const k = mergeable ? 0 : this.takeSwapCache(slot);
    if (k) {
      mem.copyFrame(k, f);
      mem.putFrame(k);
      mem.vmstat.addAt(VM.ksm_swpin_copy);
    } else {
      const copy = (swap.flags(slot) & SLOT_KSM) !== 0 && (swap.orFlags(slot, SLOT_KSM_TAKEN) & SLOT_KSM_TAKEN) !== 0;
      swap.readSlot(slot, this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT, !copy);
      if (copy) mem.vmstat.addAt(VM.ksm_swpin_copy);
    }
    return this.swingWithNewFrame(vpage, pte, this.privateSwapPte(vma, f), f);
  }

  /**
   * A reference on the frame in `slot`'s swap cache, or 0. Take a reference with tryGetFrame, then
   * check the cache word still names the frame. The word names only the frame swapped out to this
   * slot, and only until it is dropped (swap-area.ts: our PTE holds the slot, so the slot is not
   * freed and reused meanwhile), and the cache frees its frame only after its word let go of it; so
   * a reference taken while the word still names the frame is a reference on that KSM page, whose
   * bytes are the slot's. If the frame was dropped and reused before our tryGetFrame, the word no
   * longer names it and we put the stray reference back, as ksmd's keyhole check does.
   */
  private takeSwapCache(slot: number): number {
    const mem = this.mem;
    const k = mem.swap!.cached(slot);
    if (k === 0 || !mem.tryGetFrame(k)) return 0;
    if (mem.swap!.cached(slot) === k) return k;
    mem.putFrame(k);
    return 0;
  }

  private privateSwapPte(vma: Vma, f: number): number {
    return makePte(f, PTE_PRESENT | (vma.flags & VM_WRITE ? PTE_WRITABLE : 0) | mergeBit(vma));
  }
}
