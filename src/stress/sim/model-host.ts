// model-host.ts — owns the host's actors in the simulation: reclaiming a killed guest
// (src/mem/space-inflight.ts: AddressSpace.reclaim), repairing after a killed ksmd
// (src/stress/recount.ts), and the sysfs writers (src/ksm/ksm-state.ts: KsmState.requestSync).
//
//  sysfs writers (KsmState.requestSync, REQ_SET_RUN only): CAS lock 0 → pid; load SEQ; store SEQ|1;
//    store OP; store ARG; store SEQ|1 + 1; [load ACK]* until it is that SEQ; load RESULT; CAS lock
//    pid → 0. ksmd serves between batches (every two pages and at the start of a pass): load SEQ;
//    odd → nothing; load ACK; equal → nothing; load OP, ARG, SEQ again (changed → nothing); carry
//    out run=0/1/2 (2: unmergeAll; ENOMEM → run=0); store RESULT; store ACK. A writer killed
//    (--kill-guests, in half of the configurations with writers) is reaped by the host, which
//    tells ksmd: CAS lock pid → 0 (KsmEngine.guestExited → releaseRequestLockOf). Writers and
//    ksmd finish in turns; a writer that cannot finish is a violation. --broken
//    old-sysfs-protocol: lock 0/1, OP, ARG, DONE = 0 (DONE 0 from the start), ksmd loads OP, DONE,
//    ARG; no release of a dead writer's lock (findings 2 and 3).
//  Kills: with --kill-guests guest 0 can be terminated between ANY two of its steps (worker.terminate()
//  can land at any Atomics call: measured on Node 20, a worker looping `Atomics.add(a); Atomics.add(b)`
//  is often stopped between the two, one looping `Atomics.add(a); plain b++` never is). The host then
//  runs AddressSpace.reclaim: (cfg.thp: reclaimInflightFolio first) reclaimInflight — load VPAGE, FRAME, OLD, the PTE at VPAGE; free FRAME
//  unless that PTE maps it privately; store FRAME = −1; if OLD ≠ 0, load NEXT and dropReference(OLD)
//  if swingHappened(PTE, NEXT) (NEXT 0: PTE = 0; NEXT a new private frame: the PTE maps that frame
//  privately, WP_KSMD or not); store OLD = 0 — all with the dead guest's hazard word still set;
//  then clear the hazard word, releaseRange over every page, teardown (hazard, releaseRange again,
//  cfg.thp: retire the guest's huge-page slot, EXITED). With --kill-ksmd ksmd dies between any two steps (repair + restart follow).
//  Leak windows: the model tracks (ghost state) when guest 0 holds something that no in-flight
//  word records: a frame, a reference on a KSM frame, a ksm_zero_pages count, or a swap slot
//  (allocated and in no PTE yet; claimed and not yet freed). Dying there leaks
//  it. checkFinal counts it as a "known residual leak (documented)" — not a violation — only if it
//  is exactly what that window leaks (nothing else is off) and the window is one the real code
//  documents (the list in src/mem/space-inflight.ts's header): after the allocator's CAS and
//  before CTL_INFLIGHT_FRAME is stored (allocFor); after claiming CTL_INFLIGHT_OLD and before the
//  decrement or free() (dropReference);
//  between the final mapcount decrement reaching 0 and free(); inside free(); and after a failed
//  swing cleared CTL_INFLIGHT_OLD and before its free() of the new frame. Any other leak — e.g. a
//  failed swing killed between storing FRAME = −1 and OLD = 0, where the new frame is recorded
//  nowhere and no comment of the real code mentions it — is a violation.

import { REQ_SET_RUN } from '../../ksm/ksm-state.ts';
import { HAZARD_NONE } from '../../mem/guest-control.ts';
import {
  PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, isPrivateFrame, pteFrame,
} from '../../mem/pte.ts';
import { swingHappened } from '../../mem/space-inflight.ts';
import { SimEngines } from './model-engines.ts';
import { K, SIM_HPAGE, writerToken, fmt, type Step } from './model-memory.ts';

