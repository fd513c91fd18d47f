// model-ksmd.ts — owns the ksmd actor of the simulation: scan, merge, run=2 and serving sysfs
// requests, a transcription of src/ksm/ksm-engine.ts (and ksmd-worker.ts's request loop).
//
//  ksmd (KsmEngine): nextItem (load PTE) → cmpAndMerge: nodeOfKsmFrame (tag load, tryGetFrame =
//    load + CAS loop, tag store, putFrame) | removeFromTree (getNodeFrame = tryGetFrame + tag load;
//    putFrame) → probe: stableSearch under the last visit's checksum, no compare (per candidate:
//    tryGetFrame + tag load, or nodeFrameLive = mapcount load + tag load) → mergeIntoKsm (different
//    after write-protect: load PTE, go on) | checksum (frame read) → volatile check |
//    mergeWithZeroPage | stableSearch (as the probe, plus a compare) → mergeIntoKsm (writeProtect
//    = CAS to WP_KSMD + up to SPINS hazard loads; compare; CAS to the KSM PTE; releaseAfterReplace
//    = hazard load, then free or defer) | unstableSearchInsert (per candidate: load
//    its PTE, compare) → mergeTwo (writeProtect A, load B, writeProtect B, compare, CAS A,
//    addMapcount 2, addMapcount 1, CAS B | breakCow: addMapcount −1, [load A's PTE; still KSM k:
//    CAS it to private (retry on failure), then CAS mapcount 2 → 0 | else putFrame];
//    releaseAfterReplace B, tag store (the node filed under k's content now), putFrame).
//    writeProtect waits only while the hazard word is a write on that page (cfg.thp: it splits a huge
//    page first, model-thp-ksmd.ts, and refuses a page of a huge block: a load of the head); releaseAfterReplace
//    and processDeferred defer while it is any access to it. processDeferred (hazard load, free)
//    at the start of every batch. Tree bookkeeping (items, nodes, counters) is ksmd-local: no steps.
//  run=2 (unmergeAll) runs after a chosen pass in some interleavings, and whenever a sysfs writer
//    asks for it.
//  reclaimPages (KsmEngine.reclaim; cfg.ksmSwap), at the start of every pass: the free frame count (model
//    watermark: ≤ 1; no step) → the next live node with items: getNodeFrame → swapOutKsmPage: test-and-set
//    PG_swapcache (was set: putFrame, skip) → alloc a slot → write it → addToSwapCache → per item: load
//    PTE; still KSM k: swap count +1, CAS to the swap entry (failed: putSwapSlot), won:
//    releaseAfterReplace(k) → load mapcount; 1: CAS the cache word → 0, dropSwapCache → putSwapSlot.
//    Then one private page of any guest (clock hand over all PTEs): swapOutPrivatePage: alloc a slot
//    → writeProtect (any private page: CAS to WP_KSMD, wait for a writer) → copy the frame into the
//    slot → CAS the write-protected value to the swap entry (failed: putSwapSlot) →
//    releaseAfterReplace (free the frame, deferred while the guest is on the page).
//    stableSearch skips a node whose frame only the swap cache holds (PG_swapcache, mapcount ≤ 2
//    with ksmd's reference): no merges into it.

import { REQ_SET_RUN } from '../../ksm/ksm-state.ts';
import { ITEM_NONE, ITEM_STABLE, ITEM_UNSTABLE } from '../../ksm/rmap-items.ts';
import { ERRNO } from '../../mem/errno.ts';
import { HAZARD_NONE, hazardPage, hazardWrite } from '../../mem/guest-control.ts';
import {
  PRESENT_ANON, PRESENT_ANON_MASK, PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte,
} from '../../mem/pte.ts';
import { SimGuests } from './model-guest.ts';
import { ZERO, K, SIM_HPAGE, fmt, type MergeResult, type Item, type StableNode, type Step } from './model-memory.ts';

export class SimKsmd extends SimGuests {
  protected taken = 0; // ksmd-local: the sequence number being served
  /** Ghost: the frame mergeTwo made KSM by CAS A and has not yet counted (its mapcount may be < mappers). */
  protected pendingRef = -1;
  protected run2Failed = false;
  // ksmd-local state (KsmEngine)
  protected readonly items: (Item | undefined)[] = new Array(this.cfg.guests * this.cfg.pages).fill(undefined);
  protected readonly nodes: StableNode[] = [];
  protected unstable: Item[] = [];
  protected seqnr = 0;
  protected passes = 0;
  unmerges = 0;
  protected deferred: number[] = [];
  protected reclaimHand = 0;
  protected privateHand = 0;
  pagesShared = 0;
  pagesSharing = 0;
  pagesUnshared = 0;
  merges = 0;

