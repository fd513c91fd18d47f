// model-guest.ts — owns the guest actor of the simulation: its accesses, faults and madvise/munmap
// calls, each a transcription of src/mem/space-access.ts and src/mem/address-space.ts.
//
// The model is a transcription of the real code paths, step by step (→ names the real code):
//  Guest access (AddressSpace.write/readInto/memset, src/mem/space-access.ts):
//    G1 Atomics.store(ctl, CTL_HAZARD, 2·vpage+1 for a write, 2·vpage for a read) → 'store hazard'
//       (a read that faults stores 2·vpage+1 first: readFault's upgrade; issue 11, finding 7)
//    G2 Atomics.load(pt, vpage)                     → yield 'load PTE'
//    G3 frame access (Buffer.copy / fill)           → yield 'write frame' / 'read frame'
//    G4 Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE) → yield 'clear hazard'
//  Write fault (writeFaultOrThrow), entered from G2 with the PTE it loaded:
//    swapped: swapIn (allocFor → read the slot into the new frame → swingWithNewFrame, whose drop
//      frees the slot), then the ordinary paths with the PTE reloaded
//    untouched, cfg.thp: hugeFault (model-thp.ts) for the whole block, else as below
//    untouched/zero: allocFor → zero fill → swingWithNewFrame
//    KSM: allocFor → copyFrame (read the KSM frame, write the copy) → swingWithNewFrame
//    write-protected private: CAS PTE to (pte|W)&~(WP_KSMD|NOACCESS) (reuse); a failed CAS retries
//  Read fault (readFaultOrThrow): swapped: swapIn (as above); else CAS 0 → zero-page PTE (the
//    VM_SHARED path is not modelled).
//  munmap / MADV_DONTNEED (releaseRange, one page; munmap only also removes the VMA, which the
//    model has no other use for): load PTE (skip 0) → store VPAGE → store NEXT = 0 →
//    [load PTE → store OLD → CAS to 0]* → dropReference (no hazard: the guest is its own only
//    accessor of a private frame).
//  MADV_UNMERGEABLE of one page (unmergeArea): hazard, load, allocFor, copy or zero fill,
//    swingWithNewFrame, clear hazard (KSM_ZERO: allocFor, zero fill, swing).
//  MADV_MERGEABLE of one page (makeMergeable): load, CAS pte|MERGEABLE.
//  MADV_PAGEOUT of one page (pageOutRange, cfg.ksmSwap): load PTE → canPageOut → (HUGE:
//    clearHugeBlock, look again) → alloc a slot → pageOutPte (model-memory.ts) | the CAS failed: put
//    the slot, look again.
//  cfg.thp: MADV_DONTNEED splits the block first (splitBlockOf); releasing a HUGE head counts
//    nr_anon_transparent_hugepages −1 after its CAS; MADV_COLLAPSE is model-thp.ts.

import { HAZARD_NONE, hazardRead, hazardWrite } from '../../mem/guest-control.ts';
import {
  PTE_FAST_WRITE, PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, makePte,
} from '../../mem/pte.ts';
import { ZERO, LEAK_NONE, LEAK_SLOT, K, SIM_HPAGE, fmt, type Step } from './model-memory.ts';
import { SimThp } from './model-thp.ts';

export class SimGuests extends SimThp {
  *guest(g: number): Step {
    for (const op of this.programs[g]!) {
      this.inOp[g] = 1;
      this.kindOf[g] = op.kind === 'write' ? K.guest_write : op.kind === 'read' ? K.guest_read : op.kind === 'dontneed' ? K.munmap_dontneed : op.kind === 'unmerge' ? K.unmerge : op.kind === 'pageout' ? K.pageout : op.kind === 'collapse' ? K.collapse : K.mergeable;
      if (op.kind === 'write') yield* this.guestWrite(g, op.p, op.v);
      else if (op.kind === 'read') yield* this.guestRead(g, op.p);
      else if (op.kind === 'dontneed') yield* this.guestDontneed(g, op.p);
      else if (op.kind === 'unmerge') yield* this.guestUnmerge(g, op.p);
      else if (op.kind === 'pageout') yield* this.guestPageout(g, op.p);
      else if (op.kind === 'collapse') yield* this.guestCollapse(g, op.p);
      else yield* this.guestMergeable(g, op.p);
      this.inOp[g] = 0;
    }
    this.guestsDone++;
  }