export class SimHost extends SimEngines {
  /**
   * Host.supervise → AddressSpace.reclaim, after worker.terminate() stopped guest `g` between two of
   * its steps: reclaimInflight (with the dead guest's hazard word still set), then clear the hazard
   * word, releaseRange over every page, teardown (hazard, releaseRange over the VMAs — all empty by
   * then —, cfg.thp: retire its huge-page slot, state EXITED; ksmd then frees what it deferred for the guest).
   */
  *reclaim(g: number): Step {
    const who = `host (reclaiming guest ${g})`;
    this.kindOf[this.cfg.guests + 1] = K.host_reclaim;
    if (this.cfg.thp) yield* this.reclaimInflightFolio(g, who);
    // reclaimInflight
    const vpage = this.ifVpage[g]!;
    yield this.tracing ? `${who}: load INFLIGHT_VPAGE = p${vpage}` : '';
    const frame = this.ifFrame[g]!;
    yield this.tracing ? `${who}: load INFLIGHT_FRAME = ${frame}` : '';
    const old = this.ifOld[g]!;
    yield this.tracing ? `${who}: load INFLIGHT_OLD = ${fmt(old)}` : '';
    if (vpage >= 0 && vpage < this.cfg.pages) {
      const pte = this.pt[g * this.cfg.pages + vpage]!;
      yield this.tracing ? `${who}: load PTE p${vpage} (${fmt(pte)})` : '';
      if (frame >= 0 && !(isPrivateFrame(pte) && pte >>> PTE_FRAME_SHIFT === frame)) yield* this.freeFrame(frame, who);
      this.ifFrame[g] = -1;
      yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
      if (old !== 0) {
        const next = this.ifNext[g]!;
        const happened = swingHappened(pte, next, old);
        yield this.tracing ? `${who}: load INFLIGHT_NEXT = ${fmt(next)}${happened ? ' (the swing happened: drop the old reference)' : ' (no swing)'}` : '';
        if (happened) yield* this.dropReference(g, old, who, false);
      }
      this.ifOld[g] = 0;
      yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
    }
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
    // DKSM: a dead holder's lock is released (Host.supervise → DksmState.releaseIfOwner).
    if (this.dksmLock === g + 1) {
      this.dksmLock = 0;
      yield this.tracing ? `${who}: release the DKSM lock the dead guest held` : '';
    }
    for (let p = 0; p < this.cfg.pages; p++) yield* this.releasePage(g, p, who, false);
    // teardown
    this.hazard[g] = HAZARD_NONE;
    yield this.tracing ? `${who}: teardown: clear hazard` : '';
    for (let p = 0; p < this.cfg.pages; p++) yield* this.releasePage(g, p, who, false);
    if (this.cfg.thp && this.cfg.broken !== 'thp-count-unrepaired') yield* this.retireHugeCount(g, who);
    this.exited[g] = 1;
    yield this.tracing ? `${who}: store state EXITED` : '';
    this.guestsDone++;
  }

  /**
   * AddressSpace.reclaimInflightFolio (cfg.thp): load INFLIGHT_HUGE and INFLIGHT_HUGE_HEAD; a folio
   * recorded: each frame its block's PTE does not map privately is freed (load PTE, free); store
   * INFLIGHT_HUGE = −1. A head the guest installed or cleared and had not yet counted stays
   * uncounted in its slot (ghost: its thpPending stays until teardown retires the slot). --broken
   * thp-count-unrepaired: one host-wide count, nothing retired: that change is never counted.
   */
  protected *reclaimInflightFolio(g: number, who: string): Step {
    if (this.cfg.broken === 'thp-count-unrepaired') this.thpPending[g] = 0;
    this.splitting[g] = 0;
    const base = this.ifHuge[g]!;
    yield this.tracing ? `${who}: load INFLIGHT_HUGE = ${base}` : '';
    const head = this.ifHugeHead[g]!;
    yield this.tracing ? `${who}: load INFLIGHT_HUGE_HEAD = p${head}` : '';
    if (base < 0) return;
    for (let i = 0; i < SIM_HPAGE; i++) {
      const pte = head >= 0 && head + i < this.cfg.pages ? this.pt[g * this.cfg.pages + head + i]! : 0;
      yield this.tracing ? `${who}: load PTE p${head + i} (${fmt(pte)})` : '';
      if (!(isPrivateFrame(pte) && pteFrame(pte) === base + i)) yield* this.freeFrame(base + i, who);
    }
    this.ifHuge[g] = -1;
    yield this.tracing ? `${who}: store INFLIGHT_HUGE = -1` : '';
  }