  /** ksmd: scan passes while any guest runs, then two quiet full passes. */
  *ksmd(): Step {
    this.kindOf[this.cfg.guests] = K.ksmd_scan;
    let quiet = 0;
    const writers = this.cfg.writers?.length ?? 0;
    for (;;) {
      const guestsRunning = this.guestsDone < this.cfg.guests || this.writersDone < writers;
      yield* this.processDeferred();
      if (this.cfg.ksmSwap) yield* this.reclaimPages();
      if (this.cfg.thp) yield* this.khugepagedTurn();
      if (writers) {
        const unmerged: boolean = yield* this.serveRequest();
        if (unmerged) quiet = 0;
      }
      // With every actor done the harness writes run=1 again (a writer may have been killed
      // after its run=2, or a run=2 may have failed): the final accounting follows two quiet passes.
      if (!guestsRunning && this.run !== 1) this.run = 1;
      if (this.run !== 1) {
        yield this.tracing ? `ksmd: run=${this.run}: sleeping` : '';
        continue;
      }
      this.unstable = [];
      for (let i = 0; i < this.pt.length; i++) {
        yield* this.scanItem(i);
        // Requests are served between batches (a batch is two pages here).
        if (writers && (i & 1)) {
          const unmerged: boolean = yield* this.serveRequest();
          if (unmerged) quiet = 0;
          if (this.run !== 1) break;
        }
      }
      this.seqnr++;
      // After a run=2 (which may fail with ENOMEM half-way, leaving KSM pages with no node), the
      // final accounting waits for two more quiet passes, as if run=1 had been written again.
      if (++this.passes === this.cfg.run2AfterPass) {
        yield* this.unmergeAll();
        quiet = 0;
      }
      if (!guestsRunning && ++quiet >= 2) break;
    }
    yield* this.processDeferred();
  }

  /** khugepaged's turn on the ksmd thread between passes (cfg.thp: model-thp-ksmd.ts). */
  protected *khugepagedTurn(): Step {}

  /**
   * ksmd-worker serveRequest → KsmState.pendingRequest / answer, and KsmEngine.handleRequest for
   * REQ_SET_RUN. The request is taken only when KC_REQ_SEQ is even (published) and differs from
   * KC_REQ_ACK, and only if SEQ is unchanged after OP and ARG were loaded. Returns whether a
   * run=2 was carried out.
   */
  protected *serveRequest(): Generator<string, boolean, void> {
    const saved = this.kindOf[this.cfg.guests]!;
    this.kindOf[this.cfg.guests] = K.sysfs_serve;
    let op: number;
    let arg: number;
    let expected: number;
    if (this.cfg.broken === 'old-sysfs-protocol') {
      op = this.reqOp;
      yield this.tracing ? `ksmd: request: load OP = ${op}` : '';
      if (op === 0) return this.restoreKind(saved, false);
      const done = this.reqSeq;
      yield this.tracing ? `ksmd: request: load DONE = ${done}` : '';
      if (done !== 0) return this.restoreKind(saved, false);
      arg = this.reqArg;
      yield this.tracing ? `ksmd: request: load ARG = ${arg}` : '';
      expected = this.intent;
    } else {
      const s = this.reqSeq;
      yield this.tracing ? `ksmd: request: load SEQ = ${s}` : '';
      if (s & 1) return this.restoreKind(saved, false);
      const ack = this.reqAck;
      yield this.tracing ? `ksmd: request: load ACK = ${ack}` : '';
      if (s === ack) return this.restoreKind(saved, false);
      op = this.reqOp;
      yield this.tracing ? `ksmd: request: load OP = ${op}` : '';
      arg = this.reqArg;
      yield this.tracing ? `ksmd: request: load ARG = ${arg}` : '';
      const again = this.reqSeq;
      yield this.tracing ? `ksmd: request: load SEQ = ${again}${again === s ? '' : ' (rewritten meanwhile: look again later)'}` : '';
      if (again !== s) return this.restoreKind(saved, false);
      this.taken = s;
      expected = this.published.get(s) ?? -1;
    }
    if (op !== REQ_SET_RUN || arg !== expected) {
      this.fail(`ksmd took the request op ${op} arg ${arg}, but the writer asked for run=${expected} (a request taken with a stale or torn argument)`);
    }
    this.sysfsRequests++;
    let result = 0;
    let unmerged = false;
    if (arg === 2) {
      this.run = 2;
      this.run2Failed = false;
      yield* this.unmergeAll();
      unmerged = true;
      if (this.run2Failed) {
        this.run = 0;
        result = -ERRNO.ENOMEM;
      }
    } else this.run = arg;
    this.reqResult = result;
    yield this.tracing ? `ksmd: request: store RESULT = ${result}` : '';
    if (this.cfg.broken === 'old-sysfs-protocol') {
      this.reqSeq = 1;
      yield this.tracing ? 'ksmd: request: store DONE = 1' : '';
    } else {
      this.reqAck = this.taken;
      yield this.tracing ? `ksmd: request: store ACK = ${this.taken}` : '';
    }
    return this.restoreKind(saved, unmerged);
  }