  protected *guestWrite(g: number, p: number, v: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = hazardWrite(p);
    yield this.tracing ? `${who}: write p${p}=${v}: store hazard` : '';
    let pte = this.pt[i]!;
    let gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
    yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
    if ((pte & PTE_FAST_WRITE) !== PTE_FAST_WRITE) {
      // writeFaultOrThrow
      for (;;) {
        let next: number;
        let nf = -1;
        if (pte & PTE_SWAPPED) {
          // Bring it back, then take the write through the ordinary paths on the next turn.
          const seen: number = yield* this.swapIn(g, p, pte, who);
          if (seen === -1) {
            this.hazard[g] = HAZARD_NONE;
            yield this.tracing ? `${who}: out of memory: clear hazard` : '';
            return;
          }
          if (seen === pte) {
            pte = this.pt[i]!;
            gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
            yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
          } else {
            pte = seen;
            gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
          }
          if ((pte & PTE_FAST_WRITE) === PTE_FAST_WRITE) break;
          continue;
        }
        if (pte === 0 && this.cfg.thp) {
          // An untouched page of an eligible block: the whole block as one huge page, if it can be.
          const huge: number = yield* this.hugeFault(g, p, who);
          if (huge !== 0) {
            pte = huge;
            gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
            break;
          }
        }
        if (!(pte & PTE_PRESENT) || (pte & PTE_ZERO)) {
          nf = yield* this.allocFor(g, p, who, '');
          if (nf < 0) {
            this.hazard[g] = HAZARD_NONE;
            yield this.tracing ? `${who}: out of memory: clear hazard` : '';
            return;
          }
          this.content[nf] = 0;
          yield this.tracing ? `${who}: zero frame ${nf}` : '';
          next = makePte(nf, PTE_PRESENT | PTE_WRITABLE | PTE_MERGEABLE);
        } else if (pte & PTE_KSM) {
          nf = yield* this.allocFor(g, p, who, ' for copy-on-write');
          if (nf < 0) {
            this.hazard[g] = HAZARD_NONE;
            yield this.tracing ? `${who}: out of memory: clear hazard` : '';
            return;
          }
          const k = pte >>> PTE_FRAME_SHIFT;
          this.checkAccess(k, gen, `${who} copy-on-write`);
          this.content[nf] = this.content[k]!;
          this.copiedFrame[i] = k;
          this.copiedGen[i] = this.gen[k]!;
          yield this.tracing ? `${who}: copy frame ${k} → ${nf}` : '';
          next = makePte(nf, PTE_PRESENT | PTE_WRITABLE | PTE_MERGEABLE);
        } else {
          next = (pte | PTE_WRITABLE) & ~PTE_WP_KSMD;
        }
        let seen: number;
        if (nf < 0) {
          seen = this.cas(i, pte, next);
          yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ` failed (saw ${fmt(seen)})`}` : '';
        } else {
          seen = yield* this.swing(g, p, pte, next, nf, who);
          if (seen === pte && (pte & PTE_KSM)) this.cows++;
        }
        if (seen === pte) {
          pte = next;
          gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
          break;
        }
        pte = seen;
        gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
      }
    }
    const f = pte >>> PTE_FRAME_SHIFT;
    this.checkAccess(f, gen, `${who} write`);
    if (f === ZERO) this.fail(`${who} writes the zero page`);
    this.content[f] = v;
    this.shadow[i] = v;
    this.copiedFrame[i] = -1;
    // A write through a writable KSM PTE (DKSM's first page) changes every mapping of the frame.
    if (pte & PTE_KSM) {
      const key = `${f}:${this.gen[f]}`;
      if (!this.inPlace.has(key)) this.inPlace.set(key, new Set());
      this.inPlace.get(key)!.add(i);
    }
    yield this.tracing ? `${who}: write frame ${f} = ${v}` : '';
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }

  protected *guestRead(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = hazardRead(p);
    yield this.tracing ? `${who}: read p${p}: store hazard` : '';
    let pte = this.pt[i]!;
    let gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
    yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
    if (!(pte & PTE_PRESENT)) {
      // readFault: the hazard says write from here (the fault may swing the PTE to a new frame).
      this.hazard[g] = hazardWrite(p); // readFault's upgrade
      yield this.tracing ? `${who}: read fault: store hazard (write)` : '';
    }
    while (!(pte & PTE_PRESENT)) {
      if (pte & PTE_SWAPPED) {
        const seen: number = yield* this.swapIn(g, p, pte, who);
        if (seen === -1) {
          this.hazard[g] = HAZARD_NONE;
          yield this.tracing ? `${who}: out of memory: clear hazard` : '';
          return;
        }
        if (seen === pte) {
          pte = this.pt[i]!;
          yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
        } else pte = seen;
        gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
        continue;
      }
      const next = makePte(ZERO, PTE_PRESENT | PTE_ZERO | PTE_MERGEABLE);
      const seen = this.cas(i, pte, next);
      yield this.tracing ? `${who}: CAS PTE p${p} → zero page${seen === pte ? '' : ' failed'}` : '';
      pte = seen === pte ? next : seen;
      gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
    }
    const f = pte >>> PTE_FRAME_SHIFT;
    this.checkAccess(f, gen, `${who} read`);
    const got = this.content[f]!;
    if (got !== this.shadow[i]) this.fail(`${who} read p${p} = ${got} from frame ${f}, but it last wrote ${this.shadow[i]} (invariants 1/2)`);
    yield this.tracing ? `${who}: read frame ${f} = ${got}` : '';
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }

  /** releaseRange of one page: record VPAGE, NEXT = 0, then OLD before each CAS to 0; drop. */
  protected *guestDontneed(g: number, p: number): Step {
    const who = `guest ${g}`;
    // releaseRange of part of a block: splitBlocksCutBy first.
    if (this.cfg.thp) yield* this.splitBlockOf(g, p, who);
    yield* this.releasePage(g, p, who, true);
  }

  /** AddressSpace.releaseRange for page p of guest g (by the guest, or by the host reclaiming it). */
  protected *releasePage(g: number, p: number, who: string, track: boolean): Step {
    const i = g * this.cfg.pages + p;
    const first = this.pt[i]!;
    yield this.tracing ? `${who}: release p${p}: load PTE (${fmt(first)})` : '';
    if (first === 0) return;
    this.ifVpage[g] = p;
    yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${p}` : '';
    this.ifNext[g] = 0;
    yield this.tracing ? `${who}: store INFLIGHT_NEXT = none` : '';
    for (;;) {
      const old = this.pt[i]!;
      yield this.tracing ? `${who}: load PTE p${p} (${fmt(old)})` : '';
      this.ifOld[g] = old;
      yield this.tracing ? `${who}: store INFLIGHT_OLD = ${fmt(old)}` : '';
      const seen = this.cas(i, old, 0);
      if (seen === old) this.shadow[i] = 0;
      const headGone = seen === old && (old & PTE_HUGE) !== 0 && p % SIM_HPAGE === 0;
      const actor = track ? g : this.cfg.guests + 1;
      if (headGone) this.headChanged(actor, g, -1);
      if (seen === old && track) this.enterWindow(g, 'PTE released, old reference not yet dropped', -1, false, LEAK_NONE);
      yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(old)} → none${seen === old ? '' : ` failed (saw ${fmt(seen)})`}` : '';
      if (seen === old) {
        if (headGone) {
          // The head of a huge page went: the block is no longer PMD-mapped (its tails follow).
          const now = this.countHuge(actor, g, -1);
          yield this.tracing ? `${who}: nr_anon_transparent_hugepages −1 = ${now}` : '';
        }
        yield* this.dropReference(g, old, who, track);
        return;
      }
    }
  }

  /** AddressSpace.pageOutRange over one page (no hazard word: madvise touches no frame's bytes but the copy after its CAS). */
  protected *guestPageout(g: number, p: number): Step {
    if (this.cfg.slots === 0) return;
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    for (;;) {
      const pte = this.pt[i]!;
      yield this.tracing ? `${who}: MADV_PAGEOUT p${p}: load PTE (${fmt(pte)})` : '';
      const ok: boolean = yield* this.canPageOut(pte, who);
      if (!ok) return;
      if (pte & PTE_HUGE) {
        // A huge page is paged out as small ones: split the block first.
        yield* this.clearHugeBlock(g, p - (p % SIM_HPAGE), g, who);
        continue;
      }
      const slot = this.allocSlot();
      if (slot >= 0) this.enterWindow(g, 'swap slot allocated, not yet in a PTE', slot, true, LEAK_SLOT);
      yield this.tracing ? `${who}: MADV_PAGEOUT: alloc slot ${slot}` : '';
      if (slot < 0) return;
      const out: boolean = yield* this.pageOutPte(g, p, pte, slot, who);
      if (out) return;
      yield* this.putSwapSlot(slot, who, g);
    }
  }

  protected *guestMergeable(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    for (;;) {
      const pte = this.pt[i]!;
      yield this.tracing ? `${who}: MADV_MERGEABLE p${p}: load PTE (${fmt(pte)})` : '';
      if (pte === 0 || (pte & PTE_MERGEABLE)) return;
      const seen = this.cas(i, pte, pte | PTE_MERGEABLE);
      yield this.tracing ? `${who}: CAS PTE p${p} |MERGEABLE${seen === pte ? '' : ' failed'}` : '';
      if (seen === pte) return;
    }
  }

  protected *guestUnmerge(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = hazardWrite(p); // it swings the PTE
    yield this.tracing ? `${who}: MADV_UNMERGEABLE p${p}: store hazard` : '';
    for (;;) {
      const pte = this.pt[i]!;
      const gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
      yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
      if (pte === 0) break;
      let next: number;
      let nf = -1;
      if ((pte & PTE_KSM) || (pte & PTE_KSM_ZERO)) {
        nf = yield* this.allocFor(g, p, who, ' to unmerge');
        if (nf < 0) break; // EAGAIN: the page keeps its shared content
        if (pte & PTE_KSM) {
          const k = pte >>> PTE_FRAME_SHIFT;
          this.checkAccess(k, gen, `${who} unmerge copy`);
          this.content[nf] = this.content[k]!;
          this.copiedFrame[i] = k;
          this.copiedGen[i] = this.gen[k]!;
        } else this.content[nf] = 0;
        yield this.tracing ? `${who}: fill frame ${nf}` : '';
        next = makePte(nf, PTE_PRESENT | PTE_WRITABLE);
      } else {
        next = pte & ~PTE_MERGEABLE;
        if (next === pte) break;
      }
      if (nf < 0) {
        const seen = this.cas(i, pte, next);
        yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ' failed'}` : '';
        if (seen === pte) break;
        continue;
      }
      const seen: number = yield* this.swing(g, p, pte, next, nf, who);
      if (seen === pte) break;
    }
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }
}
