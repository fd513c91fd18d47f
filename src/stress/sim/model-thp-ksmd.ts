// model-thp-ksmd.ts — owns the simulation's huge-page paths on the ksmd thread (cfg.thp): the split a
// merge engine does before it write-protects a subpage, and khugepaged's collapse between ksmd's
// passes, transcriptions of src/ksm/ksm-engine.ts (writeProtect), src/mem/thp.ts (splitHugeBlock)
// and src/ksm/khugepaged.ts (qualifies, collapse), step by step (→ names the real code).
//
//  writeProtect (KsmEngine.writeProtect; merges, mergeTwo, reclaim's private swap-out): load the
//    page's PTE and its head's (inHugeBlock) → either HUGE: splitHuge (BUSY: give up, 0) → load the
//    PTE → writeProtectPage (model-ksmd.ts, which refuses a HUGE page or a HUGE head).
//    --broken thp-merge-without-split: neither the split nor the refusal (the bug the split prevents).
//  splitHuge (splitHugeBlock): load the head; not HUGE: load the page (HUGE: BUSY, else NOT_HUGE) →
//    load INFLIGHT_HUGE, and if ≥ 0 INFLIGHT_HUGE_HEAD (= this head: BUSY) → clearHugeBlock → per
//    subpage: load PTE; private, not HUGE: compare with zero (a frame read) → writeProtectPage →
//    compare again → CAS the write-protected value → plain ZERO (no counter, no rmap item) →
//    releaseAfterReplace.
//  khugepagedTurn (Khugepaged.scan, once per ksmd pass): per guest not EXITED (a load of its state),
//    qualifies (load every PTE: private, not HUGE, KSM or NOACCESS) → collapse: allocHuge → per page,
//    tails first: load PTE (check again) → writeProtectPage → copy the frame into the folio's →
//    CAS the write-protected value → folio frame|HUGE (read-only: the guest's next write takes the
//    reuse fault) → releaseAfterReplace; the head's CAS makes the block huge → vmstat +1 → settle:
//    load each tail; one not mapping our folio with HUGE: load INFLIGHT_HUGE (and _HEAD; the guest
//    collapsing this block: leave it) → clearHugeBlock. Abandoned
//    at page i: free the folio frames ≤ i, then clear HUGE (load, CAS) on the installed ones still
//    mapping our frame.

import { isPrivateFrame, makePte, pteFrame, PTE_HUGE, PTE_KSM, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_ZERO } from '../../mem/pte.ts';
import { SPLIT_BUSY, SPLIT_DONE, SPLIT_NOT_HUGE } from '../../mem/thp.ts';
import { SimKsmd } from './model-ksmd.ts';
import { K, SIM_HPAGE, ZERO, fmt, type Step } from './model-memory.ts';

export class SimThpKsmd extends SimKsmd {
  protected override *writeProtect(g: number, p: number, pte: number, anyPrivate = false): Generator<string, number, void> {
    if (this.cfg.thp && this.cfg.broken !== 'thp-merge-without-split') {
      const at = g * this.cfg.pages;
      const own = this.pt[at + p]!;
      yield this.tracing ? `ksmd: load PTE g${g}p${p} (${fmt(own)})` : '';
      const head = this.pt[at + p - (p % SIM_HPAGE)]!;
      yield this.tracing ? `ksmd: load head PTE g${g}p${p - (p % SIM_HPAGE)} (${fmt(head)})` : '';
      if ((own | head | pte) & PTE_HUGE) {
        const r: number = yield* this.splitHuge(g, p);
        if (r === SPLIT_BUSY) return 0;
        pte = this.pt[at + p]!;
        yield this.tracing ? `ksmd: load PTE g${g}p${p} (${fmt(pte)})` : '';
      }
    }
    return yield* this.writeProtectPage(g, p, pte, anyPrivate);
  }

  /** splitHugeBlock by ksmd before merging page p of guest g (thp.ts). */
  protected *splitHuge(g: number, p: number): Generator<string, number, void> {
    const K_KSMD = this.cfg.guests;
    const saved = this.kindOf[K_KSMD]!;
    this.kindOf[K_KSMD] = K.thp_split;
    const r: number = yield* this.splitHugeSteps(g, p);
    this.kindOf[K_KSMD] = saved;
    return r;
  }