  protected restoreKind(saved: number, value: boolean): boolean {
    this.kindOf[this.cfg.guests] = saved;
    return value;
  }

  /**
   * KsmEngine.unmergeAll (run=2): every KSM page and KSM zero page becomes a private copy (not
   * writable: the next write reuses it), then every item and node goes.
   */
  protected *unmergeAll(): Step {
    const saved = this.kindOf[this.cfg.guests]!;
    this.kindOf[this.cfg.guests] = K.run2;
    outer: for (let g = 0; g < this.cfg.guests; g++) {
      if (this.exited[g]) continue;
      for (let p = 0; p < this.cfg.pages; p++) {
        const i = g * this.cfg.pages + p;
        for (;;) {
          const pte = this.pt[i]!;
          yield this.tracing ? `ksmd: run=2: load PTE g${g}p${p} (${fmt(pte)})` : '';
          if (!(pte & PTE_PRESENT) || !(pte & (PTE_KSM | PTE_KSM_ZERO))) break;
          const isKsm = (pte & PTE_KSM) !== 0;
          const f = this.allocFrame();
          yield this.tracing ? `ksmd: run=2: alloc frame ${f}` : '';
          if (f < 0) {
            this.run2Failed = true;
            break outer; // -ENOMEM: run goes back to 0
          }
          // ksmd holds no reference on the KSM frame it copies: if the guest dropped it meanwhile,
          // the copy may be garbage, but then the CAS below fails (the PTE changed).
          this.content[f] = isKsm ? this.content[pte >>> PTE_FRAME_SHIFT]! : 0;
          this.mapcount[f] = 0;
          this.tag[f] = 0;
          yield this.tracing ? `ksmd: run=2: fill frame ${f}${isKsm ? ` from ${pte >>> PTE_FRAME_SHIFT}` : ''}` : '';
          const next = makePte(f, PTE_PRESENT | (pte & PTE_MERGEABLE));
          const seen = this.cas(i, pte, next);
          yield this.tracing ? `ksmd: run=2: CAS g${g}p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ' failed'}` : '';
          if (seen !== pte) {
            yield* this.freeFrame(f, 'ksmd');
            continue;
          }
          if (isKsm) yield* this.releaseAfterReplace(g, p, pte >>> PTE_FRAME_SHIFT, true);
          else {
            this.ksmZero[g]!--;
            yield this.tracing ? `ksmd: run=2: ksm_zero_pages(g${g})−1` : '';
          }
          this.unmerges++;
          break;
        }
      }
    }
    for (let i = 0; i < this.items.length; i++) {
      const it = this.items[i];
      if (!it) continue;
      yield* this.removeFromTree(it);
      this.items[i] = undefined;
    }
    for (let n = 0; n < this.nodes.length; n++) if (this.nodes[n]!.live) this.removeNode(n);
    this.unstable = [];
    this.seqnr = 0;
    this.kindOf[this.cfg.guests] = saved;
  }

  protected *scanItem(i: number): Step {
    const pte = this.pt[i]!;
    yield this.tracing ? `ksmd: scan g${(i / this.cfg.pages) | 0}p${i % this.cfg.pages}: load PTE (${fmt(pte)})` : '';
    let it = this.items[i];
    if ((pte & PRESENT_ANON_MASK) !== PRESENT_ANON) {
      if (it) {
        yield* this.removeFromTree(it);
        this.items[i] = undefined;
      }
      return;
    }
    if (!it) it = this.items[i] = { g: (i / this.cfg.pages) | 0, p: i % this.cfg.pages, state: ITEM_NONE, node: -1, checksum: -1, seq: -1 };
    yield* this.cmpAndMerge(it, pte);
  }

  protected *cmpAndMerge(it: Item, pte: number): Step {
    const frame = pte >>> PTE_FRAME_SHIFT;
    if (pte & PTE_KSM) {
      const sn: number = yield* this.nodeOfKsmFrame(frame);
      if (sn >= 0) {
        if (it.state === ITEM_STABLE && it.node === sn) return;
        yield* this.removeFromTree(it);
        this.appendToNode(it, sn);
      }
      return;
    }
    yield* this.removeFromTree(it);
    // The engine's probe: the KSM page filed under the checksum of the page's last visit, compared
    // only after write-protection; a difference sends the page on, write-protected.
    const old = it.checksum;
    if (!(this.cfg.useZero && old === 0)) {
      const sn: number = yield* this.stableSearch(old, frame, true);
      if (sn >= 0) {
        const r: MergeResult = yield* this.mergeIntoKsm(it, pte, sn);
        if (r === 'done') this.appendToNode(it, sn);
        if (r !== 'different') return;
        pte = this.pt[it.g * this.cfg.pages + it.p]!;
        yield this.tracing ? `ksmd: load PTE g${it.g}p${it.p} (${fmt(pte)})` : '';
      }
    }
    const checksum = this.content[frame]!;
    yield this.tracing ? `ksmd: checksum frame ${frame} = ${checksum}` : '';
    if (old !== checksum) {
      it.checksum = checksum;
      return;
    }
    if (this.cfg.useZero && checksum === 0) {
      const ok: boolean = yield* this.mergeWithZeroPage(it, pte);
      if (ok) return;
    }
    const sn: number = yield* this.stableSearch(checksum, frame, false);
    if (sn >= 0) {
      const r: MergeResult = yield* this.mergeIntoKsm(it, pte, sn);
      if (r === 'done') this.appendToNode(it, sn);
      return;
    }
    const tree: Item | undefined = yield* this.unstableSearchInsert(it, checksum, frame);
    if (tree) yield* this.mergeTwo(it, pte, tree, checksum);
  }

