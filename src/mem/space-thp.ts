// space-thp.ts — owns a guest's transparent huge pages on its own thread: the huge fault (a 2 MiB
// folio for a whole eligible block, else nothing and the caller falls back to 4 KiB), MADV_COLLAPSE
// (a new folio for a block of 4 KiB pages), and the PMD split a guest does before changing part of a
// block (munmap, mprotect, MADV_DONTNEED of part of it, swap-out of one subpage). What a huge page is
// in the page table, and the split a merge engine does, are in thp.ts.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT, PROT_MASK, PROT_NONE } from './constants.ts';
import { ErrnoError } from './errno.ts';
import { CTL_HAZARD, CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, CTL_INFLIGHT_NEXT, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, HAZARD_NONE, VM_NOHUGEPAGE, VM_SHARED, VM_WRITE, hazardWrite } from './guest-control.ts';
import { PTE_HUGE, PTE_KSM, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WRITABLE, PTE_ZERO, makePte, pteFrame } from './pte.ts';
import { mergeBit } from './space-core.ts';
import { SpaceSwap } from './space-swap.ts';
import { HPAGE_MASK, HPAGE_PAGES, THP_NEVER, clearHugeBlock, countHuge, hugeFaultAllowed, hugeHead } from './thp.ts';
import type { Vma } from './vma-list.ts';

export class SpaceThp extends SpaceSwap {
  /**
   * do_huge_pmd_anonymous_page: a write fault on a never-touched page of an eligible area maps a
   * whole 2 MiB folio if every PTE of the block is untouched and a folio is free on the area's node
   * (or, by default policy, any node in order); returns the PTE now at `vpage`, or 0 to fall back to
   * 4 KiB pages (thp_fault_fallback when it was memory that lacked). The caller holds the write hazard
   * on `vpage`, a page of the block, for the whole install.
   *
   * Races, argued here: only this thread changes a PTE of 0 (faults are the guest's own; merge
   * engines touch present pages only; the host only after the thread ended), so the 512 untouched
   * PTEs seen stay untouched and each install is a compare-and-exchange that cannot fail. Tails are
   * installed first and the head last: until then the block is "in transition" and no engine touches
   * it (engines refuse HUGE PTEs and split only a block whose head has HUGE and whose folio is no
   * longer recorded; thp.ts). The folio is recorded (CTL_INFLIGHT_HUGE) before the first PTE names it
   * and cleared after the head: a guest killed in between has its unmapped frames freed by the host
   * (reclaimInflightFolio). Window 9 of space-inflight.ts: the folio allocated, not yet recorded.
   */
  protected hugeFault(vma: Vma, vpage: number): number {
    const mode = this.hooks.thpMode?.() ?? THP_NEVER;
    if (!hugeFaultAllowed(mode, vma.flags, vma.start, vma.end, vpage)) return 0;
    const pt = this.pt;
    const head = hugeHead(vpage);
    for (let p = head; p < head + HPAGE_PAGES; p++) if (Atomics.load(pt, p) !== 0) return 0;
    const base = this.allocHugeFor(vma, head);
    if (base < 0) {
      this.mem.vmstat.add('thp_fault_fallback');
      return 0;
    }
    this.mem.zeroFrames(base, HPAGE_PAGES);
    const flags = PTE_PRESENT | PTE_WRITABLE | PTE_HUGE | mergeBit(vma);
    for (let i = HPAGE_PAGES - 1; i >= 0; i--) {
      if (Atomics.compareExchange(pt, head + i, 0, makePte(base + i, flags)) !== 0) {
        throw new Error(`guest ${this.pid}: page ${head + i} changed under a huge fault (only the guest maps untouched pages)`);
      }
    }
    Atomics.store(this.ctl, CTL_INFLIGHT_HUGE, -1);
    countHuge(this.ctl, this.mem, 1); // killed before this: the host retires our count (space-inflight.ts)
    this.mem.vmstat.add('thp_fault_alloc');
    return makePte(base + (vpage & HPAGE_MASK), flags);
  }

  /**
   * MADV_COLLAPSE on the 2 MiB blocks wholly inside [start, end) of area `vma`: each becomes one new
   * folio holding the same bytes, PMD-mapped, whatever the THP setting (as the kernel's
   * MADV_COLLAPSE, which ignores `enabled` but not MADV_NOHUGEPAGE: EINVAL). KSM pages, zero pages
   * untouched and swapped pages are collapsed too (khugepaged's max_ptes_* limits do not apply to
   * it), but not a block that maps one KSM page twice (EAGAIN). ENOMEM when no folio is free.
   *
   * Races, argued here: the guest is inside this call, so the only other writer of these PTEs is a
   * merge engine. Each page is moved as swapOutOne moves one — unmap first, copy second: the
   * compare-and-exchange takes the old value out of the PTE (its frame or KSM reference is then ours
   * or swap slot alone; an engine's merge of it fails at its final compare-and-exchange, and a frame it freed and
   * another guest reused can no longer be what we copy), then the bytes are copied from it into the
   * folio's frame, then the reference is dropped. The PTE already names the folio frame (with HUGE)
   * before the copy: engines neither write-protect a HUGE PTE nor split a block whose head lacks HUGE
   * or whose folio is still recorded (until after the head is set and copied), so nothing reads that
   * frame as a merge candidate before it holds the page's bytes, except to choose (unreferenced
   * checksum reads). The head is moved last. Each swing is recorded like any other (CTL_INFLIGHT_OLD
   * and NEXT) and the folio like a huge fault's, so a guest killed anywhere in between leaks nothing
   * but window 7's.
   */
  protected collapseRange(vma: Vma, start: number, end: number): void {
    if (vma.flags & (VM_NOHUGEPAGE | VM_SHARED)) throw new ErrnoError('EINVAL', 'madvise', 'MADV_COLLAPSE on an area that cannot hold huge pages');
    for (let head = (Math.max(vma.start, start) + HPAGE_MASK) & ~HPAGE_MASK; head + HPAGE_PAGES <= Math.min(vma.end, end); head += HPAGE_PAGES) {
      this.collapseBlock(vma, head);
    }
  }