  /**
   * thp.ts retireHugeCount, at the end of teardown: load CTL_THP_SLOT, retire the slot (one step:
   * vmstat.retireHuge's compare-and-exchange bumping the generation and zeroing the count; the
   * bitmap's free follows, which the model's fixed guests never reclaim). Its count no longer adds to
   * nr_anon_transparent_hugepages, and neither does what any thread still owes it (the dead guest's
   * uncounted change, ksmd's split under way: ghost, dropped with it: countHuge drops a late add).
   */
  protected *retireHugeCount(g: number, who: string): Step {
    const left = this.thpOf[g]!;
    this.thpRetired[g] = 1;
    this.thpOf[g] = 0;
    if (left !== 0) this.thpCountRepairs++;
    yield this.tracing ? `${who}: retire guest ${g}'s huge-page slot (it counts ${left}${left ? ': a change was never counted, or is still to be' : ''}): nr_anon_transparent_hugepages = ${this.thpPages}` : '';
  }

  /**
   * After ksmd was killed (stress-run.ts, src/stress/recount.ts repairAfterKsmdDeath): wait until
   * every guest is paused between two operations, then, in that stopped world, make mapcounts,
   * frees, ksm_zero_pages, swap counts and the swap cache's references agree with the page tables
   * and the slots' cache words (one step), and forget ksmd's heap: the
   * next ksmd (the caller starts one) rebuilds its stable nodes from KSM PTEs (nodeOfKsmFrame).
   */
  *repairAfterKsmdDeath(): Step {
    this.kindOf[this.cfg.guests + 1] = K.host_repair;
    for (;;) {
      let busy = false;
      for (let g = 0; g < this.cfg.guests; g++) if (this.inOp[g] && !this.exited[g]) busy = true;
      if (!busy) break;
      yield this.tracing ? 'host: ksmd is dead; waiting for the guests to pause between operations' : '';
    }
    const frames = this.cfg.frames;
    const mappers = new Int32Array(frames);
    const mapped = new Uint8Array(frames);
    const users = new Int32Array(this.cfg.slots);
    this.ksmZero.fill(0);
    for (let i = 0; i < this.pt.length; i++) {
      const pte = this.pt[i]!;
      if (pte & PTE_SWAPPED) users[pteFrame(pte)]!++;
      if (!(pte & PTE_PRESENT)) continue;
      if (pte & PTE_ZERO) {
        if (pte & PTE_KSM_ZERO) this.ksmZero[(i / this.cfg.pages) | 0]!++;
        continue;
      }
      const f = pte >>> PTE_FRAME_SHIFT;
      mapped[f] = 1;
      if (pte & PTE_KSM) mappers[f]!++;
    }
    // The swap cache's words decide which frames it holds (one reference each, PG_swapcache).
    const cached = new Uint8Array(frames);
    for (let s = 0; s < this.cfg.slots; s++) if (!this.slotFree[s] && this.slotCache[s]) cached[this.slotCache[s]!] = 1;
    let fixed = 0;
    for (let f = 1; f < frames; f++) {
      this.swapCacheBit[f] = cached[f]!;
      if (mapped[f] || cached[f]) {
        const want = mappers[f]! + cached[f]!;
        if (this.mapcount[f] !== want) fixed++;
        this.mapcount[f] = want;
      } else if (!this.free[f]) {
        this.tag[f] = 0;
        this.free[f] = 1;
        fixed++;
      }
    }
    // A dead ksmd's hold on a slot it was swapping a KSM page out to: the count follows the PTEs;
    // a slot no PTE names goes, with its cache reference.
    for (let s = 0; s < this.cfg.slots; s++) {
      if (this.slotFree[s] || (users[s]! > 0 && this.slotCount[s] === users[s])) continue;
      fixed++;
      this.slotCount[s] = users[s]!;
      if (users[s]) continue;
      const f = this.slotCache[s]!;
      this.slotCache[s] = 0;
      this.slotFree[s] = 1;
      this.slotFilling[s] = 0;
      if (f) {
        this.swapCacheBit[f] = 0;
        if (--this.mapcount[f]! === 0) {
          this.tag[f] = 0;
          this.free[f] = 1;
        }
      }
    }
    this.pendingRef = -1;
    // A head the dead ksmd (khugepaged, a split) changed and had not yet counted: each guest's slot is
    // recounted from its heads (recount.ts recountHugePages; --broken thp-count-unrepaired: not).
    let recounted = 0;
    if (this.cfg.thp && this.cfg.broken !== 'thp-count-unrepaired') {
      for (let g = 0; g < this.cfg.guests; g++) {
        if (this.thpRetired[g]) continue;
        let heads = 0;
        for (let p = 0; p < this.cfg.pages; p += SIM_HPAGE) if (this.pt[g * this.cfg.pages + p]! & PTE_HUGE) heads++;
        if (this.thpOf[g] === heads) continue;
        this.thpOf[g] = heads;
        this.thpCountRepairs++;
        recounted++;
      }
    }
    this.thpPending[this.cfg.guests] = 0;
    this.hugeSettling = -1;
    this.splitting[this.cfg.guests] = 0;
    this.items.fill(undefined);
    this.nodes.length = 0;
    this.unstable = [];
    this.deferred = [];
    this.seqnr = 0;
    this.pagesShared = this.pagesSharing = this.pagesUnshared = 0;
    yield this.tracing ? `host: guests paused; repair from the page tables (${fixed} frames fixed${recounted ? `, ${recounted} huge-page count${recounted > 1 ? 's' : ''} recounted` : ''}); start a new ksmd` : '';
  }