  protected *nodeOfKsmFrame(k: number): Generator<string, number, void> {
    const tag = this.tag[k]!;
    yield this.tracing ? `ksmd: load tag(${k}) = ${tag}` : '';
    const n = tag - 1;
    if (n >= 0 && n < this.nodes.length && this.nodes[n]!.live && this.nodes[n]!.frame === k) return n;
    const got: boolean = yield* this.tryGetFrame(k, 'ksmd');
    if (!got) return -1;
    const checksum = this.content[k]!;
    yield this.tracing ? `ksmd: checksum KSM frame ${k}` : '';
    const sn = this.nodes.push({ frame: k, checksum, live: true, items: [] }) - 1;
    this.tag[k] = sn + 1;
    yield this.tracing ? `ksmd: store tag(${k}) = ${sn + 1} (rebuilt node)` : '';
    yield* this.putFrame(k, 'ksmd');
    return sn;
  }

  protected *getNodeFrame(n: number): Generator<string, boolean, void> {
    const k = this.nodes[n]!.frame;
    const got: boolean = yield* this.tryGetFrame(k, 'ksmd');
    if (!got) return false;
    const tag = this.tag[k]!;
    yield this.tracing ? `ksmd: load tag(${k}) = ${tag}` : '';
    if (tag !== n + 1) {
      yield* this.putFrame(k, 'ksmd');
      return false;
    }
    return true;
  }

  protected *nodeFrameLive(n: number): Generator<string, boolean, void> {
    const k = this.nodes[n]!.frame;
    const mc = this.mapcount[k]!;
    yield this.tracing ? `ksmd: load mapcount(${k}) = ${mc}` : '';
    if (mc <= 0) return false;
    const tag = this.tag[k]!;
    yield this.tracing ? `ksmd: load tag(${k}) = ${tag}` : '';
    return tag === n + 1;
  }

  /** The engine's stableSearch; a `probe` compares nothing and gives up (changing nothing) where it would drop a stale node. */
  protected *stableSearch(checksum: number, frame: number, probe: boolean): Generator<string, number, void> {
    let best = -1;
    for (let n = 0; n < this.nodes.length; n++) {
      const node = this.nodes[n]!;
      if (!node.live || node.checksum !== checksum) continue;
      const count = node.items.length;
      let stale = false;
      if (count >= this.cfg.maxSharing || (best >= 0 && count <= this.nodes[best]!.items.length)) {
        const live: boolean = yield* this.nodeFrameLive(n);
        if (live) continue;
        stale = true;
      } else {
        const got: boolean = yield* this.getNodeFrame(n);
        stale = !got;
      }
      if (stale) {
        if (probe) {
          if (best >= 0) yield* this.putFrame(this.nodes[best]!.frame, 'ksmd');
          return -1;
        }
        this.removeNode(n);
        continue;
      }
      if (this.swapCacheBit[node.frame] && this.mapcount[node.frame]! <= 2) {
        // Only the swap cache (and our reference) holds it: no new merges (KsmEngine.onlyInSwapCache).
        yield this.tracing ? `ksmd: KSM frame ${node.frame} is only in the swap cache: no merge into it` : '';
        yield* this.putFrame(node.frame, 'ksmd');
        continue;
      }
      let equal = true; // a probe compares only after write-protection
      if (!probe) {
        equal = this.content[frame] === this.content[node.frame];
        yield this.tracing ? `ksmd: compare frame ${frame} with KSM frame ${node.frame}: ${equal ? 'equal' : 'differ'}` : '';
      }
      if (equal) {
        if (best >= 0) yield* this.putFrame(this.nodes[best]!.frame, 'ksmd');
        best = n;
      } else yield* this.putFrame(node.frame, 'ksmd');
    }
    return best;
  }

