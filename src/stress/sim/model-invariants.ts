// model-invariants.ts — owns the simulation's invariants (docs/protocol.md), checked after every step
// (check()) and at the end (checkFinal()): SimModel, the whole model, is the actors plus these checks.
//
// Invariants, checked after every step (check()) and at the end (checkFinal()):
//  1 no lost write, 2 no foreign read: every PTE that maps a frame maps one whose content is what
//    its guest last wrote (its shadow); a guest read returns its shadow; an access touches a frame
//    that is allocated and of the same allocation generation as when the PTE was loaded.
//  3 merge only equal content: at each CAS to a KSM or zero PTE the old frame equals the new one.
//  4 COW exact, counters: a KSM frame's mapcount ≥ its mappers at every step and = at the end;
//    pages_shared / pages_sharing / ksm_zero_pages equal a recount after two quiet passes.
//  5 frames freed only when no accessor holds them: no PTE maps a free frame, no access touches
//    one, no double free; at the end every frame is free or mapped (no leak); the same for swap
//    slots. A swap entry's slot holds what its guest last wrote (once swapOutOne has copied it).
//    A swap slot's count equals the PTEs naming it (at the end); its swap-cache frame is allocated,
//    holds the slot's bytes, and holds one reference of the cache's own.
//  6 huge pages (cfg.thp): see checkHuge.
//  sysfs: ksmd carries out exactly the value of `run` the writer of that request published, and
//    every writer finishes.

import {
  PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_PRESENT, PTE_SWAPPED, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, pteFrame,
} from '../../mem/pte.ts';
import { SimHost } from './model-host.ts';
import { LEAK_FOLIO, LEAK_FRAME, LEAK_REFERENCE, LEAK_ZERO_COUNT, LEAK_SLOT, SIM_HPAGE, fmt } from './model-memory.ts';

export class SimModel extends SimHost {
  protected readonly scratchA = new Int32Array(64);
  protected readonly scratchB = new Int32Array(64);

  protected where(i: number): string {
    return `g${(i / this.cfg.pages) | 0}p${i % this.cfg.pages}`;
  }

  /** After every step. */
  check(): void {
    const { pt, content, shadow, free, mapcount } = this;
    const frames = this.cfg.frames;
    const mappers = this.scratchA.fill(0);
    const priv = this.scratchB.fill(0);
    for (let i = 0; i < pt.length; i++) {
      const pte = pt[i]!;
      if (pte & PTE_SWAPPED) {
        // A swap entry: its slot holds what the guest last wrote (once swapOutOne has copied it).
        const slot = pteFrame(pte);
        if (this.slotFree[slot]) this.fail(`${this.where(i)} names swap slot ${slot}, which is free (invariant 5)`);
        if (!this.slotFilling[slot] && this.slotContent[slot] !== shadow[i]) {
          this.fail(`${this.where(i)} is swapped out to slot ${slot} holding ${this.slotContent[slot]}, but its guest last wrote ${shadow[i]} (invariants 1/2: swap holds foreign bytes)`);
        }
        continue;
      }
      if (!(pte & PTE_PRESENT)) {
        if (shadow[i] !== 0) this.fail(`${this.where(i)} is unmapped, but its guest last wrote ${shadow[i]} there (invariant 1: lost write)`);
        continue;
      }
      const f = pte >>> PTE_FRAME_SHIFT;
      if (pte & PTE_ZERO) {
        if (shadow[i] !== 0) this.fail(`${this.where(i)} maps the zero page, but its guest last wrote ${shadow[i]} (invariant 1: lost write)`);
        continue;
      }
      if (free[f]) this.fail(`${this.where(i)} maps frame ${f}, which is free (invariant 5)`);
      if (content[f] !== shadow[i] && !this.frameFilling[f] && !this.explainedByDksmHazard(i, f)) this.fail(`${this.where(i)} maps frame ${f} holding ${content[f]}, but its guest last wrote ${shadow[i]} (invariant ${pte & PTE_KSM ? '3' : '1'})`);
      if (pte & PTE_KSM) mappers[f]!++;
      else if (++priv[f]! > 1) this.fail(`private frame ${f} is mapped twice`);
    }
    for (let s = 0; s < this.cfg.slots; s++) {
      const f = this.slotCache[s]!;
      if (this.slotFree[s] || f === 0) continue;
      if (free[f]) this.fail(`swap slot ${s}'s cache names frame ${f}, which is free (invariant 5)`);
      if (priv[f]! > 0) this.fail(`swap slot ${s}'s cache names frame ${f}, which is a private page`);
      if (!this.slotFilling[s] && content[f] !== this.slotContent[s]) this.fail(`swap slot ${s} holds ${this.slotContent[s]}, but its swap-cache frame ${f} holds ${content[f]} (invariants 1/2)`);
    }
    for (let f = 1; f < frames; f++) {
      if (mappers[f]! > 0 && priv[f]! > 0) this.fail(`frame ${f} is both a KSM page and private`);
      if (mappers[f]! > 0 && mappers[f]! > mapcount[f]! && f !== this.pendingRef) this.fail(`KSM frame ${f} has ${mappers[f]} mappers but mapcount ${mapcount[f]} (invariant 4)`);
    }
    if (this.cfg.thp) this.checkHuge();
  }

