// model-engines.ts — owns the other merge engines in the simulation, so the same model, scheduler and
// invariants run under each (SimConfig.engine): DKSM's merge inside the guest's madvise
// (src/engines/dksm/dksm-merge.ts) and UKSM's scanner (src/engines/uksm/uksm-merge.ts), each a
// transcription step by step, in place of ksmd (model-ksmd.ts).
//
//  DKSM (MADV_MERGEABLE of one page, in the guest's own actor): with read-only regions (DKSM's
//    intended use) first mprotect(PROT_READ) of the page (applyProtToPtes: load, CAS without W);
//    then the host-wide lock (CAS 0 → g+1; a holder: wait, one step per look); load PTE; not
//    present / zero / swapped / KSM: nothing (merging_failed, or already in the table); checksum
//    the frame; per table entry with that checksum: tryGetFrame (fails at mapcount 0: stale),
//    load the tag and re-hash (moved: putFrame, stale), then mergeInto: CAS W → WP_KSMD, compare,
//    record INFLIGHT_OLD = 0, VPAGE, FRAME = the private frame, CAS to P|KSM (keeping MERGEABLE),
//    INFLIGHT_FRAME = −1, free the private frame (documented residual window: after the record is
//    cleared, before free); else file the page: mapcount 1, tag, CAS pte → pte|KSM (W kept: the
//    patch's hazard), insert. Unlock (store 0). MADV_UNMERGEABLE is a no-op. A killed guest holding
//    the lock has it released by the host (DksmState.releaseIfOwner). No ksmd runs.
//    Hazard: with writable regions a first page's owner writes the shared frame in place; check()
//    names a page whose frame differs from its shadow while another page maps that frame P|KSM|W
//    "DKSM writable-region hazard" (counted, its shadow takes the new bytes) — a violation only
//    with read-only regions, where it must never happen.
//  UKSM (its scanner, actor G in ksmd's place; MADV_MERGEABLE is ignored, every page is mergeable):
//    rounds over every page, scanPage: load PTE (mergeable private, accessible, else skip); hash
//    (the content value stands for it); zero: writeProtect (CAS W → WP_KSMD, then up to SPINS loads
//    of the hazard word while it is a write on that page, else give up), compare with zero, CAS to
//    the KSM zero page, ksm_zero_pages+1, release (else reload the PTE); stable frames of that hash:
//    tryGetFrame, tag load (live), mergeInto (writeProtect, compare, CAS, release); this round's
//    unstable page of that hash: mergePair (load its PTE, compare the two
//    frames with no reference, writeProtect it, alloc K, copy, mapcount 1, tag, compare, +1, CAS it
//    to K, release; +1, mergeInto for the current page, −1 if that failed; putFrame K). A merge that
//    does not happen leaves the page write-protected (its next write faults it back). release =
//    hazard load, then free, or defer while the guest is on the page (processDeferred at each
//    round, as ksmd's). After the guests finish, two quiet rounds; pages_shared/pages_sharing are
//    its census of live stable frames at each round's end.

import { hazardWrite } from '../../mem/guest-control.ts';
import {
  PTE_FRAME_SHIFT, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO,
  isPrivateFrame, makePte,
} from '../../mem/pte.ts';
import { SimThpKsmd } from './model-thp-ksmd.ts';
import { K, LEAK_REFERENCE, ZERO, fmt, type Step } from './model-memory.ts';

export const DKSM_HAZARD = 'DKSM writable-region hazard';

interface DksmEntry {
  frame: number;
  sum: number;
  tag: number;
}

const WRITABLE_SHARED = PTE_PRESENT | PTE_KSM | PTE_WRITABLE;

export class SimEngines extends SimThpKsmd {
  /** DKSM's lock word: 0, or the holder's g + 1. */
  dksmLock = 0;
  protected readonly dksmTable: DksmEntry[] = [];
  protected dksmNextTag = 1;
  /** Differences explained by DKSM's writable-region hazard (writable regions only). */
  hazards = 0;
  hazardExample = '';
  // UKSM's scanner state (uksm-merge.ts): stable entries (frame, tag) by hash, this round's unstable pages.
  protected readonly uksmStable = new Map<number, Array<{ frame: number; tag: number }>>();
  protected uksmUnstable = new Map<number, number>();
  protected uksmNextTag = 1;