  /**
   * KsmState.requestSync of sysfs writer w, once per value of `run` in its program: take the lock
   * (CAS 0 → its token), publish (SEQ odd, OP, ARG, SEQ even), wait until ACK names its request,
   * load RESULT, release (CAS token → 0). The old protocol: CAS 0 → 1, OP, ARG, DONE = 0, wait
   * for DONE = 1, then OP = 0 and lock = 0.
   */
  *writer(w: number): Step {
    const who = `writer ${w}`;
    const old = this.cfg.broken === 'old-sysfs-protocol';
    const me = old ? 1 : writerToken(w);
    for (const value of this.cfg.writers![w]!) {
      for (;;) {
        const holder = this.reqLock;
        if (holder === 0) this.reqLock = me;
        yield this.tracing ? `${who}: run=${value}: CAS request lock 0 → ${me}${holder === 0 ? '' : ` failed (held by ${holder})`}` : '';
        if (holder === 0) break;
      }
      this.intent = value;
      if (old) {
        this.reqOp = REQ_SET_RUN;
        yield this.tracing ? `${who}: store OP = ${REQ_SET_RUN}` : '';
        this.reqArg = value;
        yield this.tracing ? `${who}: store ARG = ${value}` : '';
        this.reqSeq = 0;
        yield this.tracing ? `${who}: store DONE = 0` : '';
        for (;;) {
          const done = this.reqSeq;
          yield this.tracing ? `${who}: load DONE = ${done}` : '';
          if (done === 1) break;
        }
      } else {
        const s = this.reqSeq;
        yield this.tracing ? `${who}: load SEQ = ${s}` : '';
        const writing = s | 1;
        this.reqSeq = writing;
        yield this.tracing ? `${who}: store SEQ = ${writing} (writing)` : '';
        this.reqOp = REQ_SET_RUN;
        yield this.tracing ? `${who}: store OP = ${REQ_SET_RUN}` : '';
        this.reqArg = value;
        yield this.tracing ? `${who}: store ARG = ${value}` : '';
        const seq = writing + 1;
        this.published.set(seq, value);
        this.reqSeq = seq;
        yield this.tracing ? `${who}: store SEQ = ${seq} (published)` : '';
        for (;;) {
          const ack = this.reqAck;
          yield this.tracing ? `${who}: load ACK = ${ack}` : '';
          if (ack === seq) break;
        }
      }
      const result = this.reqResult;
      yield this.tracing ? `${who}: load RESULT = ${result}` : '';
      if (old) {
        this.reqOp = 0;
        yield this.tracing ? `${who}: store OP = 0` : '';
        this.reqLock = 0;
        yield this.tracing ? `${who}: store request lock = 0` : '';
      } else {
        const seen = this.reqLock;
        if (seen === me) this.reqLock = 0;
        yield this.tracing ? `${who}: CAS request lock ${me} → 0${seen === me ? '' : ' failed'}` : '';
      }
      this.intent = -1;
    }
    this.writersDone++;
  }

  /**
   * After sysfs writer w was killed: the host reaps it and tells ksmd (KsmdController.guestExited
   * → KsmEngine.guestExited → KsmState.releaseRequestLockOf(pid)): CAS lock token → 0. The old
   * protocol had no owner to compare: the lock stays held.
   */
  *reapWriter(w: number): Step {
    this.kindOf[this.cfg.guests + 1] = K.sysfs_request;
    if (this.cfg.broken !== 'old-sysfs-protocol') {
      const seen = this.reqLock;
      if (seen === writerToken(w)) this.reqLock = 0;
      yield this.tracing ? `ksmd (told writer ${w} exited): CAS request lock ${writerToken(w)} → 0${seen === writerToken(w) ? '' : ' failed'}` : '';
    }
    this.writersDone++;
  }
}