  protected *unstableSearchInsert(it: Item, checksum: number, frame: number): Generator<string, Item | undefined, void> {
    for (const t of this.unstable) {
      if (t === it || t.checksum !== checksum || t.state !== ITEM_UNSTABLE) continue;
      const tpte = this.pt[t.g * this.cfg.pages + t.p]!;
      yield this.tracing ? `ksmd: load tree PTE g${t.g}p${t.p} (${fmt(tpte)})` : '';
      if ((tpte & (PRESENT_ANON_MASK | PTE_KSM)) !== PRESENT_ANON) continue;
      const tf = tpte >>> PTE_FRAME_SHIFT;
      const equal = this.content[frame] === this.content[tf];
      yield this.tracing ? `ksmd: compare frame ${frame} with tree frame ${tf}: ${equal ? 'equal' : 'differ'}` : '';
      if (equal) return t;
    }
    it.state = ITEM_UNSTABLE;
    it.seq = this.seqnr;
    this.unstable.push(it);
    this.pagesUnshared++;
    return undefined;
  }

  /**
   * KsmEngine.writeProtect: write_protect_page, after splitting the huge page holding p (cfg.thp:
   * model-thp-ksmd.ts overrides this to split first).
   */
  protected *writeProtect(g: number, p: number, pte: number, anyPrivate = false): Generator<string, number, void> {
    return yield* this.writeProtectPage(g, p, pte, anyPrivate);
  }

  /**
   * write_protect_page: CAS to read-only + WP_KSMD, then wait for the guest to leave the page. With
   * cfg.thp it refuses a page of a huge block first (its own PTE has HUGE, or a load of the head's does).
   */
  protected *writeProtectPage(g: number, p: number, pte: number, anyPrivate = false): Generator<string, number, void> {
    if (anyPrivate ? !isPrivateFrame(pte) : (pte & (PRESENT_ANON_MASK | PTE_KSM)) !== PRESENT_ANON) return 0;
    if (this.cfg.thp && this.cfg.broken !== 'thp-merge-without-split') {
      if (pte & PTE_HUGE) return 0;
      const head = this.pt[g * this.cfg.pages + p - (p % SIM_HPAGE)]!;
      yield this.tracing ? `ksmd: write-protect g${g}p${p}: load head PTE (${fmt(head)})` : '';
      if (head & PTE_HUGE) return 0;
    }
    if (this.cfg.broken === 'no-recompare') return pte; // BROKEN: no write-protect, no shootdown
    const i = g * this.cfg.pages + p;
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    const seen = this.cas(i, pte, wp);
    yield this.tracing ? `ksmd: write-protect g${g}p${p}: CAS ${fmt(pte)} → ${fmt(wp)}${seen === pte ? '' : ' failed'}` : '';
    if (seen !== pte) return 0;
    if (g === 0 && this.guestKilled && !this.exited[0]) this.wpOnDeadGuest = true;
    for (let s = 0; s < this.cfg.spins; s++) {
      const h = this.hazard[g]!;
      yield this.tracing ? `ksmd: load hazard(g${g}) = ${h}` : '';
      if (h !== hazardWrite(p)) return wp; // only a writer is waited for
    }
    return 0;
  }

  /** The CAS that installs a KSM or zero PTE: invariant 3 is checked on the step it happens. */
  protected casMerge(i: number, expect: number, next: number): number {
    const seen = this.cas(i, expect, next);
    if (seen === expect) {
      const from = this.content[expect >>> PTE_FRAME_SHIFT]!;
      const to = this.content[next >>> PTE_FRAME_SHIFT]!;
      if (from !== to && this.cfg.broken === 'none') this.fail(`${this.cfg.engine === 'uksm' ? 'UKSM' : 'ksmd'} replaced a page of content ${from} by a frame of content ${to} (invariant 3)`);
    }
    return seen;
  }

  protected *mergeIntoKsm(it: Item, pte: number, sn: number): Generator<string, MergeResult, void> {
    const k = this.nodes[sn]!.frame;
    const i = it.g * this.cfg.pages + it.p;
    const wp: number = yield* this.writeProtect(it.g, it.p, pte);
    if (!wp) {
      yield* this.putFrame(k, 'ksmd');
      return 'failed';
    }
    if (this.cfg.broken !== 'no-recompare') {
      const equal = this.content[wp >>> PTE_FRAME_SHIFT] === this.content[k];
      yield this.tracing ? `ksmd: compare frame ${wp >>> PTE_FRAME_SHIFT} with KSM frame ${k}: ${equal ? 'equal' : 'differ'}` : '';
      if (!equal) {
        yield* this.putFrame(k, 'ksmd');
        return 'different';
      }
    }
    const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
    const seen = this.casMerge(i, wp, next);
    yield this.tracing ? `ksmd: CAS g${it.g}p${it.p} ${fmt(wp)} → ${fmt(next)}${seen === wp ? '' : ' failed'}` : '';
    if (seen !== wp) {
      yield* this.putFrame(k, 'ksmd');
      return 'failed';
    }
    yield* this.releaseAfterReplace(it.g, it.p, wp >>> PTE_FRAME_SHIFT, false);
    this.merges++;
    return 'done';
  }

