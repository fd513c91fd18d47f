// space-swap.ts — owns taking frames for a guest's pages under memory pressure: allocFor (with the
// in-flight record of the new frame), swap-out of the guest's own private pages (swapOutOne), and
// swap-in (swapIn). The race arguments for each sit beside it.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from './constants.ts';
import { OutOfMemoryKill } from './errno.ts';
import { CTL_INFLIGHT_FRAME, CTL_INFLIGHT_NEXT, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, VM_SHARED, VM_WRITE } from './guest-control.ts';
import { PTE_HUGE, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WRITABLE, isPrivateFrame, makePte, pteFrame } from './pte.ts';
import { mergeBit } from './space-core.ts';
import { SpaceInflight } from './space-inflight.ts';
import { clearHugeBlock, hugeHead } from './thp.ts';
import type { Vma } from './vma-list.ts';

/** Pages a fault may swap out looking for a free frame (more only when frames go to other nodes). */
const SWAP_OUT_TRIES = 64;

export class SpaceSwap extends SpaceInflight {
  /** Clock hand of the swap-out scan. */
  protected swapHand = 0;

  /** A zeroed (or, for a copy, uninitialised) frame for a page of `vma`, honouring its NUMA policy. */
  protected allocFor(vma: Vma, zeroed: boolean, what: string, vpage: number): number {
    const mem = this.mem;
    let f = this.tryAlloc(vma);
    // Memory pressure: with swap, page out this guest's own private pages until a frame is free.
    for (let tries = 0; f < 0 && tries < SWAP_OUT_TRIES && this.swapOutOne(vpage); tries++) f = this.tryAlloc(vma);
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
   * Page out one of this guest's own private pages (a clock hand over its private areas), skipping
   * `except`, the page being faulted. KSM pages, zero pages and shared memory stay in memory.
   * Returns false when swap is full or no page qualifies.
   *
   * Unmap first, copy second (try_to_unmap before pageout, as the kernel orders them). The guest's
   * hazard word holds `except`, not `p`, so nothing stops ksmd from merging `p` and freeing its
   * frame at once while we look at it: a copy taken *before* the compare-and-exchange could hold
   * another guest's bytes (ksmd merges p and frees f; another guest allocates f and writes it; a
   * run=2 unmerge gives p a private frame again, which can be f with exactly the PTE value we
   * loaded, so the compare-and-exchange succeeds: issue 11, finding 1). Once our compare-and-exchange
   * has taken f out of the PTE, f is ours alone (whoever takes a frame out of a PTE owns it): no
   * PTE maps it, ksmd's write-protect and merge CASes on the old value fail, and ksmd at most
   * still reads it (see KsmEngine.cmpAndMerge on unreferenced reads). So the copy is p's content.
   * The slot stays ours too: only releaseRange, on this thread or the host's after our death,
   * takes a swap entry out of a PTE.
   * Residual leak windows: a slot allocated and not yet in a PTE (a kill leaks one swap slot:
   * window 6 in space-inflight.ts's list).
   * A kill after the compare-and-exchange leaves a slot with unwritten bytes, but the swing is
   * recorded (INFLIGHT_OLD/NEXT), so the host frees the frame and then the slot; no one reads it.
   */
  protected swapOutOne(except: number): boolean {
    const swap = this.mem.swap;
    if (!swap) return false;
    const ranges = this.vmas.all.filter((m) => !(m.flags & VM_SHARED));
    const pt = this.pt;
    const ctl = this.ctl;
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
            if (p === except || !isPrivateFrame(pte)) break;
            if (pte & PTE_HUGE) {
              // One subpage of a huge page goes out alone: split the block first (split_huge_pmd).
              clearHugeBlock(pt, hugeHead(p), this.mem);
              continue;
            }
            if (slot < 0) slot = swap.alloc();
            if (slot < 0) return false;
            const next = makePte(slot, PTE_SWAPPED | (pte & (PTE_MERGEABLE | PTE_NOACCESS)));
            // Recorded like any swing: a guest killed after the swap still gets its frame freed.
            Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
            Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
            Atomics.store(ctl, CTL_INFLIGHT_OLD, pte);
            if (Atomics.compareExchange(pt, p, pte, next) !== pte) {
              Atomics.store(ctl, CTL_INFLIGHT_OLD, 0); // ksmd changed it meanwhile: look again
              continue;
            }
            const f = pteFrame(pte);
            swap.writeSlot(slot, this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
            this.dropReference(pte);
            this.swapHand = p + 1;
            return true;
          }
        }
      }
    }
    if (slot >= 0) swap.putSlot(slot);
    return false;
  }

  /** Swap a page back in (the caller holds the hazard word on it). Returns what the swing saw. */
  protected swapIn(vma: Vma, vpage: number, pte: number): number {
    const swap = this.mem.swap;
    if (!swap) throw new Error(`guest ${this.pid}: swapped page without swap`);
    const f = this.allocFor(vma, false, 'swap-in', vpage);
    swap.readSlot(pteFrame(pte), this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
    const next = makePte(f, PTE_PRESENT | (vma.flags & VM_WRITE ? PTE_WRITABLE : 0) | mergeBit(vma));
    return this.swingWithNewFrame(vpage, pte, next, f);
  }
}