  get engine(): 'ksm' | 'dksm' | 'uksm' {
    return this.cfg.engine ?? 'ksm';
  }

  /** Actor G: ksmd, UKSM's scanner, or (DKSM) nothing at all. */
  *engineActor(): Step {
    if (this.engine === 'ksm') yield* this.ksmd();
    else if (this.engine === 'uksm') yield* this.uksmd();
  }

  // ───────────── DKSM ─────────────

  protected override *guestMergeable(g: number, p: number): Step {
    if (this.engine === 'ksm') yield* super.guestMergeable(g, p);
    else if (this.engine === 'dksm') yield* this.dksmAdvise(g, p);
    // UKSM: MADV_MERGEABLE is ignored (every private anonymous page already is).
  }

  protected override *guestUnmerge(g: number, p: number): Step {
    // DKSM: MADV_UNMERGEABLE is a no-op returning 0.
    if (this.engine !== 'dksm') yield* super.guestUnmerge(g, p);
  }

  protected *dksmAdvise(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    if (!this.cfg.dksmWritable) {
      // mprotect(PROT_READ) of the page first (applyProtToPtes): DKSM's intended use.
      for (;;) {
        const pte = this.pt[i]!;
        yield this.tracing ? `${who}: mprotect(PROT_READ) p${p}: load PTE (${fmt(pte)})` : '';
        const next = pte & ~PTE_WRITABLE;
        if (pte === 0 || next === pte) break;
        const seen = this.cas(i, pte, next);
        yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ' failed'}` : '';
        if (seen === pte) break;
      }
    }
    // The host-wide lock (DksmState.lock): CAS 0 → owner, else a timed wait and a new look.
    for (;;) {
      const held = this.dksmLock;
      if (held === 0) this.dksmLock = g + 1;
      yield this.tracing ? `${who}: DKSM lock: CAS 0 → ${g + 1}${held === 0 ? '' : ` failed (held by guest ${held - 1}): wait`}` : '';
      if (held === 0) break;
    }
    yield* this.dksmMergePage(g, p, who);
    this.dksmLock = 0;
    yield this.tracing ? `${who}: DKSM unlock` : '';
  }

  /** DksmMerger.mergePage, under the lock. */
  protected *dksmMergePage(g: number, p: number, who: string): Step {
    const i = g * this.cfg.pages + p;
    const pte = this.pt[i]!;
    yield this.tracing ? `${who}: DKSM: load PTE p${p} (${fmt(pte)})` : '';
    if (!(pte & PTE_PRESENT) || (pte & (PTE_ZERO | PTE_SWAPPED | PTE_NOACCESS)) || (pte & PTE_KSM)) return;
    const frame = pte >>> PTE_FRAME_SHIFT;
    const sum = this.content[frame]!;
    yield this.tracing ? `${who}: DKSM: checksum frame ${frame} = ${sum}` : '';
    for (const e of [...this.dksmTable]) {
      if (e.sum !== sum) continue;
      const f = e.frame;
      const got: boolean = yield* this.tryGetFrame(f, who);
      if (!got) {
        this.dksmRemove(e); // freed since it was filed
        continue;
      }
      this.enterWindow(g, 'DKSM: reference taken on a table frame, not yet in a PTE or put back', f, true, LEAK_REFERENCE);
      // (--broken no-recompare: neither the tag and re-hash nor the full compare, to see the checks fail.)
      const live = this.cfg.broken === 'no-recompare' || (this.tag[f] === e.tag && this.content[f] === sum);
      yield this.tracing ? `${who}: DKSM: load tag(${f}) = ${this.tag[f]}, re-hash = ${this.content[f]}${live ? '' : ' (stale: drop the entry)'}` : '';
      if (!live) {
        this.leaveWindow(g);
        yield* this.putFrame(f, who);
        this.dksmRemove(e);
        continue;
      }
      const r: string = yield* this.dksmMergeInto(g, p, pte, f, who);
      if (r === 'merged') return;
      this.leaveWindow(g);
      yield* this.putFrame(f, who);
      if (r === 'moved') return;
    }
    // File the page: refcounted like a KSM frame, its PTE keeps W (the patch's hazard).
    const tag = this.dksmNextTag++;
    this.mapcount[frame] = 1;
    this.tag[frame] = tag;
    yield this.tracing ? `${who}: DKSM: mapcount(${frame}) = 1, tag = ${tag}` : '';
    const seen = this.cas(i, pte, pte | PTE_KSM);
    yield this.tracing ? `${who}: DKSM: CAS PTE p${p} ${fmt(pte)} → ${fmt(pte | PTE_KSM)}${seen === pte ? '' : ' failed'}` : '';
    if (seen !== pte) {
      this.tag[frame] = 0;
      this.mapcount[frame] = 0;
      return;
    }
    this.dksmTable.push({ frame, sum, tag });
  }

  protected *dksmMergeInto(g: number, p: number, pte: number, f: number, who: string): Generator<string, 'merged' | 'differs' | 'moved', void> {
    const i = g * this.cfg.pages + p;
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    let seen = this.cas(i, pte, wp);
    yield this.tracing ? `${who}: DKSM: CAS PTE p${p} ${fmt(pte)} → ${fmt(wp)}${seen === pte ? '' : ' failed'}` : '';
    if (seen !== pte) return 'moved';
    const old = pte >>> PTE_FRAME_SHIFT;
    // (--broken no-recompare: merged without the full compare, to see the checks fail.)
    const equal = this.cfg.broken === 'no-recompare' || this.content[old] === this.content[f];
    yield this.tracing ? `${who}: DKSM: compare frame ${old} with frame ${f}: ${equal ? 'equal' : 'differ'}` : '';
    if (!equal) {
      seen = this.cas(i, wp, pte);
      yield this.tracing ? `${who}: DKSM: CAS PTE p${p} back to ${fmt(pte)}` : '';
      return 'differs';
    }
    this.ifOld[g] = 0;
    yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
    this.ifVpage[g] = p;
    yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${p}` : '';
    this.ifFrame[g] = old;
    yield this.tracing ? `${who}: store INFLIGHT_FRAME = ${old}` : '';
    const merged = makePte(f, PTE_PRESENT | PTE_KSM | (pte & PTE_MERGEABLE));
    seen = this.cas(i, wp, merged);
    // Invariant 3, except for the hazard itself: a writable first page may change f after the compare.
    if (seen === wp && this.content[old] !== this.content[f] && !this.dksmWritableOwner(f, i)) this.fail(`DKSM replaced a page of content ${this.content[old]} by a frame of content ${this.content[f]} (invariant 3)`);
    if (seen === wp) this.leaveWindow(g); // the reference is the PTE's now
    yield this.tracing ? `${who}: DKSM: CAS PTE p${p} ${fmt(wp)} → ${fmt(merged)}${seen === wp ? '' : ' failed'}` : '';
    if (seen !== wp) {
      this.ifFrame[g] = -1;
      yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
      return 'moved';
    }
    this.ifFrame[g] = -1;
    this.enterWindow(g, 'DKSM: record cleared, free() of the replaced private frame not yet done', old, true);
    yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
    yield* this.freeFrame(old, who, g);
    this.merges++;
    return 'merged';
  }

  protected dksmRemove(e: DksmEntry): void {
    const k = this.dksmTable.indexOf(e);
    if (k >= 0) this.dksmTable.splice(k, 1);
  }

  /**
   * Under DKSM with writable regions: page i's frame f differs from its shadow. If another page maps
   * f writable as its DKSM first page, that page wrote it in place: the hazard, named and counted
   * (the page's shadow takes the new bytes). Returns whether it explained the difference.
   */
  /** Does another page (not i) map f writable, as its DKSM first page? */
  protected dksmWritableOwner(f: number, i: number): boolean {
    for (let j = 0; j < this.pt.length; j++) {
      const e = this.pt[j]!;
      if (j !== i && (e & WRITABLE_SHARED) === WRITABLE_SHARED && e >>> PTE_FRAME_SHIFT === f) return true;
    }
    return false;
  }

  /**
   * Page i's frame f differs from its shadow: explained by DKSM's hazard when another page wrote f in
   * place through its writable first-page PTE, or wrote in place the frame page i's bytes were just
   * copied from (a copy-on-write or unmerge racing the write). Named and counted, and the page's
   * shadow takes the new bytes; with read-only regions it must never happen (a violation).
   */
  protected explainedByDksmHazard(i: number, f: number): boolean {
    if (this.engine !== 'dksm') return false;
    const sources = [`${f}:${this.gen[f]}`];
    if (this.copiedFrame[i]! >= 0) sources.push(`${this.copiedFrame[i]}:${this.copiedGen[i]}`);
    for (const key of sources) {
      const writers = [...(this.inPlace.get(key) ?? [])].filter((j) => j !== i);
      if (writers.length === 0) continue;
      const j = writers[0]!;
      if (!this.cfg.dksmWritable) this.fail(`${DKSM_HAZARD} with read-only regions: g${(j / this.cfg.pages) | 0}p${j % this.cfg.pages} wrote frame ${key.split(':')[0]} in place`);
      this.hazards++;
      if (!this.hazardExample) this.hazardExample = `g${(i / this.cfg.pages) | 0}p${i % this.cfg.pages} reads ${this.content[f]} from frame ${f}, written in place through g${(j / this.cfg.pages) | 0}p${j % this.cfg.pages}'s writable first page${key.startsWith(`${f}:`) ? '' : ` (frame ${key.split(':')[0]}, which it copied)`} (it last wrote ${this.shadow[i]})`;
      this.shadow[i] = this.content[f]!;
      return true;
    }
    return false;
  }

  // ───────────── UKSM ─────────────

  /** UksmScanner: rounds over every page while the guests run, then two quiet rounds. */
  *uksmd(): Step {
    const G = this.cfg.guests;
    this.kindOf[G] = K.ksmd_scan;
    let quiet = 0;
    for (;;) {
      const guestsRunning = this.guestsDone < G;
      yield* this.processDeferred();
      this.uksmUnstable = new Map();
      for (let i = 0; i < this.pt.length; i++) yield* this.uksmScanPage(i);
      this.uksmCensus();
      yield this.tracing ? `uksm: round ends: pages_shared ${this.pagesShared}, pages_sharing ${this.pagesSharing}` : '';
      if (!guestsRunning && ++quiet >= 2) break;
    }
    yield* this.processDeferred();
  }

  /** UksmMerger.sharing: live stable frames and the mappings beyond their first. */
  protected uksmCensus(): void {
    let shared = 0;
    let sharing = 0;
    for (const [h, entries] of this.uksmStable) {
      const live = entries.filter((e) => this.uksmLive(e));
      if (live.length) this.uksmStable.set(h, live);
      else this.uksmStable.delete(h);
      for (const e of live) {
        shared++;
        sharing += Math.max(0, this.mapcount[e.frame]! - 1);
      }
    }
    this.pagesShared = shared;
    this.pagesSharing = sharing;
  }

  protected uksmLive(e: { frame: number; tag: number }): boolean {
    return this.mapcount[e.frame]! > 0 && this.tag[e.frame] === e.tag;
  }

  protected *uksmScanPage(i: number): Step {
    const g = (i / this.cfg.pages) | 0;
    const p = i % this.cfg.pages;
    if (this.exited[g]) return;
    const pte = this.pt[i]!;
    yield this.tracing ? `uksm: load PTE g${g}p${p} (${fmt(pte)})` : '';
    if (!(pte & PTE_MERGEABLE) || !isPrivateFrame(pte) || (pte & PTE_NOACCESS)) return;
    const f = pte >>> PTE_FRAME_SHIFT;
    const h = this.content[f]!;
    yield this.tracing ? `uksm: hash frame ${f} = ${h}` : '';
    let cur = pte;
    if (h === 0) {
      if (yield* this.uksmMergeZero(g, p, pte)) return;
      cur = this.pt[i]!;
      yield this.tracing ? `uksm: load PTE g${g}p${p} (${fmt(cur)})` : '';
      if (!isPrivateFrame(cur) || cur >>> PTE_FRAME_SHIFT !== f) return;
    }
    for (const e of [...(this.uksmStable.get(h) ?? [])]) {
      const k = e.frame;
      const got: boolean = yield* this.tryGetFrame(k, 'uksm');
      if (!got) continue;
      const live = this.uksmLive(e);
      yield this.tracing ? `uksm: load tag(${k}) = ${this.tag[k]}${live ? '' : ' (not live)'}` : '';
      if (!live) {
        yield* this.putFrame(k, 'uksm');
        continue;
      }
      const r: string = yield* this.uksmMergeInto(g, p, cur, k);
      if (r === 'merged') return;
      yield* this.putFrame(k, 'uksm');
      if (r === 'moved') return;
      cur = (cur & ~PTE_WRITABLE) | PTE_WP_KSMD; // left write-protected
    }
    const other = this.uksmUnstable.get(h);
    if (other !== undefined && other !== i) {
      this.uksmUnstable.delete(h);
      yield* this.uksmMergePair(other, i, cur, h);
      return;
    }
    this.uksmUnstable.set(h, i);
  }

  /** UksmMerger.writeProtect: CAS W → WP_KSMD, wait while the guest writes that page; give up (CAS back) if it stays. */
  protected *uksmWriteProtect(g: number, p: number, pte: number): Generator<string, number, void> {
    const i = g * this.cfg.pages + p;
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    const seen = this.cas(i, pte, wp);
    yield this.tracing ? `uksm: write-protect g${g}p${p}: CAS ${fmt(pte)} → ${fmt(wp)}${seen === pte ? '' : ' failed'}` : '';
    if (seen !== pte) return -1;
    if (g === 0 && this.guestKilled && !this.exited[0]) this.wpOnDeadGuest = true;
    for (let s = 0; s < this.cfg.spins; s++) {
      const hz = this.hazard[g]!;
      yield this.tracing ? `uksm: load hazard(g${g}) = ${hz}` : '';
      if (hz !== hazardWrite(p)) return wp;
    }
    return -1; // the PTE stays write-protected (never CAS W back: it could undo an mprotect)
  }

  protected *uksmMergeZero(g: number, p: number, pte: number): Generator<string, boolean, void> {
    const i = g * this.cfg.pages + p;
    const wp: number = yield* this.uksmWriteProtect(g, p, pte);
    if (wp < 0) return false;
    const equal = this.content[wp >>> PTE_FRAME_SHIFT] === 0;
    yield this.tracing ? `uksm: compare frame ${wp >>> PTE_FRAME_SHIFT} with the zero page: ${equal ? 'equal' : 'differ'}` : '';
    if (!equal) return false;
    const next = makePte(ZERO, PTE_PRESENT | PTE_ZERO | PTE_KSM_ZERO | PTE_MERGEABLE | (pte & PTE_NOACCESS));
    const seen = this.casMerge(i, wp, next);
    yield this.tracing ? `uksm: CAS g${g}p${p} → KSM zero page${seen === wp ? '' : ' failed'}` : '';
    if (seen !== wp) return false;
    this.ksmZero[g]!++;
    yield this.tracing ? `uksm: ksm_zero_pages(g${g})+1` : '';
    yield* this.releaseAfterReplace(g, p, pte >>> PTE_FRAME_SHIFT, false);
    this.merges++;
    return true;
  }

  /** Map stable frame k (a reference held) at g/p; 'merged' hands the reference to the PTE. */
  protected *uksmMergeInto(g: number, p: number, pte: number, k: number): Generator<string, 'merged' | 'differs' | 'moved', void> {
    const i = g * this.cfg.pages + p;
    const wp: number = yield* this.uksmWriteProtect(g, p, pte);
    if (wp < 0) return 'moved';
    const equal = this.cfg.broken === 'no-recompare' || this.content[wp >>> PTE_FRAME_SHIFT] === this.content[k];
    yield this.tracing ? `uksm: compare frame ${wp >>> PTE_FRAME_SHIFT} with frame ${k}: ${equal ? 'equal' : 'differ'}` : '';
    if (!equal) return 'differs';
    const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (pte & PTE_NOACCESS));
    const seen = this.casMerge(i, wp, next);
    yield this.tracing ? `uksm: CAS g${g}p${p} ${fmt(wp)} → ${fmt(next)}${seen === wp ? '' : ' failed'}` : '';
    if (seen !== wp) return 'moved';
    yield* this.releaseAfterReplace(g, p, pte >>> PTE_FRAME_SHIFT, false);
    this.merges++;
    return 'merged';
  }