  protected *mergeWithZeroPage(it: Item, pte: number): Generator<string, boolean, void> {
    const i = it.g * this.cfg.pages + it.p;
    const wp: number = yield* this.writeProtect(it.g, it.p, pte);
    if (!wp) return false;
    const equal = this.content[wp >>> PTE_FRAME_SHIFT] === 0;
    yield this.tracing ? `ksmd: compare frame ${wp >>> PTE_FRAME_SHIFT} with the zero page: ${equal ? 'equal' : 'differ'}` : '';
    if (!equal) return false;
    const next = makePte(ZERO, PTE_PRESENT | PTE_ZERO | PTE_KSM_ZERO | PTE_MERGEABLE);
    const seen = this.casMerge(i, wp, next);
    yield this.tracing ? `ksmd: CAS g${it.g}p${it.p} → KSM zero page${seen === wp ? '' : ' failed'}` : '';
    if (seen !== wp) return false;
    this.ksmZero[it.g]!++;
    yield this.tracing ? `ksmd: ksm_zero_pages+1` : '';
    yield* this.releaseAfterReplace(it.g, it.p, wp >>> PTE_FRAME_SHIFT, false);
    this.merges++;
    return true;
  }

  protected *mergeTwo(it: Item, pte: number, tree: Item, checksum: number): Step {
    const ia = it.g * this.cfg.pages + it.p;
    const ib = tree.g * this.cfg.pages + tree.p;
    const wpA: number = yield* this.writeProtect(it.g, it.p, pte);
    if (!wpA) return;
    const pteB = this.pt[ib]!;
    yield this.tracing ? `ksmd: load PTE g${tree.g}p${tree.p} (${fmt(pteB)})` : '';
    const wpB: number = yield* this.writeProtect(tree.g, tree.p, pteB);
    if (!wpB) return;
    const k = wpA >>> PTE_FRAME_SHIFT;
    const fb = wpB >>> PTE_FRAME_SHIFT;
    if (this.cfg.broken !== 'no-recompare') {
      const equal = this.content[k] === this.content[fb];
      yield this.tracing ? `ksmd: compare frames ${k} and ${fb}: ${equal ? 'equal' : 'differ'}` : '';
      if (!equal) return;
    }
    // No metadata of k before the CAS that makes it ksmd's (issue 11, finding 5): then +2 (A's PTE
    // and ours; a drop by A in between went 0 → −1 and freed nothing), +1 for B before B's CAS.
    const ksmA = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
    let seen = this.casMerge(ia, wpA, ksmA);
    if (seen === wpA) this.pendingRef = k;
    yield this.tracing ? `ksmd: CAS g${it.g}p${it.p} ${fmt(wpA)} → ${fmt(ksmA)}${seen === wpA ? '' : ' failed'}` : '';
    if (seen !== wpA) return;
    this.mapcount[k]! += 2;
    this.pendingRef = -1;
    yield this.tracing ? `ksmd: addMapcount(${k}, 2) = ${this.mapcount[k]}` : '';
    this.mapcount[k]!++;
    yield this.tracing ? `ksmd: addMapcount(${k}, 1)` : '';
    const ksmB = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
    seen = this.casMerge(ib, wpB, ksmB);
    yield this.tracing ? `ksmd: CAS g${tree.g}p${tree.p} ${fmt(wpB)} → ${fmt(ksmB)}${seen === wpB ? '' : ' failed'}` : '';
    if (seen !== wpB) {
      this.mapcount[k]!--;
      yield this.tracing ? `ksmd: addMapcount(${k}, −1)` : '';
      // breakCow: give k back to A as a private page while A maps it as KSM (retrying if A changed
      // the PTE's other bits), else drop our reference; then mapcount 2 → 0 by compare-and-exchange.
      for (;;) {
        const cur = this.pt[ia]!;
        yield this.tracing ? `ksmd: break_cow: load PTE g${it.g}p${it.p} (${fmt(cur)})` : '';
        if (!(cur & PTE_KSM) || cur >>> PTE_FRAME_SHIFT !== k) {
          yield* this.putFrame(k, 'ksmd');
          break;
        }
        const s2 = this.cas(ia, cur, cur & ~PTE_KSM);
        yield this.tracing ? `ksmd: break_cow: CAS g${it.g}p${it.p} back to private${s2 === cur ? '' : ' failed'}` : '';
        if (s2 === cur) {
          const mc = this.mapcount[k]!;
          if (mc === 2) this.mapcount[k] = 0;
          yield this.tracing ? `ksmd: break_cow: CAS mapcount(${k}) 2 → 0${mc === 2 ? '' : ` failed (saw ${mc})`}` : '';
          break;
        }
      }
      return;
    }
    yield* this.releaseAfterReplace(tree.g, tree.p, fb, false);
    // Filed under k's content as it is now that both PTEs map it read-only (finding 4).
    void checksum;
    const sn = this.nodes.push({ frame: k, checksum: this.content[k]!, live: true, items: [] }) - 1;
    this.tag[k] = sn + 1;
    yield this.tracing ? `ksmd: store tag(${k}) = ${sn + 1}` : '';
    yield* this.putFrame(k, 'ksmd');
    if (tree.state === ITEM_UNSTABLE) yield* this.removeFromTree(tree);
    this.appendToNode(tree, sn);
    this.appendToNode(it, sn);
    this.merges += 2;
  }