  /**
   * Invariant 6 (cfg.thp), after every step: a HUGE PTE maps a private frame at its index in an
   * aligned folio; a block whose head has HUGE has HUGE on every tail, each mapping the head's folio
   * at its index (installs set the head last, splits clear it first: a block in transition has no
   * HUGE head); no KSM PTE is writable (a collapse copies a KSM page, it never hands its frame to a
   * sharer writable); nr_anon_transparent_hugepages + what threads have changed and not yet counted
   * (ghost) = the blocks whose head has HUGE.
   */
  /**
   * A block whose head may have HUGE before its tails agree: khugepaged between its head's install
   * and its settle; a guest's MADV_COLLAPSE replacing the block (its INFLIGHT_HUGE names it); a
   * split under way (a guest's that cleared tails and is about to look at the head again); a dead
   * guest's, until the host has released its pages.
   */
  protected inTransition(g: number): boolean {
    return this.hugeSettling === g || this.ifHuge[g]! >= 0 || this.splitting.includes(g + 1) || (g === 0 && this.guestKilled && !this.exited[0]);
  }

  protected checkHuge(): void {
    const { pt } = this;
    let heads = 0;
    for (let i = 0; i < pt.length; i++) {
      const pte = pt[i]!;
      if ((pte & PTE_KSM) && (pte & PTE_WRITABLE)) this.fail(`${this.where(i)} maps KSM frame ${pteFrame(pte)} writable (invariant 6)`);
      if (!(pte & PTE_HUGE)) continue;
      const q = (i % this.cfg.pages) % SIM_HPAGE;
      if (!isPrivateFrame(pte)) this.fail(`${this.where(i)} has HUGE on a PTE that maps no private frame (${fmt(pte)}) (invariant 6)`);
      if (pteFrame(pte) % SIM_HPAGE !== q) this.fail(`${this.where(i)} has HUGE on frame ${pteFrame(pte)}, not index ${q} of a folio (invariant 6)`);
      if (q !== 0) continue;
      heads++;
      if (this.inTransition((i / this.cfg.pages) | 0)) continue;
      for (let t = 1; t < SIM_HPAGE; t++) {
        const tail = pt[i + t]!;
        if (!(tail & PTE_HUGE) || pteFrame(tail) !== pteFrame(pte) + t) {
          this.fail(`${this.where(i)} heads a huge page (frame ${pteFrame(pte)}), but ${this.where(i + t)} is ${fmt(tail)}, not the folio's frame ${pteFrame(pte) + t} with HUGE (invariant 6)`);
        }
      }
    }
    let pending = 0;
    for (let a = 0; a < this.thpPending.length; a++) if (!this.thpRetired[this.thpPendingOn[a]!]) pending += this.thpPending[a]!;
    if (this.thpPages + pending !== heads) {
      this.fail(`nr_anon_transparent_hugepages ${this.thpPages}${pending ? ` (${pending > 0 ? '+' : ''}${pending} not yet counted)` : ''}, but ${heads} block(s) have a HUGE head (invariant 6)`);
    }
  }