  /** UksmMerger.mergePair: copy the unstable page a into a new frame K, merge a and the current page b into it. */
  protected *uksmMergePair(a: number, b: number, pteB: number, h: number): Step {
    const ga = (a / this.cfg.pages) | 0;
    const pa = a % this.cfg.pages;
    const gb = (b / this.cfg.pages) | 0;
    const pb = b % this.cfg.pages;
    const aPte = this.pt[a]!;
    yield this.tracing ? `uksm: load PTE g${ga}p${pa} (${fmt(aPte)})` : '';
    if (this.exited[ga] || !(aPte & PTE_MERGEABLE) || !isPrivateFrame(aPte) || (aPte & PTE_NOACCESS)) {
      this.uksmUnstable.set(h, b);
      return;
    }
    // Unreferenced reads only choose (the frames may be freed and reused meanwhile).
    const same = this.content[aPte >>> PTE_FRAME_SHIFT] === this.content[pteB >>> PTE_FRAME_SHIFT];
    yield this.tracing ? `uksm: compare frames ${aPte >>> PTE_FRAME_SHIFT} and ${pteB >>> PTE_FRAME_SHIFT} (no reference): ${same ? 'equal' : 'differ'}` : '';
    if (!same) {
      this.uksmUnstable.set(h, b);
      return;
    }
    const aWp: number = yield* this.uksmWriteProtect(ga, pa, aPte);
    if (aWp < 0) return;
    const k = this.allocFrame();
    yield this.tracing ? `uksm: alloc frame ${k}` : '';
    if (k < 0) return;
    // A is write-protected and no guest writes it: its content is stable while we copy.
    this.content[k] = this.content[aPte >>> PTE_FRAME_SHIFT]!;
    yield this.tracing ? `uksm: copy frame ${aPte >>> PTE_FRAME_SHIFT} → ${k}` : '';
    this.mapcount[k] = 1;
    yield this.tracing ? `uksm: mapcount(${k}) = 1 (the scanner's)` : '';
    const tag = this.uksmNextTag++;
    this.tag[k] = tag;
    yield this.tracing ? `uksm: tag(${k}) = ${tag}` : '';
    let merged = false;
    const equal = this.content[aPte >>> PTE_FRAME_SHIFT] === this.content[k];
    yield this.tracing ? `uksm: compare frame ${aPte >>> PTE_FRAME_SHIFT} with ${k}: ${equal ? 'equal' : 'differ'}` : '';
    if (equal) {
      this.mapcount[k]!++;
      yield this.tracing ? `uksm: addMapcount(${k}, 1)` : '';
      const ksmA = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (aPte & PTE_NOACCESS));
      const seen = this.casMerge(a, aWp, ksmA);
      yield this.tracing ? `uksm: CAS g${ga}p${pa} ${fmt(aWp)} → ${fmt(ksmA)}${seen === aWp ? '' : ' failed'}` : '';
      if (seen === aWp) {
        yield* this.releaseAfterReplace(ga, pa, aPte >>> PTE_FRAME_SHIFT, false);
        merged = true;
        this.merges++;
      } else {
        this.mapcount[k]!--;
        yield this.tracing ? `uksm: addMapcount(${k}, −1)` : '';
      }
    }
    if (merged) {
      this.mapcount[k]!++;
      yield this.tracing ? `uksm: addMapcount(${k}, 1) for g${gb}p${pb}` : '';
      const r: string = yield* this.uksmMergeInto(gb, pb, pteB, k);
      if (r !== 'merged') {
        this.mapcount[k]!--;
        yield this.tracing ? `uksm: addMapcount(${k}, −1)` : '';
      }
      const list = this.uksmStable.get(h) ?? [];
      list.push({ frame: k, tag });
      this.uksmStable.set(h, list);
    }
    yield* this.putFrame(k, 'uksm'); // the scanner's reference: frees K if no PTE took it
  }
}