  protected *releaseAfterReplace(g: number, p: number, frame: number, isKsm: boolean): Step {
    if (this.cfg.broken !== 'free-without-hazard') {
      const h = this.hazard[g]!;
      yield this.tracing ? `ksmd: load hazard(g${g}) = ${h}` : '';
      if (hazardPage(h) === p) { // any access defers the free
        this.deferred.push(g, p, frame, isKsm ? 1 : 0);
        return;
      }
    }
    if (isKsm) yield* this.putFrame(frame, 'ksmd');
    else yield* this.freeFrame(frame, 'ksmd');
  }

  protected *processDeferred(): Step {
    const d = this.deferred;
    if (d.length === 0) return;
    const saved = this.kindOf[this.cfg.guests]!;
    this.kindOf[this.cfg.guests] = K.ksmd_deferred;
    const keep: number[] = [];
    for (let i = 0; i < d.length; i += 4) {
      const ex = this.exited[d[i]!]!;
      yield this.tracing ? `ksmd: deferred free of frame ${d[i + 2]}: load state(g${d[i]}) = ${ex ? 'EXITED' : 'RUNNING'}` : '';
      const h = ex ? HAZARD_NONE : this.hazard[d[i]!]!;
      if (!ex) yield this.tracing ? `ksmd: deferred free of frame ${d[i + 2]}: load hazard(g${d[i]}) = ${h}` : '';
      if (hazardPage(h) === d[i + 1]) {
        keep.push(d[i]!, d[i + 1]!, d[i + 2]!, d[i + 3]!);
        continue;
      }
      if (d[i + 3]) yield* this.putFrame(d[i + 2]!, 'ksmd');
      else yield* this.freeFrame(d[i + 2]!, 'ksmd');
    }
    this.deferred = keep;
    this.kindOf[this.cfg.guests] = saved;
  }

  /** KsmEngine.reclaim: one KSM page and one private page per pass at most (see the header). */
  protected *reclaimPages(): Step {
    const saved = this.kindOf[this.cfg.guests]!;
    this.kindOf[this.cfg.guests] = K.ksmd_reclaim;
    // The watermark check reads the allocator's free count: no step of its own (a stale count only
    // changes whether ksmd tries, and a reclaim that finds nothing changes nothing), so schedules
    // recorded before issue 15 replay as they did.
    let free = 0;
    for (let f = 1; f < this.cfg.frames; f++) free += this.free[f]!;
    if (free <= 1) {
      yield this.tracing ? `ksmd: reclaim: free frames ${free}: at the watermark` : '';
      for (let k = 0; k < this.nodes.length; k++) {
        const n = (this.reclaimHand + k) % this.nodes.length;
        if (!this.nodes[n]!.live || this.nodes[n]!.items.length === 0) continue;
        const got: boolean = yield* this.getNodeFrame(n);
        if (!got) continue;
        this.reclaimHand = n + 1;
        yield* this.swapOutKsmPage(n);
        break;
      }
      // Then one private page of any guest, from the clock hand (swapOutPrivatePages).
      for (let k = 0; k < this.pt.length; k++) {
        const i = (this.privateHand + k) % this.pt.length;
        const pte = this.pt[i]!;
        yield this.tracing ? `ksmd: reclaim: load PTE g${(i / this.cfg.pages) | 0}p${i % this.cfg.pages} (${fmt(pte)})` : '';
        if (!isPrivateFrame(pte)) continue;
        this.privateHand = i + 1;
        yield* this.swapOutPrivatePage((i / this.cfg.pages) | 0, i % this.cfg.pages, pte);
        break;
      }
    }
    this.kindOf[this.cfg.guests] = saved;
  }

  /** KsmEngine.swapOutPrivatePage: a fresh slot → writeProtect (any private page) → copy → CAS to the swap entry → releaseAfterReplace. */
  protected *swapOutPrivatePage(g: number, p: number, pte: number): Step {
    const slot = this.allocSlot();
    yield this.tracing ? `ksmd: reclaim: alloc slot ${slot}` : '';
    if (slot < 0) return;
    const wp: number = yield* this.writeProtect(g, p, pte, true);
    if (!wp) {
      yield* this.putSwapSlot(slot, 'ksmd');
      return;
    }
    const f = wp >>> PTE_FRAME_SHIFT;
    this.slotContent[slot] = this.content[f]!;
    yield this.tracing ? `ksmd: reclaim: copy frame ${f} → slot ${slot}` : '';
    const i = g * this.cfg.pages + p;
    const next = makePte(slot, PTE_SWAPPED | (wp & PTE_MERGEABLE));
    const seen = this.cas(i, wp, next);
    yield this.tracing ? `ksmd: reclaim: CAS PTE g${g}p${p} ${fmt(wp)} → ${fmt(next)}${seen === wp ? '' : ` failed (saw ${fmt(seen)})`}` : '';
    if (seen !== wp) {
      yield* this.putSwapSlot(slot, 'ksmd');
      return;
    }
    this.privateSwapOuts++;
    yield* this.releaseAfterReplace(g, p, f, false);
  }