  /** When every actor is done: exact accounting. */
  checkFinal(): void {
    this.check();
    const frames = this.cfg.frames;
    const mappers = new Int32Array(frames);
    const mapped = new Uint8Array(frames);
    let shared = 0;
    let sharing = 0;
    const zero = new Int32Array(this.cfg.guests);
    for (let i = 0; i < this.pt.length; i++) {
      const pte = this.pt[i]!;
      if (!(pte & PTE_PRESENT)) continue;
      if (pte & PTE_ZERO) {
        if (pte & PTE_KSM_ZERO) zero[(i / this.cfg.pages) | 0]!++;
        continue;
      }
      const f = pte >>> PTE_FRAME_SHIFT;
      mapped[f] = 1;
      if (pte & PTE_KSM) mappers[f]!++;
    }
    // A leak is a "known residual leak (documented)" only if it is exactly what the window guest 0
    // was killed in leaks, and that window is one the real code documents (after the allocator's
    // CAS and before INFLIGHT_FRAME; after claiming INFLIGHT_OLD and before the decrement or free;
    // between the final decrement reaching 0 and free; inside free; the failed swing's free of its
    // new frame after INFLIGHT_OLD was cleared). What it may leak: LEAK_FRAME, that one frame, neither
    // free nor mapped; LEAK_REFERENCE, one reference on that KSM frame (mapcount = mappers + 1; with
    // no mapper left, the frame is leaked at mapcount 1); LEAK_ZERO_COUNT, one ksm_zero_pages count
    // of guest 0. Anything else, or anything more, is a violation.
    const cached = new Uint8Array(frames);
    for (let s = 0; s < this.cfg.slots; s++) if (!this.slotFree[s] && this.slotCache[s]) cached[this.slotCache[s]!] = 1;
    const leaked: number[] = [];
    for (let f = 1; f < frames; f++) if (!this.free[f] && !mapped[f] && !cached[f]) leaked.push(f);
    const users = new Int32Array(this.cfg.slots);
    for (let i = 0; i < this.pt.length; i++) if (this.pt[i]! & PTE_SWAPPED) users[pteFrame(this.pt[i]!)]!++;
    const leakedSlots: number[] = [];
    const miscounted: number[] = [];
    for (let s = 0; s < this.cfg.slots; s++) {
      if (this.slotFree[s]) continue;
      if (!users[s]) leakedSlots.push(s);
      else if (this.slotCount[s] !== users[s]) miscounted.push(s);
    }
    const kf = this.killWindowFrame;
    let residual = false;
    if (this.guestKilled && this.killWindowDocumented) {
      // LEAK_SLOT: one count on slot kf, which no PTE's swap entry holds: the slot is leaked if no PTE
      // names it, else its count is one above its PTEs.
      if (this.killWindowLeak === LEAK_SLOT) {
        residual = leaked.length === 0 && kf >= 0 && this.slotCount[kf] === users[kf]! + 1
          && (users[kf] ? leakedSlots.length === 0 && miscounted.length === 1 && miscounted[0] === kf : leakedSlots.length === 1 && leakedSlots[0] === kf && miscounted.length === 0);
      } else if (leakedSlots.length || miscounted.length) residual = false;
      else if (this.killWindowLeak === LEAK_FOLIO) residual = leaked.length === SIM_HPAGE && leaked.every((f, j) => f === kf + j);
      else if (this.killWindowLeak === LEAK_FRAME) residual = leaked.length === 1 && leaked[0] === kf && this.mapcount[kf] === 0;
      else if (this.killWindowLeak === LEAK_REFERENCE) {
        const held = kf > 0 ? mappers[kf]! + cached[kf]! : 0;
        residual = kf > 0 && this.mapcount[kf] === held + 1 && (held > 0 ? leaked.length === 0 : leaked.length === 1 && leaked[0] === kf);
      } else if (this.killWindowLeak === LEAK_ZERO_COUNT) residual = leaked.length === 0 && this.ksmZero[0] === zero[0]! + 1;
    }
    if (leakedSlots.length && !residual) this.fail(`swap slot${leakedSlots.length > 1 ? 's' : ''} ${leakedSlots.join(', ')} neither free nor in a PTE: leaked (invariant 5)`);
    if (miscounted.length && !residual) this.fail(`swap slot ${miscounted[0]}: count ${this.slotCount[miscounted[0]!]}, but ${users[miscounted[0]!]} PTE(s) name it (invariant 5)`);
    if (leaked.length && !residual) this.fail(`frame${leaked.length > 1 ? 's' : ''} ${leaked.join(', ')} ${leaked.length > 1 ? 'are' : 'is'} neither free nor mapped: leaked (invariant 5)`);
    for (let f = 1; f < frames; f++) {
      if (this.mapcount[f]! < 0) this.fail(`frame ${f}: mapcount ${this.mapcount[f]} (a reference dropped twice, invariant 4)`);
      if (cached[f] && this.swapCacheBit[f] !== 1) this.fail(`frame ${f} is in the swap cache without PG_swapcache`);
      if (!cached[f] && this.swapCacheBit[f] && !(residual && f === kf)) this.fail(`frame ${f} has PG_swapcache but no slot's cache names it`);
      if (mappers[f]! > 0 || cached[f]) {
        if (this.mapcount[f] !== mappers[f]! + cached[f]! && !(residual && f === kf)) this.fail(`KSM frame ${f}: mapcount ${this.mapcount[f]}, mappers ${mappers[f]}${cached[f] ? ' + the swap cache' : ''} (invariant 4)`);
      }
      if (mappers[f]! > 0) {
        shared++;
        sharing += mappers[f]! - 1;
      }
    }
    if (this.deferred.length) this.fail(`ksmd still holds ${this.deferred.length / 4} deferred frees`);
    for (let g = 0; g < this.cfg.guests; g++) if (this.ifHuge[g] !== -1) this.fail(`guest ${g}: INFLIGHT_HUGE still names folio ${this.ifHuge[g]} at the end`);
    for (let g = 0; g < this.cfg.guests; g++) {
      if (this.ksmZero[g] !== zero[g] && !(residual && g === 0 && this.killWindowLeak === LEAK_ZERO_COUNT)) this.fail(`guest ${g} ksm_zero_pages ${this.ksmZero[g]}, recount ${zero[g]} (invariant 4)`);
    }
    // (DKSM keeps no pages_shared/pages_sharing: its counters are events.)
    if (this.engine !== 'dksm' && (this.pagesShared !== shared || this.pagesSharing !== sharing)) {
      this.fail(`pages_shared/pages_sharing ${this.pagesShared}/${this.pagesSharing}, recount ${shared}/${sharing} (invariant 4)`);
    }
    if (residual) {
      this.residualLeaks = 1;
      const what = this.killWindowLeak === LEAK_SLOT ? `one count on swap slot ${kf}` : this.killWindowLeak === LEAK_FRAME ? `frame ${kf}`
        : this.killWindowLeak === LEAK_FOLIO ? `folio ${kf}..${kf + SIM_HPAGE - 1}`
        : this.killWindowLeak === LEAK_REFERENCE ? `a reference on KSM frame ${kf} (mapcount ${this.mapcount[kf]}, mappers ${mappers[kf]}${mappers[kf] ? '' : ': the frame is leaked'})`
          : `one ksm_zero_pages count of guest 0 (${this.ksmZero[0]}, recount ${zero[0]})`;
      this.residualWhy = `${what}: guest 0 was killed in the window "${this.killWindow}"`;
    }
  }
}
