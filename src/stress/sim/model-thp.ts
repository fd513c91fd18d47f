// model-thp.ts — owns the guest's transparent huge pages in the simulation (cfg.thp): the huge fault,
// MADV_COLLAPSE and the guest's own PMD split, each a transcription of src/mem/space-thp.ts step by
// step (→ names the real code). The block is SIM_HPAGE pages (model-memory.ts), the guest's whole range.
//
//  hugeFault (SpaceThp.hugeFault, from a write fault on an untouched page): load every PTE of the
//    block (any not 0: fall back to 4 KiB) → allocHuge (no folio: thp_fault_fallback) → store
//    INFLIGHT_HUGE_HEAD → store INFLIGHT_HUGE → zero the folio → CAS each PTE 0 → folio frame|HUGE,
//    tails first, head last → store INFLIGHT_HUGE = −1 → nr_anon_transparent_hugepages +1.
//    Between the allocator's claim and INFLIGHT_HUGE the folio is recorded nowhere: window 9 of
//    src/mem/space-inflight.ts (LEAK_FOLIO, a documented residual leak).
//  MADV_COLLAPSE (SpaceThp.collapseBlock): load the head (HUGE: done) → load every PTE (a KSM frame
//    twice: EAGAIN) → allocHuge, record (as above) → store hazard (write, head) → per page, tails
//    first: store VPAGE, NEXT; [load PTE → store OLD → CAS]* → copy the old page's bytes into the
//    folio frame (a frame, a swap slot, or zero) → dropReference(old) | store OLD = 0 (untouched) →
//    store INFLIGHT_HUGE = −1 → clear hazard → nr_anon_transparent_hugepages +1 (and −1 after the
//    head's exchange if it replaced a huge head: khugepaged's, made meanwhile). The PTE names the
//    folio frame before the copy (ghost frameFilling until it is done).
//  splitBlockOf (SpaceThp.splitBlockOf, before MADV_DONTNEED of part of a block, a swap-out or
//    MADV_PAGEOUT of a subpage): load the head, load the page; either HUGE: clearHugeBlock.

import { HAZARD_NONE, hazardWrite } from '../../mem/guest-control.ts';
import { PTE_HUGE, PTE_KSM, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_WRITABLE, PTE_ZERO, makePte, pteFrame } from '../../mem/pte.ts';
import { K, LEAK_FOLIO, SIM_HPAGE, SimMemory, fmt } from './model-memory.ts';

export class SimThp extends SimMemory {
  /**
   * Allocate and record a folio for guest g's block at `head` (allocHugeFor): the allocator's claim,
   * then INFLIGHT_HUGE_HEAD and INFLIGHT_HUGE, one step each. −1: no folio free.
   */
  protected *allocHugeFor(g: number, head: number, who: string): Generator<string, number, void> {
    const base = this.allocHuge();
    if (base >= 0) this.enterWindow(g, 'folio allocated, not yet recorded in INFLIGHT_HUGE', base, true, LEAK_FOLIO);
    yield this.tracing ? `${who}: alloc folio ${base >= 0 ? `${base}..${base + SIM_HPAGE - 1}` : '(none free)'}` : '';
    if (base < 0) return -1;
    this.ifHugeHead[g] = head;
    yield this.tracing ? `${who}: store INFLIGHT_HUGE_HEAD = p${head}` : '';
    this.ifHuge[g] = base;
    this.leaveWindow(g);
    yield this.tracing ? `${who}: store INFLIGHT_HUGE = ${base}` : '';
    return base;
  }

  /** The end of a folio's install: clear the record, then count the huge page (its own step). */
  protected *finishHugeInstall(g: number, who: string): Generator<string, void, void> {
    this.ifHuge[g] = -1;
    yield this.tracing ? `${who}: store INFLIGHT_HUGE = -1` : '';
    const now = this.countHuge(g, g, 1);
    yield this.tracing ? `${who}: nr_anon_transparent_hugepages +1 = ${now}` : '';
  }

  /** SpaceThp.hugeFault: the PTE now at p (a folio frame), or 0 to fall back to a 4 KiB page. */
  protected *hugeFault(g: number, p: number, who: string): Generator<string, number, void> {
    const saved = this.kindOf[g]!;
    this.kindOf[g] = K.thp_fault;
    const head = p - (p % SIM_HPAGE);
    const at = g * this.cfg.pages;
    for (let q = head; q < head + SIM_HPAGE; q++) {
      const pte = this.pt[at + q]!;
      yield this.tracing ? `${who}: huge fault: load PTE p${q} (${fmt(pte)})` : '';
      if (pte !== 0) {
        this.kindOf[g] = saved;
        return 0;
      }
    }
    const base: number = yield* this.allocHugeFor(g, head, who);
    if (base < 0) {
      this.thpEvents.fallbacks++;
      this.kindOf[g] = saved;
      return 0;
    }
    for (let q = 0; q < SIM_HPAGE; q++) this.content[base + q] = 0;
    yield this.tracing ? `${who}: zero folio ${base}..${base + SIM_HPAGE - 1}` : '';
    const flags = PTE_PRESENT | PTE_WRITABLE | PTE_HUGE | PTE_MERGEABLE;
    for (let q = SIM_HPAGE - 1; q >= 0; q--) {
      const next = makePte(base + q, flags);
      const seen = this.cas(at + head + q, 0, next);
      // Only this thread changes a PTE of 0 (the real code throws if one did).
      if (seen !== 0) this.fail(`${who}: page ${head + q} changed under a huge fault (${fmt(seen)})`);
      if (q === 0) this.headChanged(g, g, 1);
      yield this.tracing ? `${who}: huge fault: CAS PTE p${head + q} none → ${fmt(next)}` : '';
    }
    yield* this.finishHugeInstall(g, who);
    this.thpEvents.faults++;
    this.kindOf[g] = saved;
    return makePte(base + (p - head), flags);
  }

