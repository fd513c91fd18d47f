// space-inflight.ts — owns the in-flight record of a guest's multi-step PTE changes (CTL_INFLIGHT_*)
// and the recovery after its thread is killed: swingWithNewFrame, dropReference, releaseRange,
// reclaimInflight, reclaim and teardown.
//
// worker.terminate() can land between any two Atomics calls (docs/protocol.md#dead-threads), so every
// change that moves a reference is recorded in the control words before it is made, and the host
// finishes it (reclaimInflight). Residual leak windows — every one there is; each is a few Atomics
// operations wide and leaks one thing that no in-flight word records, never a double free or a lost
// write:
//  1. allocFor (space-swap.ts): after the allocator hands out a frame, before CTL_INFLIGHT_FRAME
//     records it: one frame.
//  2. dropReference: after claiming the swing (CTL_INFLIGHT_OLD → 0), before the mapcount decrement
//     or free(): one private frame, one reference on a KSM frame, one ksm_zero_pages count, or one
//     swap slot.
//  3. dropReference: between a KSM frame's final mapcount decrement reaching 0 and free(): one frame.
//  4. inside PhysicalMemory.free: one frame.
//  5. swingWithNewFrame, after a failed swing: between clearing the record (CTL_INFLIGHT_OLD, then
//     CTL_INFLIGHT_FRAME) and free() of the unused new frame: one frame.
//  6. swapOutOne, pageOutRange (space-swap.ts): a swap slot allocated and not yet in a PTE: one slot.
//  7. swapIn from the swap cache (space-swap.ts): holding the swap-cache reference (after
//     takeSwapCache, before the swing is recorded; after a failed swing or the copy, before the
//     put): one reference on a KSM frame.
//  8. PhysicalMemory.shrinkSwapCache: after taking a frame out of the swap cache, before its put:
//     one reference on a KSM frame (the frame itself, when nothing else maps it).
//  9. FrameAllocator.allocHuge, and allocHugeFor (space-thp.ts) before CTL_INFLIGHT_HUGE records
//     the folio: up to 512 frames (a 2 MiB folio claimed, or the words of it claimed so far).
// Not a leak: a kill after pageOutPte's compare-and-exchange leaves a slot with unwritten bytes, but
// the swing is recorded, so the host frees the frame and then the slot, and no one reads it. The
// deterministic simulation (src/stress/sim/model-invariants.ts) counts kills in exactly these windows
// as documented residual leaks and any other leak as a violation (docs/protocol-races.md).

import {
  CTL_HAZARD, CTL_INFLIGHT_FRAME, CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, CTL_INFLIGHT_NEXT, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, CTL_KSM_ZERO_PAGES, CTL_STATE, CTL_VA_HIGH,
  GUEST_EXITED, HAZARD_NONE, recoverVmaTable, type GuestSpaceHandles,
} from './guest-control.ts';
import { META_WORDS, type PhysicalMemory } from './physical-memory.ts';
import { PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, isPrivateFrame, pteFrame } from './pte.ts';
import { NO_HOOKS, SpaceCore, type SpaceHooks } from './space-core.ts';
import { HPAGE_MASK, HPAGE_PAGES, countHuge, retireHugeCount } from './thp.ts';
import { VmaList } from './vma-list.ts';

export class SpaceInflight extends SpaceCore {
  /** Tear down a guest whose thread has ended, from its shared state alone (run by the host). */
  static reclaim(handles: GuestSpaceHandles, memory: PhysicalMemory, hooks: SpaceHooks = NO_HOOKS): void {
    const ctl = new Int32Array(handles.control);
    const space = new SpaceInflight(handles, memory, hooks, ctl, new VmaList(ctl, new Int32Array(handles.vmaTable)));
    // The thread may have been terminated anywhere: inside publish() (seqlock odd, table torn) or
    // inside munmap (pages released in part). Close the table, then sweep the page table up to the
    // high-water mark (CTL_VA_HIGH) rather than trusting the VMAs to cover every present page.
    recoverVmaTable(space.ctl, new Int32Array(handles.vmaTable), space.vaPages);
    space.vmas.loadFromShared();
    space.reclaimInflight();
    Atomics.store(space.ctl, CTL_HAZARD, HAZARD_NONE);
    space.releaseRange(0, Math.min(space.vaPages, Atomics.load(space.ctl, CTL_VA_HIGH)));
    space.teardown();
  }