  /** KsmEngine.swapOutKsmPage: ksmd holds a reference on node n's frame. */
  protected *swapOutKsmPage(n: number): Step {
    const node = this.nodes[n]!;
    const k = node.frame;
    const mine: boolean = yield* this.claimSwapCache(k, 'ksmd');
    if (!mine) {
      yield* this.putFrame(k, 'ksmd');
      return;
    }
    const slot = this.allocSlot();
    yield this.tracing ? `ksmd: reclaim: alloc slot ${slot}` : '';
    if (slot < 0) {
      this.swapCacheBit[k] = 0;
      yield this.tracing ? `ksmd: reclaim: clear PG_swapcache(${k})` : '';
      yield* this.putFrame(k, 'ksmd');
      return;
    }
    this.slotContent[slot] = this.content[k]!;
    yield this.tracing ? `ksmd: reclaim: write KSM frame ${k} → slot ${slot}` : '';
    yield* this.addToSwapCache(slot, k, 'ksmd');
    let unmapped = 0;
    for (const it of [...node.items]) {
      const i = it.g * this.cfg.pages + it.p;
      const pte = this.pt[i]!;
      yield this.tracing ? `ksmd: reclaim: load PTE g${it.g}p${it.p} (${fmt(pte)})` : '';
      if ((pte & (PTE_PRESENT | PTE_KSM)) !== (PTE_PRESENT | PTE_KSM) || pte >>> PTE_FRAME_SHIFT !== k) continue;
      this.slotCount[slot]!++;
      yield this.tracing ? `ksmd: reclaim: swap count(s${slot}) +1 = ${this.slotCount[slot]}` : '';
      const next = makePte(slot, PTE_SWAPPED | (pte & PTE_MERGEABLE));
      const seen = this.cas(i, pte, next);
      yield this.tracing ? `ksmd: reclaim: CAS PTE g${it.g}p${it.p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ` failed (saw ${fmt(seen)})`}` : '';
      if (seen !== pte) {
        yield* this.putSwapSlot(slot, 'ksmd');
        continue;
      }
      unmapped++;
      yield* this.releaseAfterReplace(it.g, it.p, k, true);
    }
    const mc = this.mapcount[k]!;
    yield this.tracing ? `ksmd: reclaim: load mapcount(${k}) = ${mc}` : '';
    if (mc === 1) {
      const won = this.slotCache[slot] === k;
      if (won) this.slotCache[slot] = 0;
      yield this.tracing ? `ksmd: reclaim: CAS cache(s${slot}) f${k} → 0${won ? '' : ' failed'}` : '';
      if (won) yield* this.dropSwapCache(k, 'ksmd');
    }
    yield* this.putSwapSlot(slot, 'ksmd');
    if (unmapped) this.ksmSwapOuts++;
  }

  protected appendToNode(it: Item, sn: number): void {
    const node = this.nodes[sn]!;
    if (node.items.length > 0) this.pagesSharing++;
    else this.pagesShared++;
    node.items.push(it);
    it.state = ITEM_STABLE;
    it.node = sn;
  }

  protected *removeFromTree(it: Item): Step {
    if (it.state === ITEM_UNSTABLE) {
      if (it.seq === this.seqnr) this.unstable.splice(this.unstable.indexOf(it), 1);
      this.pagesUnshared--;
      it.state = ITEM_NONE;
    } else if (it.state === ITEM_STABLE) {
      const sn = it.node;
      const got: boolean = yield* this.getNodeFrame(sn);
      if (!got) {
        this.removeNode(sn);
        return;
      }
      yield* this.putFrame(this.nodes[sn]!.frame, 'ksmd');
      this.unlinkStableItem(it, sn);
    }
  }

  protected unlinkStableItem(it: Item, sn: number): void {
    const node = this.nodes[sn]!;
    node.items.splice(node.items.indexOf(it), 1);
    if (node.items.length > 0) this.pagesSharing--;
    else this.pagesShared--;
    it.state = ITEM_NONE;
    it.node = -1;
  }

  protected removeNode(sn: number): void {
    const node = this.nodes[sn]!;
    while (node.items.length) this.unlinkStableItem(node.items[node.items.length - 1]!, sn);
    node.live = false;
  }
}