  /** SpaceThp.splitBlockOf: before the guest changes one page of a block. */
  protected *splitBlockOf(g: number, p: number, who: string): Generator<string, void, void> {
    const head = p - (p % SIM_HPAGE);
    const at = g * this.cfg.pages;
    const h = this.pt[at + head]!;
    yield this.tracing ? `${who}: load PTE p${head} (${fmt(h)})` : '';
    if (!(h & PTE_HUGE)) {
      const own = this.pt[at + p]!;
      yield this.tracing ? `${who}: load PTE p${p} (${fmt(own)})` : '';
      if (!(own & PTE_HUGE)) return;
    }
    yield* this.clearHugeBlock(g, head, g, who);
  }

  /** MADV_COLLAPSE of guest g's block holding p (SpaceThp.collapseBlock). */
  protected *guestCollapse(g: number, p: number): Generator<string, void, void> {
    const who = `guest ${g}`;
    const head = p - (p % SIM_HPAGE);
    const at = g * this.cfg.pages;
    const h = this.pt[at + head]!;
    yield this.tracing ? `${who}: MADV_COLLAPSE p${head}: load PTE (${fmt(h)})` : '';
    if (h & PTE_HUGE) return; // already PMD-mapped
    const ksm = new Set<number>();
    for (let q = head; q < head + SIM_HPAGE; q++) {
      const pte = this.pt[at + q]!;
      yield this.tracing ? `${who}: MADV_COLLAPSE: load PTE p${q} (${fmt(pte)})` : '';
      if (!(pte & PTE_KSM)) continue;
      if (ksm.has(pteFrame(pte))) {
        this.thpEvents.collapseEagain++;
        return; // EAGAIN: a KSM page mapped twice in the block
      }
      ksm.add(pteFrame(pte));
    }
    const base: number = yield* this.allocHugeFor(g, head, who);
    if (base < 0) return; // ENOMEM
    this.hazard[g] = hazardWrite(head);
    yield this.tracing ? `${who}: store hazard (write p${head})` : '';
    const flags = PTE_PRESENT | PTE_HUGE | PTE_WRITABLE | PTE_MERGEABLE;
    for (let q = SIM_HPAGE - 1; q >= 0; q--) {
      const i = at + head + q;
      const f = base + q;
      const next = makePte(f, flags);
      this.ifVpage[g] = head + q;
      yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${head + q}` : '';
      this.ifNext[g] = next;
      yield this.tracing ? `${who}: store INFLIGHT_NEXT = ${fmt(next)}` : '';
      for (;;) {
        const old = this.pt[i]!;
        yield this.tracing ? `${who}: load PTE p${head + q} (${fmt(old)})` : '';
        this.ifOld[g] = old;
        yield this.tracing ? `${who}: store INFLIGHT_OLD = ${fmt(old)}` : '';
        const seen = this.cas(i, old, next);
        if (seen === old) {
          this.frameFilling[f] = 1;
          if (q === 0 && (!(old & PTE_HUGE) || this.cfg.broken === 'collapse-keeps-count')) this.headChanged(g, g, 1);
        }
        yield this.tracing ? `${who}: CAS PTE p${head + q} ${fmt(old)} → ${fmt(next)}${seen === old ? '' : ` failed (saw ${fmt(seen)}): look again`}` : '';
        if (seen !== old) continue;
        if (q === 0 && (old & PTE_HUGE)) this.thpEvents.collapseOverHuge++;
        if (q === 0 && (old & PTE_HUGE) && this.cfg.broken !== 'collapse-keeps-count') {
          // khugepaged made the block huge meanwhile: that huge page goes (ours is counted at the end).
          const now = this.countHuge(g, g, -1);
          yield this.tracing ? `${who}: nr_anon_transparent_hugepages −1 = ${now} (khugepaged's huge page replaced)` : '';
        }
        // Unmapped: the old frame (or slot) is ours to read until we drop its reference.
        if ((old & PTE_PRESENT) && !(old & PTE_ZERO)) this.content[f] = this.content[pteFrame(old)]!;
        else if (old & PTE_SWAPPED) this.content[f] = this.slotContent[pteFrame(old)]!;
        else this.content[f] = 0;
        this.frameFilling[f] = 0;
        yield this.tracing ? `${who}: copy ${old & PTE_SWAPPED ? `slot ${pteFrame(old)}` : (old & PTE_PRESENT) && !(old & PTE_ZERO) ? `frame ${pteFrame(old)}` : 'zeroes'} → frame ${f}` : '';
        if (old !== 0) yield* this.dropReference(g, old, who, true);
        else {
          this.ifOld[g] = 0;
          yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
        }
        break;
      }
    }
    this.ifHuge[g] = -1;
    yield this.tracing ? `${who}: store INFLIGHT_HUGE = -1` : '';
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
    const now = this.countHuge(g, g, 1);
    this.thpEvents.collapses++;
    yield this.tracing ? `${who}: nr_anon_transparent_hugepages +1 = ${now}` : '';
  }
}