  private collapseBlock(vma: Vma, head: number): void {
    const pt = this.pt;
    const ctl = this.ctl;
    if (Atomics.load(pt, head) & PTE_HUGE) return; // already PMD-mapped (SCAN_PMD_MAPPED counts as success)
    // One KSM page mapped twice in the block: the kernel isolates each folio from the LRU once, so the
    // second mapping fails the collapse (SCAN_DEL_PAGE_LRU → EAGAIN; measured on Linux 6.18).
    const ksmFrames = new Set<number>();
    for (let p = head; p < head + HPAGE_PAGES; p++) {
      const pte = Atomics.load(pt, p);
      if (!(pte & PTE_KSM)) continue;
      if (ksmFrames.has(pteFrame(pte))) throw new ErrnoError('EAGAIN', 'madvise', 'MADV_COLLAPSE: a KSM page is mapped twice in the 2 MiB block');
      ksmFrames.add(pteFrame(pte));
    }
    const base = this.allocHugeFor(vma, head);
    if (base < 0) {
      this.mem.vmstat.add('thp_collapse_alloc_failed');
      throw new ErrnoError('ENOMEM', 'madvise', 'MADV_COLLAPSE: no free 2 MiB block');
    }
    Atomics.store(ctl, CTL_HAZARD, hazardWrite(head));
    const prot = vma.flags & PROT_MASK;
    const flags = PTE_PRESENT | PTE_HUGE | (vma.flags & VM_WRITE ? PTE_WRITABLE : 0) | mergeBit(vma) | (prot === PROT_NONE ? PTE_NOACCESS : 0);
    for (let i = HPAGE_PAGES - 1; i >= 0; i--) {
      const p = head + i;
      const f = base + i;
      const next = makePte(f, flags);
      Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
      Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
      for (;;) {
        const old = Atomics.load(pt, p);
        Atomics.store(ctl, CTL_INFLIGHT_OLD, old);
        if (Atomics.compareExchange(pt, p, old, next) !== old) continue; // an engine moved it: look again
        // khugepaged made the block huge while we were replacing its tails: that huge page goes (counted below as ours).
        if (i === 0 && (old & PTE_HUGE)) countHuge(ctl, this.mem, -1);
        if ((old & PTE_PRESENT) && !(old & PTE_ZERO)) this.mem.copyFrame(pteFrame(old), f);
        else if (old & PTE_SWAPPED) this.mem.swap!.readSlot(pteFrame(old), this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
        else this.mem.zeroFrame(f);
        if (old !== 0) this.dropReference(old);
        else Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
        break;
      }
    }
    Atomics.store(ctl, CTL_INFLIGHT_HUGE, -1);
    Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
    countHuge(ctl, this.mem, 1);
    this.mem.vmstat.add('thp_collapse_alloc');
  }

  /** A folio for the block at `head`, recorded in flight; -1 when no node the area may use has one free. */
  private allocHugeFor(vma: Vma, head: number): number {
    const mem = this.mem;
    let base = -1;
    if (vma.node >= 0) base = mem.allocHugeUninitialized(vma.node, this.allocHints);
    else for (let i = 0; i < mem.nodes.length && base < 0; i++) base = mem.allocHugeUninitialized((this.homeNode + i) % mem.nodes.length, this.allocHints);
    if (base >= 0) {
      Atomics.store(this.ctl, CTL_INFLIGHT_HUGE_HEAD, head);
      Atomics.store(this.ctl, CTL_INFLIGHT_HUGE, base);
    }
    return base;
  }

  /**
   * Before changing part of a block (an edge of [start, end) that cuts one), make it 4 KiB pages:
   * split_huge_pmd. The frames stay mapped where they are.
   */
  protected splitBlocksCutBy(start: number, end: number): void {
    if (start & HPAGE_MASK) this.splitBlockOf(start);
    if (end & HPAGE_MASK && end < this.vaPages) this.splitBlockOf(end);
  }

  protected splitBlockOf(vpage: number): void {
    const head = hugeHead(vpage);
    if (Atomics.load(this.pt, head) & PTE_HUGE || Atomics.load(this.pt, vpage) & PTE_HUGE) clearHugeBlock(this.pt, this.ctl, head, this.mem);
  }
}