  /**
   * Unmap everything (exit, or the host cleaning up after a dead guest), retire the guest's share of
   * nr_anon_transparent_hugepages and mark the guest exited.
   *
   * The huge-page count after a kill, argued here. A thread killed between changing a head PTE and
   * counting it (hugeFault, collapseBlock, clearHugeBlock, releaseRange: each changes the head, then
   * countHuge) leaves the guest's count off by one, and nothing can tell afterwards whether the count
   * happened. So the count is per guest (vmstat.ts) and dropped whole here, after every page is
   * released: the page table then holds no head, so the guest's true share is 0 whatever its slot
   * says. The threads that may still be changing heads of this guest: none of the guest's own (dead,
   * or this is its exit); ksmd (a merge engine's split, khugepaged's collapse or settle), which counts
   * into the same slot. A split it finishes after our release counts −1 for a head the release saw
   * without HUGE (so did not count): before the retirement it nets to 0, after it is ignored. A
   * collapse cannot install a head here: its last exchange expects the write-protected value it
   * loaded, and the release swung every PTE to 0. Nothing is subtracted from the host's figure, so a
   * concurrent split cannot make it subtract twice; the retirement moves the slot to a new generation
   * before freeing it for reuse, so a late count of ksmd's is dropped, never lands on the slot's next
   * guest (vmstat.ts).
   */
  teardown(): void {
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
    for (const m of this.vmas.all) this.releaseRange(m.start, m.end);
    this.vmas.removeRange(0, this.vaPages);
    this.vmas.publish();
    retireHugeCount(this.ctl, this.mem);
    Atomics.store(this.ctl, CTL_STATE, GUEST_EXITED);
  }