  private *splitHugeSteps(g: number, p: number): Generator<string, number, void> {
    const at = g * this.cfg.pages;
    const head = p - (p % SIM_HPAGE);
    const h = this.pt[at + head]!;
    yield this.tracing ? `ksmd: split g${g}: load head PTE (${fmt(h)})` : '';
    if (!(h & PTE_HUGE)) {
      const own = this.pt[at + p]!;
      yield this.tracing ? `ksmd: split g${g}: load PTE p${p} (${fmt(own)})${own & PTE_HUGE ? ': a block in transition, busy' : ''}` : '';
      return own & PTE_HUGE ? SPLIT_BUSY : SPLIT_NOT_HUGE;
    }
    // The guest's record of a folio it is still mapping: loaded after the head.
    const rec = this.ifHuge[g]!;
    yield this.tracing ? `ksmd: split g${g}: load INFLIGHT_HUGE = ${rec}` : '';
    if (rec >= 0) {
      const recHead = this.ifHugeHead[g]!;
      yield this.tracing ? `ksmd: split g${g}: load INFLIGHT_HUGE_HEAD = p${recHead}${recHead === head ? ': still being mapped, busy' : ''}` : '';
      if (recHead === head) return SPLIT_BUSY;
    }
    const done: boolean = yield* this.clearHugeBlock(g, head, this.cfg.guests, 'ksmd');
    for (let q = head; q < head + SIM_HPAGE; q++) {
      const i = at + q;
      const pte = this.pt[i]!;
      yield this.tracing ? `ksmd: split: load PTE g${g}p${q} (${fmt(pte)})` : '';
      if (!isPrivateFrame(pte) || (pte & PTE_HUGE)) continue;
      // Unreferenced read of the frame: it only chooses; the compare after write-protect decides.
      const zero = this.content[pteFrame(pte)] === 0;
      yield this.tracing ? `ksmd: split: compare frame ${pteFrame(pte)} with the zero page: ${zero ? 'equal' : 'differ'}` : '';
      if (!zero) continue;
      const wp: number = yield* this.writeProtectPage(g, q, pte);
      if (!wp) continue;
      const still = this.content[pteFrame(wp)] === 0;
      yield this.tracing ? `ksmd: split: compare frame ${pteFrame(wp)} with the zero page: ${still ? 'equal' : 'differ'}` : '';
      if (!still) continue;
      const next = makePte(ZERO, PTE_PRESENT | PTE_ZERO | (wp & (PTE_MERGEABLE | PTE_NOACCESS)));
      const seen = this.casMerge(i, wp, next);
      yield this.tracing ? `ksmd: split: CAS g${g}p${q} ${fmt(wp)} → zero page${seen === wp ? '' : ' failed'}` : '';
      if (seen !== wp) continue;
      this.thpEvents.zeroRemaps++;
      yield* this.releaseAfterReplace(g, q, pteFrame(wp), false);
    }
    return done ? SPLIT_DONE : SPLIT_NOT_HUGE;
  }

  /**
   * Khugepaged.settle: a tail no longer mapping our folio with HUGE (the guest split the block while
   * its head had no HUGE yet, then changed the page) splits the block again, unless the guest's
   * record names the block (its MADV_COLLAPSE is taking it over).
   */
  private *settle(g: number, head: number, base: number): Step {
    const at = g * this.cfg.pages;
    for (let j = 1; j < SIM_HPAGE; j++) {
      const pte = this.pt[at + head + j]!;
      yield this.tracing ? `khugepaged: settle: load PTE g${g}p${head + j} (${fmt(pte)})` : '';
      if ((pte & PTE_HUGE) && isPrivateFrame(pte) && pteFrame(pte) === base + j) continue;
      const rec = this.ifHuge[g]!;
      yield this.tracing ? `khugepaged: settle: load INFLIGHT_HUGE = ${rec}` : '';
      if (rec >= 0) {
        const recHead = this.ifHugeHead[g]!;
        yield this.tracing ? `khugepaged: settle: load INFLIGHT_HUGE_HEAD = p${recHead}${recHead === head ? ': the guest is collapsing it' : ''}` : '';
        if (recHead === head) return;
      }
      this.thpEvents.settleSplits++;
      yield* this.clearHugeBlock(g, head, this.cfg.guests, 'khugepaged');
      return;
    }
  }