  /**
   * Swing the PTE from `old` to `next`, which maps `newFrame` (already recorded in flight). Records
   * the swing first, so a guest killed between the swap and dropping `old` has its reference dropped
   * by the host. Returns what the compare-and-exchange saw.
   */
  protected swingWithNewFrame(vpage: number, old: number, next: number, newFrame: number): number {
    const ctl = this.ctl;
    Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
    Atomics.store(ctl, CTL_INFLIGHT_OLD, old);
    const seen = Atomics.compareExchange(this.pt, vpage, old, next);
    if (seen === old) {
      Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1); // the PTE holds it now
      this.dropReference(old); // clears CTL_INFLIGHT_OLD once the reference is gone
    } else {
      // The new frame stays recorded until the swing's record is gone: a guest killed in between
      // has it freed by the host (the PTE does not map it). Clearing FRAME first left a window in
      // which it was recorded nowhere (found by a scripted kill in the simulation, issue 11).
      Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
      Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
      this.mem.free(newFrame);
    }
    return seen;
  }

  /**
   * Finish what a killed guest was doing (run by the host before tearing it down): free a frame
   * that never reached its PTE, and drop the reference of a PTE that was swung but not yet dropped.
   * What ksmd may have done to the recorded PTE meanwhile: a swing to a new private frame happens
   * in a fault or an unmerge, under a write hazard on that page, which the dead guest's hazard word
   * still holds; ksmd can then write-protect that PTE (its compare-and-exchange does not look at
   * the hazard word) but not replace it (the merge needs the write-protect to see no writer, and
   * run=2 replaces KSM PTEs only), so swingHappened compares the frame, not the value. A swing to
   * 0 (releaseRange) or to a swap entry (pageOutPte, whose hazard is on another page) installs a
   * value ksmd never changes. A swing from a swap entry (swapIn) is judged by the old value, which
   * ksmd never changes either: ksmd may swap a KSM page installed from the swap cache out again.
   * (Before issue 11 this said "ksmd cannot have moved that PTE": it can write-protect it.)
   * Leaks remain possible (never a double free): if the thread died between the allocator handing
   * out a frame and recording it, between claiming a swing and dropping its reference, or, after a
   * failed swing, between clearing the record and freeing the unused frame. Each window is a few
   * Atomics operations; the deterministic simulation counts kills there as documented residual leaks.
   */
  protected reclaimInflight(): void {
    this.reclaimInflightFolio();
    const ctl = this.ctl;
    const vpage = Atomics.load(ctl, CTL_INFLIGHT_VPAGE);
    const frame = Atomics.load(ctl, CTL_INFLIGHT_FRAME);
    const old = Atomics.load(ctl, CTL_INFLIGHT_OLD);
    if (vpage < 0 || vpage >= this.vaPages) return;
    const pte = Atomics.load(this.pt, vpage);
    if (frame >= 0 && !(isPrivateFrame(pte) && pteFrame(pte) === frame)) this.mem.free(frame);
    Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
    if (old !== 0 && swingHappened(pte, Atomics.load(ctl, CTL_INFLIGHT_NEXT), old)) this.dropReference(old);
    Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
  }

  /**
   * A guest killed while mapping a 2 MiB folio (a huge fault or MADV_COLLAPSE, space-thp.ts): each
   * frame of the folio that its block's PTE does not map privately was never mapped, so it is freed.
   * No other thread can have taken one out of its PTE meanwhile: engines neither write-protect a
   * HUGE PTE nor split a block whose head lacks HUGE or whose folio this record still names
   * (splitHugeBlock in thp.ts).
   */
  private reclaimInflightFolio(): void {
    const ctl = this.ctl;
    const base = Atomics.load(ctl, CTL_INFLIGHT_HUGE);
    const head = Atomics.load(ctl, CTL_INFLIGHT_HUGE_HEAD);
    if (base < 0) return;
    for (let i = 0; i < HPAGE_PAGES; i++) {
      const pte = head >= 0 && head + i < this.vaPages ? Atomics.load(this.pt, head + i) : 0;
      if (!(isPrivateFrame(pte) && pteFrame(pte) === base + i)) this.mem.free(base + i);
    }
    Atomics.store(ctl, CTL_INFLIGHT_HUGE, -1);
  }

  /** Drop the reference an old PTE value held, once this thread has swung the PTE away from it. */
  protected dropReference(pte: number): void {
    // Claim the recorded swing first: if the thread dies after this, the host will not drop the
    // reference a second time (a leak at worst, never a double drop).
    Atomics.compareExchange(this.ctl, CTL_INFLIGHT_OLD, pte, 0);
    if (!(pte & PTE_PRESENT)) {
      if (pte & PTE_SWAPPED) this.mem.putSwapSlot(pteFrame(pte));
      return;
    }
    if (pte & PTE_ZERO) {
      if (pte & PTE_KSM_ZERO) {
        Atomics.sub(this.ctl, CTL_KSM_ZERO_PAGES, 1);
        this.hooks.addKsmZeroPages(-1);
      }
      return;
    }
    const f = pte >>> PTE_FRAME_SHIFT;
    // A KSM frame's mapcount counts its PTEs plus ksmd's temporary references; whoever drops it
    // to zero frees the frame (the kernel frees a KSM page with its last mapping, too).
    if (pte & PTE_KSM) {
      if (Atomics.sub(this.mem.meta, f * META_WORDS, 1) === 1) this.mem.free(f);
    } else {
      this.mem.free(f);
    }
  }

  protected releaseRange(start: number, end: number): void {
    const pt = this.pt;
    const ctl = this.ctl;
    for (let p = start; p < end; p++) {
      if (pt[p] === 0 && Atomics.load(pt, p) === 0) continue;
      // Recorded before the swap, so a guest killed after it still has the reference dropped.
      Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
      Atomics.store(ctl, CTL_INFLIGHT_NEXT, 0);
      for (;;) {
        const old = Atomics.load(pt, p);
        Atomics.store(ctl, CTL_INFLIGHT_OLD, old);
        if (Atomics.compareExchange(pt, p, old, 0) === old) {
          // The head of a huge page going: the block is no longer PMD-mapped (its tails follow).
          if ((old & PTE_HUGE) && !(p & HPAGE_MASK)) countHuge(ctl, this.mem, -1);
          this.dropReference(old);
          break;
        }
      }
    }
  }
}

/**
 * Did a recorded swing from `old` to `next` happen, seeing the PTE is now `pte`? From a swap entry:
 * only the guest's own thread (or the host, after its death) takes a swap entry out of a PTE, and
 * the slot cannot be reused while the recorded PTE still holds it, so the PTE is still `old`
 * exactly when the swing did not happen (whatever ksmd did after it: a swap-in from the swap cache
 * installs a KSM page, which ksmd may swap out again to another slot). Otherwise: a new private
 * frame is ours alone, so the PTE still maps it privately (ksmd may have write-protected it
 * meanwhile: compare the frame, not the whole value); a swing to 0 or to a swap entry is the only
 * way to those values. The deterministic simulation (src/stress/sim/model-host.ts) imports it.
 */
export function swingHappened(pte: number, next: number, old: number): boolean {
  if ((old & (PTE_PRESENT | PTE_SWAPPED)) === PTE_SWAPPED) return pte !== old;
  if (next === 0 || (next & PTE_SWAPPED)) return pte === next;
  return isPrivateFrame(pte) && pteFrame(pte) === pteFrame(next);
}