  /** Khugepaged.scan over every guest's block, once per ksmd pass. */
  protected override *khugepagedTurn(): Step {
    const K_KSMD = this.cfg.guests;
    const saved = this.kindOf[K_KSMD]!;
    this.kindOf[K_KSMD] = K.khugepaged;
    for (let g = 0; g < this.cfg.guests; g++) {
      const ex = this.exited[g]!;
      yield this.tracing ? `khugepaged: load state(g${g}) = ${ex ? 'EXITED' : 'RUNNING'}` : '';
      if (ex) continue;
      for (let head = 0; head + SIM_HPAGE <= this.cfg.pages; head += SIM_HPAGE) {
        const ok: boolean = yield* this.qualifies(g, head);
        if (ok) yield* this.khugepagedCollapse(g, head);
      }
    }
    this.kindOf[K_KSMD] = saved;
  }

  private *qualifies(g: number, head: number): Generator<string, boolean, void> {
    for (let q = head; q < head + SIM_HPAGE; q++) {
      const pte = this.pt[g * this.cfg.pages + q]!;
      yield this.tracing ? `khugepaged: load PTE g${g}p${q} (${fmt(pte)})` : '';
      if (!isPrivateFrame(pte) || (pte & (PTE_HUGE | PTE_KSM | PTE_NOACCESS))) return false;
    }
    return true;
  }

  private *khugepagedCollapse(g: number, head: number): Step {
    const G = this.cfg.guests;
    const at = g * this.cfg.pages;
    const base = this.allocHuge();
    yield this.tracing ? `khugepaged: alloc folio ${base >= 0 ? `${base}..${base + SIM_HPAGE - 1}` : '(none free)'}` : '';
    if (base < 0) return;
    let i = SIM_HPAGE - 1;
    for (; i >= 0; i--) {
      const q = head + i;
      const pte = this.pt[at + q]!;
      yield this.tracing ? `khugepaged: load PTE g${g}p${q} (${fmt(pte)})` : '';
      if (!isPrivateFrame(pte) || (pte & (PTE_HUGE | PTE_KSM | PTE_NOACCESS))) break;
      const wp: number = yield* this.writeProtectPage(g, q, pte);
      if (!wp) break;
      this.content[base + i] = this.content[pteFrame(wp)]!;
      yield this.tracing ? `khugepaged: copy frame ${pteFrame(wp)} → ${base + i}` : '';
      const next = makePte(base + i, PTE_PRESENT | PTE_HUGE | (wp & PTE_MERGEABLE));
      const seen = this.cas(at + q, wp, next);
      if (seen === wp && i === 0) {
        this.headChanged(G, g, 1);
        this.hugeSettling = g;
      }
      yield this.tracing ? `khugepaged: CAS g${g}p${q} ${fmt(wp)} → ${fmt(next)}${seen === wp ? '' : ` failed (saw ${fmt(seen)})`}` : '';
      if (seen !== wp) break;
      yield* this.releaseAfterReplace(g, q, pteFrame(wp), false);
    }
    if (i < 0) {
      const now = this.countHuge(G, g, 1);
      this.thpEvents.khugepaged++;
      yield this.tracing ? `khugepaged: nr_anon_transparent_hugepages +1 = ${now}` : '';
      if (this.cfg.broken !== 'khugepaged-no-settle') yield* this.settle(g, head, base);
      this.hugeSettling = -1;
      return;
    }
    // Abandoned at page i: frames 0..i were never installed; i+1.. are, as 4 KiB pages.
    this.thpEvents.khugepagedAbandoned++;
    for (let j = 0; j <= i; j++) yield* this.freeFrame(base + j, 'khugepaged');
    for (let j = i + 1; j < SIM_HPAGE; j++) {
      for (;;) {
        const pte = this.pt[at + head + j]!;
        yield this.tracing ? `khugepaged: load PTE g${g}p${head + j} (${fmt(pte)})` : '';
        if (!(pte & PTE_HUGE) || !isPrivateFrame(pte) || pteFrame(pte) !== base + j) break;
        const seen = this.cas(at + head + j, pte, pte & ~PTE_HUGE);
        yield this.tracing ? `khugepaged: CAS g${g}p${head + j} ${fmt(pte)} → ${fmt(pte & ~PTE_HUGE)}${seen === pte ? '' : ' failed'}` : '';
        if (seen === pte) break;
      }
    }
  }
}
