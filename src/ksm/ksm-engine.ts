// ksm-engine.ts — owns ksmd's merge engine: the scan cursor over registered guests, cmp_and_merge_page,
// the write-protect → compare → replace protocol on guest page tables, unmerge-all (run=2), and the
// counters, all as mm/ksm.c does them. Runs on the ksmd thread only (single-threaded by design).

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT, ZERO_FRAME } from '../mem/constants.ts';
import {
  CTL_HAZARD, CTL_KSM_ENTERED, CTL_KSM_ZERO_PAGES, CTL_MERGE_ANY, CTL_MERGING_PAGES, CTL_RMAP_ITEMS, CTL_STATE, CTL_VMA_SEQ,
  GUEST_EXITED, VM_MERGEABLE, VM_SHARED, hazardPage, hazardWrite, readVmaTable, type GuestSpaceHandles, type VmaSnapshot,
} from '../mem/guest-control.ts';
import { ERRNO } from '../mem/errno.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import {
  PRESENT_ANON, PRESENT_ANON_MASK, PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_WP_KSMD,
  PTE_SWAPPED, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte,
} from '../mem/pte.ts';
import { SLOT_KSM } from '../mem/swap-area.ts';
import { SPLIT_BUSY, hugeHead, inHugeBlock, splitHugeBlock, type SplitPrimitives } from '../mem/thp.ts';
import { PageChecksums } from './checksum.ts';
import {
  ADVISOR_SCAN_TIME, KsmState, REQ_SET_MAX_PAGE_SHARING, REQ_SET_MERGE_ACROSS_NODES, REQ_SET_RUN,
} from './ksm-state.ts';
import { ITEM_NONE, ITEM_STABLE, ITEM_UNSTABLE, PageIndex, RmapItems } from './rmap-items.ts';
import { ScanAdvisor } from './scan-advisor.ts';
import { StableTree } from './stable-tree.ts';
import { UnstableTree } from './unstable-tree.ts';

interface GuestScan {
  readonly slot: number;
  readonly pid: number;
  readonly homeNode: number;
  readonly pt: Int32Array;
  readonly ctl: Int32Array;
  readonly vmaTable: Int32Array;
  readonly index: PageIndex;
  rmapItems: number;
  mergingPages: number;
  exited: boolean;
}

/**
 * ksmd's chains of max_page_sharing dups as they stand (what stable_node_chains/dups publish), and as
 * they would stand once every stale dup were pruned. The kernel prunes a chain only when a stable-tree
 * search meets it, so its counters may include dups whose KSM page is gone: an audit against the page
 * tables compares the second pair.
 */
export interface ChainCensus {
  readonly chains: number;
  readonly dups: number;
  readonly liveChains: number;
  readonly liveDups: number;
}

/** Event counts a stress run or a benchmark reads (not sysfs counters). */
export interface EngineEvents {
  merges: number;
  mergeAborts: number;
  zeroMerges: number;
  unmerges: number;
  deferredFrees: number;
  /** KSM pages reclaim swapped out of their mappings. */
  ksmSwapOuts: number;
  /** Private pages reclaim swapped out (any guest's). */
  privateSwapOuts: number;
}

/**
 * TEST ONLY — a deliberately broken protocol, so tests can prove the stress checkers fail (docs/stress.md).
 * 'no-recompare': replace the PTE straight from the value seen when the pages were first compared:
 *   no write-protect, no wait for the guest to leave the page, no compare after it.
 * 'free-without-hazard': free the replaced frame at once, without checking the guest's hazard word.
 * Default 'none'; only tests and `ksmsim stress --broken` pass anything else (through workerData).
 */
export type BrokenProtocol = 'none' | 'no-recompare' | 'free-without-hazard';

/**
 * TEST ONLY — named points of the merge protocol where a test may run guest operations in the
 * ksmd thread's place, to script an interleaving (test/ksm/merge-races.test.ts):
 * 'checksummed' after cmpAndMerge took the page's checksum; 'compared' after mergeTwo's full
 * compare of the two write-protected pages; 'cas-a' just before mergeTwo's CAS of page A;
 * 'merged-a' after that CAS (and A's mapcount), before the CAS of page B.
 */
export type MergeStep = 'checksummed' | 'compared' | 'cas-a' | 'merged-a';

export interface KsmEngineOptions {
  readonly brokenProtocol?: BrokenProtocol;
  /** TEST ONLY (see MergeStep): called at each point with the guest's pid and the page. */
  readonly onStep?: (step: MergeStep, pid: number, vpage: number) => void;
}

/** How long ksmd spins for a guest to leave a page it just write-protected (the TLB shootdown). */
const SHOOTDOWN_SPINS = 256;
/** Pages reclaim swaps out per call at most (it runs between scan batches). */
const RECLAIM_BATCH = 256;
/** Private pages per round of reclaim, beside one KSM page. */
const PRIVATE_PER_ROUND = 8;
/** The low watermark (free frames) below which reclaim starts, at least; else 1/64 of memory. */
const RECLAIM_MIN_WATERMARK = 16;
const MERGE_DONE = 0;
const MERGE_FAILED = 1; // the PTE changed, or the guest stayed on the page: try again on a later visit
const MERGE_DIFFERENT = 2; // write-protected, but the content differs from the KSM page

export class KsmEngine {
  readonly memory: PhysicalMemory;
  readonly state: KsmState;
  readonly items = new RmapItems();
  readonly stable = new StableTree();
  readonly unstable = new UnstableTree();
  readonly events: EngineEvents = { merges: 0, mergeAborts: 0, zeroMerges: 0, unmerges: 0, deferredFrees: 0, ksmSwapOuts: 0, privateSwapOuts: 0 };
  private readonly advisor = new ScanAdvisor();
  private readonly guests: GuestScan[] = [];
  private readonly slotByPid = new Map<number, number>();
  /** Slots in scan order (the kernel's mm_slot list). */
  private order: number[] = [];
  private readonly checksums: PageChecksums;
  private readonly framesPerNode: number;
  private readonly zeroChecksum: number;

  // scan cursor
  private inPass = false;
  private cursor = 0;
  private vmas: VmaSnapshot[] = [];
  private vmaIdx = 0;
  private page = 0;
  private curPte = 0;
  private seqnr = 0;
  private passSawMergeable = false;
  /** Per slot: 1 if the guest was registered with KSM when the current pass began (__ksm_enter). */
  private passMembers = new Uint8Array(0);
  private vmaSeq = 0;

  // counters kept here and published to the shared state
  private pagesShared = 0;
  private pagesSharing = 0;
  private pagesUnshared = 0;
  private pagesScanned = 0;
  private pagesSkipped = 0;

  // frees and reference drops waiting for a guest to leave a page: [slot, vpage, frame, isKsm]
  private deferred: number[] = [];
  /** Where reclaim looks next among the stable nodes, and among the guests' private pages. */
  private reclaimHand = 0;
  private readonly privateHand = { guest: 0, page: 0 };
  private batchNow = 0;
  private pruneMs = 2000;
  private cpuMs: () => number;
  private readonly brokenNoRecompare: boolean;
  private readonly brokenFreeEarly: boolean;
  private readonly onStep: ((step: MergeStep, pid: number, vpage: number) => void) | undefined;

  constructor(memory: PhysicalMemory, state: KsmState, cpuMs: () => number = () => performance.now(), options: KsmEngineOptions = {}) {
    this.brokenNoRecompare = options.brokenProtocol === 'no-recompare';
    this.brokenFreeEarly = options.brokenProtocol === 'free-without-hazard';
    this.onStep = options.onStep;
    this.memory = memory;
    this.state = state;
    this.checksums = new PageChecksums(memory);
    this.framesPerNode = memory.nodes[0]!.frameCount;
    this.zeroChecksum = this.checksumOf(ZERO_FRAME);
    this.cpuMs = cpuMs;
  }

  // ───────────────────────────── guests ─────────────────────────────

  addGuest(h: GuestSpaceHandles): void {
    if (this.slotByPid.has(h.pid)) return;
    const slot = this.guests.length;
    this.guests.push({
      slot, pid: h.pid, homeNode: h.homeNode,
      pt: new Int32Array(h.pageTable), ctl: new Int32Array(h.control), vmaTable: new Int32Array(h.vmaTable),
      index: new PageIndex(), rmapItems: 0, mergingPages: 0, exited: false,
    });
    this.slotByPid.set(h.pid, slot);
    // The scan order is launch order; a guest that registers (__ksm_enter) while a pass is under
    // way is skipped until the next pass (see passMembers), as the kernel queues its mm_slot just
    // behind the cursor "to let the area settle down a little".
    this.order.push(slot);
  }

  /**
   * The guest's memory is gone; its items go when the scan next reaches it, as with ksm_exit. A
   * guest killed while it held the sysfs request lock would block every later knob write: the host
   * knows it is dead, so the lock it held is released here (issue 11, finding 3).
   */
  guestExited(pid: number): void {
    this.state.releaseRequestLockOf(pid);
    const slot = this.slotByPid.get(pid);
    if (slot === undefined) return;
    const g = this.guests[slot]!;
    g.exited = true;
    if (g.rmapItems === 0) this.dropGuest(g);
  }

  hasWork(): boolean {
    for (const s of this.order) {
      const g = this.guests[s]!;
      if (g.exited || Atomics.load(g.ctl, CTL_KSM_ENTERED)) return true;
    }
    return false;
  }

  // ───────────────────────────── scanning ─────────────────────────────

  /** ksm_do_scan: scan up to `n` pages; stops early at the end of a full scan. Returns pages scanned. */
  scanBatch(n: number): number {
    this.batchNow = performance.now();
    this.pruneMs = this.state.get('stable_node_chains_prune_millisecs');
    this.processDeferred();
    const mergeAcross = this.state.get('merge_across_nodes') === 1;
    const maxSharing = this.state.get('max_page_sharing');
    const useZero = this.state.get('use_zero_pages') === 1;
    const smart = this.state.get('smart_scan') === 1;
    let done = 0;
    while (done < n) {
      const it = this.nextItem(smart);
      if (it < 0) break;
      this.cmpAndMerge(it, this.curPte, mergeAcross, maxSharing, useZero);
      done++;
    }
    this.pagesScanned += done;
    this.processDeferred();
    this.publish();
    return done;
  }

  /** The next page to look at, or -1 at the end of a full scan (or with nothing to scan). */
  private nextItem(smart: boolean): number {
    const items = this.items;
    for (;;) {
      if (!this.inPass) {
        if (!this.hasWork()) return -1;
        this.beginPass();
      }
      if (this.cursor >= this.order.length) {
        this.endPass();
        return -1;
      }
      const g = this.guests[this.order[this.cursor]!]!;
      if (g.exited) {
        this.dropGuest(g);
        continue; // dropGuest removed it from `order`; the cursor now names the next guest
      }
      if (!Atomics.load(g.ctl, CTL_KSM_ENTERED) || !this.passMembers[g.slot]) {
        this.nextGuest();
        continue;
      }
      const pt = g.pt;
      while (this.vmaIdx < this.vmas.length) {
        const v = this.vmas[this.vmaIdx]!;
        const end = v.start + v.pages;
        while (this.page < end) {
          const p = this.page++;
          const pte = Atomics.load(pt, p);
          let it = g.index.get(p);
          if ((pte & PRESENT_ANON_MASK) === PRESENT_ANON) {
            if (it < 0) {
              it = items.alloc(g.slot, p);
              g.index.set(p, it);
              g.rmapItems++;
            }
            items.visited[it] = this.seqnr;
            if (smart && !(pte & PTE_KSM) && this.shouldSkip(it)) continue;
            this.curPte = pte;
            return it;
          }
          if (it >= 0) this.freeItem(g, it);
        }
        this.vmaIdx++;
        this.passSawMergeable = true;
        if (this.vmaIdx < this.vmas.length) this.page = this.vmas[this.vmaIdx]!.start;
      }
      // End of this guest: items of pages no longer in a mergeable area go (remove_trailing_rmap_items).
      const seq = this.seqnr;
      g.index.forEach((it) => {
        if (items.visited[it] !== seq) this.freeItem(g, it);
      });
      if (!this.passSawMergeable && !Atomics.load(g.ctl, CTL_MERGE_ANY)) {
        // No VM_MERGEABLE area left: the kernel drops the mm_slot. The guest publishes its VMAs
        // before registering, so if the table changed since we read it, it may have registered
        // again meanwhile: then undo our drop.
        if (Atomics.compareExchange(g.ctl, CTL_KSM_ENTERED, 1, 0) === 1 && Atomics.load(g.ctl, CTL_VMA_SEQ) !== this.vmaSeq) {
          Atomics.store(g.ctl, CTL_KSM_ENTERED, 1);
        }
      }
      this.nextGuest();
    }
  }

  private beginPass(): void {
    this.inPass = true;
    this.cursor = 0;
    this.unstable.reset(this.items.live);
    if (this.passMembers.length < this.guests.length) this.passMembers = new Uint8Array(this.guests.length * 2);
    for (const slot of this.order) this.passMembers[slot] = Atomics.load(this.guests[slot]!.ctl, CTL_KSM_ENTERED) ? 1 : 0;
    if (this.state.get('advisor_mode') === ADVISOR_SCAN_TIME) this.advisor.startScan(performance.now());
    this.loadGuestVmas();
  }

  private endPass(): void {
    this.inPass = false;
    this.seqnr++;
    if (this.state.get('advisor_mode') === ADVISOR_SCAN_TIME) {
      const s = this.state;
      s.set('pages_to_scan', this.advisor.stopScan(performance.now(), this.cpuMs(), {
        pagesToScan: s.get('pages_to_scan'), targetScanTime: s.get('advisor_target_scan_time'),
        maxCpu: s.get('advisor_max_cpu'), maxPagesToScan: s.get('advisor_max_pages_to_scan'),
      }));
    }
  }

  private nextGuest(): void {
    this.cursor++;
    this.loadGuestVmas();
  }

  private loadGuestVmas(): void {
    this.vmaIdx = 0;
    this.passSawMergeable = false;
    const slot = this.order[this.cursor];
    if (slot === undefined) {
      this.vmas = [];
      return;
    }
    const g = this.guests[slot]!;
    this.vmaSeq = Atomics.load(g.ctl, CTL_VMA_SEQ);
    this.vmas = readVmaTable(g.ctl, g.vmaTable, VM_MERGEABLE, []);
    this.page = this.vmas.length ? this.vmas[0]!.start : 0;
  }

  /** should_skip_rmap_item (smart_scan). */
  private shouldSkip(it: number): boolean {
    const items = this.items;
    const age = items.age[it]!;
    if (age !== 255) items.age[it] = age + 1;
    if (age < 3) return false;
    if (items.skips[it] === 0) {
      items.skips[it] = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
      return false;
    }
    this.pagesSkipped++;
    items.skips[it]--;
    this.removeFromTree(it);
    return true;
  }

  // ───────────────────────────── cmp_and_merge_page ─────────────────────────────

  private cmpAndMerge(it: number, pte: number, mergeAcross: boolean, maxSharing: number, useZero: boolean): void {
    const items = this.items;
    const g = this.guests[items.guest[it]!]!;
    const vpage = items.vpage[it]!;
    const frame = pte >>> PTE_FRAME_SHIFT;

    if (pte & PTE_KSM) {
      const sn = this.nodeOfKsmFrame(frame);
      if (sn >= 0) {
        if (items.state[it] === ITEM_STABLE && items.node[it] === sn) return;
        this.removeFromTree(it);
        this.appendToNode(it, sn);
      }
      return;
    }
    this.removeFromTree(it);
    const nid = mergeAcross ? 0 : (frame / this.framesPerNode) | 0;
    const oldChecksum = items.checksum[it]!;
    // ksmd holds no reference on `frame` (a private page's): from here on the guest may write it,
    // release it, and another guest reuse it, while the checksum and the tree compares below read
    // it. As in mm/ksm.c, which checksums and memcmps pages it has not locked, those reads only
    // choose what to try. Every merge (mergeIntoKsm, mergeWithZeroPage, mergeTwo) re-validates:
    // write-protect by compare-and-exchange on the exact PTE value read (which fails if the page
    // was released or changed: freeing a frame means swinging the PTE away first), the wait for a
    // writer, a full compare of the write-protected frame, and the install by compare-and-exchange
    // on the write-protected value (WP_KSMD: see pte.ts). A stale read costs a merge, never makes a
    // wrong one; the only value kept from it is the item's checksum (volatility, a heuristic) —
    // the stable node's key is taken from the KSM page itself (mergeTwo).

    // First, without computing the checksum: try the KSM page filed under the checksum this page had
    // at its last visit. If, once write-protected, the page equals it, then its checksum has not
    // changed, the kernel's stable search would find that KSM page, and this is the merge the kernel
    // makes; the one 4 KiB compare that shows it costs far less than the checksum (which was the
    // bulk of a merge). If it differs, the page goes on below as the kernel takes it, now
    // write-protected (its next write takes a fault that restores write access, nothing else).
    // The probe has no side effects on the trees: where the kernel's search would prune a chain or
    // drop a stale node, it gives up and the ordinary path does that work when the kernel does.
    if (!(useZero && oldChecksum === this.zeroChecksum)) {
      const sn = this.stableSearch(oldChecksum, frame, nid, maxSharing, true);
      if (sn >= 0) {
        const r = this.mergeIntoKsm(g, vpage, pte, sn);
        if (r === MERGE_DONE) this.appendToNode(it, sn);
        if (r !== MERGE_DIFFERENT) return;
        pte = Atomics.load(g.pt, vpage);
      }
    }

    // Since Linux 6.10 (ksm: "don't waste time searching stable tree for fast changing page") a page
    // whose checksum changed since the last visit goes no further, not even to the stable tree;
    // then comes the zero page (use_zero_pages), then the stable tree, then the unstable tree.
    const checksum = this.checksumOf(frame);
    this.onStep?.('checksummed', g.pid, vpage);
    if (oldChecksum !== checksum) {
      items.checksum[it] = checksum;
      return;
    }
    if (useZero && checksum === this.zeroChecksum) {
      if (this.mergeWithZeroPage(g, vpage, pte)) return;
      pte = Atomics.load(g.pt, vpage); // the failed attempt may have write-protected it
    }
    const sn = this.stableSearch(checksum, frame, nid, maxSharing, false);
    if (sn >= 0) {
      // The search compared in full, so a difference now means the page changed since: as in the
      // kernel, try_to_merge_with_ksm_page fails and the page waits for its next visit.
      if (this.mergeIntoKsm(g, vpage, pte, sn) === MERGE_DONE) this.appendToNode(it, sn);
      return;
    }
    const tree = this.unstableSearchInsert(it, checksum, frame, nid, mergeAcross);
    if (tree >= 0) this.mergeTwo(it, g, vpage, pte, tree, nid);
  }

  /**
   * stable_tree_search: a live stable node whose content equals `frame` (compared in full) and has
   * room, holding a reference on its frame; -1 if there is none. Stale nodes met are dropped and a
   * chain due for pruning is pruned, as the kernel's search does. A `probe` compares nothing (the
   * caller compares after write-protection) and changes nothing: meeting a stale node or a chain
   * due for pruning ends it with -1.
   */
  private stableSearch(checksum: number, frame: number, nid: number, maxSharing: number, probe: boolean): number {
    const st = this.stable;
    const mem = this.memory;
    let best = -1;
    let pruned = false;
    let n = st.first(checksum);
    while (n >= 0) {
      const next = st.nextInBucket(n);
      if (st.checksum[n] === checksum && st.nid[n] === nid) {
        const count = st.count[n]!;
        const chain = st.chain[n]!;
        if (chain >= 0 && best < 0 && !pruned && this.batchNow - st.chainPruneTime(chain) >= this.pruneMs) {
          if (probe) return -1;
          pruned = true;
          // stable_node_dup(): a search that meets a chain due for pruning frees its stale dups and,
          // if one dup is left, turns the chain back into a plain node (only then, as in the kernel).
          this.pruneChain(chain, checksum);
          n = st.first(checksum);
          continue;
        }
        if (chain >= 0 && best < 0) {
          // A chain of dups (max_page_sharing): go straight to the dup it is filling, if that one
          // still has room and still holds this content, instead of walking every full dup.
          const h = st.chainHint(chain);
          if (h >= 0 && st.isLive(h) && st.chain[h] === chain && st.count[h]! < maxSharing && st.nid[h] === nid && this.getNodeFrame(h)) {
            if (!this.onlyInSwapCache(st.frame[h]!) && (probe || mem.compareFrames(frame, st.frame[h]!) === 0)) return h;
            mem.putFrame(st.frame[h]!);
          }
        }
        if (count >= maxSharing && chain >= 0) {
          // A full dup of a chain cannot be picked: skip it outright. Stale dups are freed by the
          // periodic chain prune (stable_node_chains_prune_millisecs), as the kernel's chain_prune does.
        } else if (count >= maxSharing || (best >= 0 && count <= st.count[best]!)) {
          // It cannot be picked, equal or not: skip the reference and the 4 KiB compare, and only
          // prune it if stale. (With max_page_sharing dups of one content, all of them but one are
          // full; comparing each made merging quadratic.)
          if (!this.nodeFrameLive(n)) {
            if (probe) return this.dropBest(best);
            this.removeNode(n);
          }
        } else if (!this.getNodeFrame(n)) {
          if (probe) return this.dropBest(best);
          this.removeNode(n);
        } else if (this.onlyInSwapCache(st.frame[n]!)) {
          // Swapped out of every mapping and still in the swap cache: it takes no new merges (measured)
          // until a swap-in maps it again; the node stays, so that page merges back into it then.
          mem.putFrame(st.frame[n]!);
        } else if (probe || mem.compareFrames(frame, st.frame[n]!) === 0) {
          if (best >= 0) mem.putFrame(st.frame[best]!);
          best = n;
        } else {
          mem.putFrame(st.frame[n]!);
        }
      }
      n = next;
    }
    if (best >= 0 && st.chain[best]! >= 0) st.setChainHint(st.chain[best]!, best);
    return best;
  }

  /** A KSM frame (on which we hold a reference) that no PTE maps, kept only by the swap cache. */
  private onlyInSwapCache(k: number): boolean {
    return this.memory.inSwapCache(k) && this.memory.mapcount(k) <= 2;
  }

  /** A probe that gives up releases the candidate it was holding. */
  private dropBest(best: number): number {
    if (best >= 0) this.memory.putFrame(this.stable.frame[best]!);
    return -1;
  }

  /** ksm_get_folio's keyhole check: take a reference on the node's frame if it is still this node's. */
  private getNodeFrame(n: number): boolean {
    const k = this.stable.frame[n]!;
    if (!this.memory.tryGetFrame(k)) return false;
    if (this.memory.frameTag(k) !== n + 1) {
      this.memory.putFrame(k);
      return false;
    }
    return true;
  }

  /**
   * getNodeFrame's answer without taking a reference: the frame still has mappers and still carries
   * this node's tag. Only ksmd (this thread) tags a frame and free() clears the tag first, so a tag
   * seen after a positive mapcount means the frame was not freed in between.
   */
  private nodeFrameLive(n: number): boolean {
    const k = this.stable.frame[n]!;
    return this.memory.mapcount(k) > 0 && this.memory.frameTag(k) === n + 1;
  }

  /** The stable node of a KSM frame mapped by a PTE; rebuilds one if ksmd has none (after a restart). */
  private nodeOfKsmFrame(k: number): number {
    const tag = this.memory.frameTag(k);
    const n = tag - 1;
    if (n >= 0 && n < this.stable.capacity && this.stable.isLive(n) && this.stable.frame[n] === k) return n;
    if (!this.memory.tryGetFrame(k)) return -1;
    const sn = this.stable.insert(k, this.checksumOf(k), this.state.get('merge_across_nodes') === 1 ? 0 : (k / this.framesPerNode) | 0);
    this.memory.setFrameTag(k, sn + 1);
    this.memory.putFrame(k);
    return sn;
  }

  private unstableSearchInsert(it: number, checksum: number, frame: number, nid: number, mergeAcross: boolean): number {
    const items = this.items;
    const ut = this.unstable;
    let t = ut.first(checksum);
    while (t >= 0) {
      const next = items.next[t]!;
      if (t !== it && items.checksum[t] === checksum && items.state[t] === ITEM_UNSTABLE) {
        const tg = this.guests[items.guest[t]!]!;
        const tpte = Atomics.load(tg.pt, items.vpage[t]!);
        if ((tpte & (PRESENT_ANON_MASK | PTE_KSM)) === PRESENT_ANON) {
          const tf = tpte >>> PTE_FRAME_SHIFT;
          const tnid = mergeAcross ? 0 : (tf / this.framesPerNode) | 0;
          if (tnid === nid && this.memory.compareFrames(frame, tf) === 0) return t;
        }
      }
      t = next;
    }
    items.state[it] = ITEM_UNSTABLE;
    items.seq[it] = this.seqnr;
    ut.insert(items, it);
    this.pagesUnshared++;
    return -1;
  }

  // ───────────────────────────── the merge protocol ─────────────────────────────

  /**
   * write_protect_page: clear WRITABLE and set WP_KSMD by compare-and-exchange, then wait until the
   * guest is not inside a write access to this page (it may hold the old writable PTE). Returns the
   * write-protected PTE, or 0 if the page changed or the guest stayed writing on it.
   * A subpage of a huge page is never write-protected as it is: try_to_merge_one_page splits the
   * huge page first (thp.ts, splitHugeBlock), and the merge goes on with the PTE the split left, or
   * fails now and is retried on a later visit if the split could not be made.
   */
  private writeProtect(g: GuestScan, vpage: number, pte: number, anyPrivate = false): number {
    if (inHugeBlock(g.pt, vpage) || (pte & PTE_HUGE)) {
      if (this.splitHuge(g, vpage) === SPLIT_BUSY) return 0;
      pte = Atomics.load(g.pt, vpage);
    }
    return this.writeProtectPage(g, vpage, pte, anyPrivate);
  }

  /** write_protect_page proper, on a page in no huge block (it refuses one: 0). */
  private writeProtectPage(g: GuestScan, vpage: number, pte: number, anyPrivate = false): number {
    // Merges take pages of mergeable areas only; reclaim (anyPrivate) takes any private page.
    if (anyPrivate ? !isPrivateFrame(pte) : (pte & (PRESENT_ANON_MASK | PTE_KSM)) !== PRESENT_ANON) return 0;
    if ((pte & PTE_HUGE) || (Atomics.load(g.pt, hugeHead(vpage)) & PTE_HUGE)) return 0;
    if (this.brokenNoRecompare) {
      // TEST ONLY (see BrokenProtocol): no write-protect, no shootdown; and linger 50 µs before the
      // caller's CAS, as a preempted ksmd would, so a short test run sees the write this loses.
      const until = performance.now() + 0.05;
      while (performance.now() < until);
      return pte;
    }
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    if (Atomics.compareExchange(g.pt, vpage, pte, wp) !== pte) return 0;
    // Wait only for a writer (hazardWrite): a guest reading the page may go on reading the frame,
    // whose bytes no one can change now; if the merge replaces it, its free waits for the reader.
    const ctl = g.ctl;
    const writing = hazardWrite(vpage);
    for (let i = 0; i < SHOOTDOWN_SPINS; i++) if (Atomics.load(ctl, CTL_HAZARD) !== writing) return wp;
    return 0;
  }

  /**
   * ksmd's write-protect and release of a replaced frame for one guest's pages, lent to khugepaged
   * (khugepaged.ts), which runs on this thread between ksmd's batches; undefined for a guest ksmd
   * does not know.
   */
  replacePrimitives(pid: number): SplitPrimitives | undefined {
    const slot = this.slotByPid.get(pid);
    if (slot === undefined) return undefined;
    const g = this.guests[slot]!;
    return {
      writeProtect: (p, pte) => this.writeProtectPage(g, p, pte),
      releaseReplaced: (p, frame) => this.releaseAfterReplace(g, p, frame, false),
    };
  }

  /** split_huge_page of the block holding `vpage`, with its zero subpages mapped to the zero page. */
  private splitHuge(g: GuestScan, vpage: number): number {
    return splitHugeBlock(g.pt, g.ctl, this.memory, vpage, {
      writeProtect: (p, pte) => this.writeProtectPage(g, p, pte),
      releaseReplaced: (p, frame) => this.releaseAfterReplace(g, p, frame, false),
    });
  }

  /** try_to_merge_with_ksm_page: the caller holds a reference on node `sn`'s frame, which is consumed. */
  private mergeIntoKsm(g: GuestScan, vpage: number, pte: number, sn: number): number {
    const mem = this.memory;
    const k = this.stable.frame[sn]!;
    const wp = this.writeProtect(g, vpage, pte);
    if (!wp) {
      mem.putFrame(k);
      this.events.mergeAborts++;
      return MERGE_FAILED;
    }
    if (!this.brokenNoRecompare && mem.compareFrames(wp >>> PTE_FRAME_SHIFT, k) !== 0) {
      mem.putFrame(k);
      return MERGE_DIFFERENT;
    }
    const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (wp & PTE_NOACCESS));
    if (Atomics.compareExchange(g.pt, vpage, wp, next) !== wp) {
      mem.putFrame(k);
      this.events.mergeAborts++;
      return MERGE_FAILED;
    }
    // The reference we held now belongs to the PTE.
    this.releaseAfterReplace(g, vpage, wp >>> PTE_FRAME_SHIFT, false);
    this.events.merges++;
    return MERGE_DONE;
  }

  private mergeWithZeroPage(g: GuestScan, vpage: number, pte: number): boolean {
    const wp = this.writeProtect(g, vpage, pte);
    if (!wp || this.memory.compareFrames(wp >>> PTE_FRAME_SHIFT, ZERO_FRAME) !== 0) return false;
    const next = makePte(ZERO_FRAME, PTE_PRESENT | PTE_ZERO | PTE_KSM_ZERO | PTE_MERGEABLE | (wp & PTE_NOACCESS));
    if (Atomics.compareExchange(g.pt, vpage, wp, next) !== wp) return false;
    Atomics.add(g.ctl, CTL_KSM_ZERO_PAGES, 1);
    this.state.add('ksm_zero_pages', 1);
    this.releaseAfterReplace(g, vpage, wp >>> PTE_FRAME_SHIFT, false);
    this.events.zeroMerges++;
    return true;
  }

  /**
   * try_to_merge_two_pages + stable_tree_insert + stable_tree_append of both items.
   *
   * Page A's frame k becomes the KSM page; B is replaced by it. Races closed here (issue 11):
   *  - k's metadata is written only once k is ksmd's (finding 5). Until the CAS of A, the guest may
   *    release A and k be freed and handed to anyone (allocUninitialized resets its mapcount with
   *    plain stores): a mapcount stored before that CAS wrote another owner's frame. After it, k is
   *    a KSM frame that A's PTE (or, if A dropped it at once, nobody) maps: A's drop decrements
   *    from 0 to -1 and frees nothing (only the drop that sees 1 frees), and our +2 leaves exactly
   *    our reference. So: CAS A, then add 2 (A's PTE and ours), then add 1 for B before B's CAS.
   *  - the stable node is filed under the checksum of k as it is once both PTEs map it read-only
   *    (finding 4): the checksum cmpAndMerge took was of A before write-protection, and A may have
   *    been written between the two (the full compare after write-protection is what made this
   *    merge right; the key must describe the same bytes, or searches miss this node).
   *  - if B's CAS fails, A is given back by breakCow, whatever A's protection is by then (finding 6).
   */
  private mergeTwo(it: number, g: GuestScan, vpage: number, pte: number, tree: number, nid: number): void {
    // 2.6.32 (--kernel-compat 2.6.32): try_to_merge_two_pages returns NULL before touching either
    // page once ksm_pages_shared reached a non-zero max_kernel_pages, so pages_shared stops growing;
    // merges into existing KSM pages (pages_sharing) go on. Without the option the slot holds 0.
    const maxKernelPages = this.state.get('max_kernel_pages');
    if (maxKernelPages !== 0 && maxKernelPages <= this.pagesShared) return;
    const items = this.items;
    const mem = this.memory;
    const tg = this.guests[items.guest[tree]!]!;
    const tv = items.vpage[tree]!;
    const wpA = this.writeProtect(g, vpage, pte);
    if (!wpA) return;
    const wpB = this.writeProtect(tg, tv, Atomics.load(tg.pt, tv));
    if (!wpB) return;
    const k = wpA >>> PTE_FRAME_SHIFT;
    const fb = wpB >>> PTE_FRAME_SHIFT;
    if (!this.brokenNoRecompare && mem.compareFrames(k, fb) !== 0) {
      this.events.mergeAborts++;
      return;
    }
    this.onStep?.('compared', g.pid, vpage);
    this.onStep?.('cas-a', g.pid, vpage);
    const ksmA = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (wpA & PTE_NOACCESS));
    if (Atomics.compareExchange(g.pt, vpage, wpA, ksmA) !== wpA) {
      this.events.mergeAborts++;
      return;
    }
    mem.addMapcount(k, 2); // A's PTE and our own reference while we work
    this.onStep?.('merged-a', g.pid, vpage);
    mem.addMapcount(k, 1); // B's, before B's PTE can name k
    const ksmB = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (wpB & PTE_NOACCESS));
    if (Atomics.compareExchange(tg.pt, tv, wpB, ksmB) !== wpB) {
      mem.addMapcount(k, -1);
      this.breakCow(g, vpage, k);
      this.events.mergeAborts++;
      return;
    }
    this.releaseAfterReplace(tg, tv, fb, false);
    // stable_tree_insert, under k's checksum now that no one can write k; a full KSM page of the
    // same content makes this one a dup in its chain.
    const checksum = this.checksumOf(k);
    const sn = this.stable.insert(k, checksum, nid);
    mem.setFrameFlags(k, sn + 1);
    const full = this.findEqualNode(checksum, nid, k, sn);
    if (full >= 0) {
      this.stable.joinChain(sn, full);
      this.stable.setChainHint(this.stable.chain[sn]!, sn);
    }
    mem.putFrame(k);
    if (items.state[tree] === ITEM_UNSTABLE) this.removeFromTree(tree);
    this.appendToNode(tree, sn);
    this.appendToNode(it, sn);
    this.events.merges += 2;
  }

  /**
   * break_cow on page A after B's CAS failed: A alone maps k, a KSM page with no stable node, and we
   * hold the other reference. Give k back to A as a private page, or, if A no longer maps it (it
   * wrote and copied, or released it), drop our reference. A may have changed the PTE's protection
   * meanwhile without a fault (mprotect sets or clears NOACCESS): the first compare-and-exchange
   * then fails, so retry with the value seen while it still maps k as KSM (finding 6: giving up
   * left A a KSM page counted nowhere until a later visit). The private page keeps A's current
   * protection bits and stays read-only, so A's next write faults and reuses it.
   * After the swing k is A's private frame again, which must have mapcount 0: compare-and-exchange
   * 2 (A's and ours) → 0. A may release it and the frame be reused at once; a reused frame has 0
   * (only ksmd raises a mapcount above 0, and ksmd is here), so the exchange then changes nothing.
   */
  private breakCow(g: GuestScan, vpage: number, k: number): void {
    const mem = this.memory;
    for (;;) {
      const cur = Atomics.load(g.pt, vpage);
      if (!(cur & PTE_KSM) || cur >>> PTE_FRAME_SHIFT !== k) {
        mem.putFrame(k);
        return;
      }
      if (Atomics.compareExchange(g.pt, vpage, cur, cur & ~PTE_KSM) === cur) {
        mem.compareExchangeMapcount(k, 2, 0);
        return;
      }
    }
  }

  private findEqualNode(checksum: number, nid: number, k: number, except: number): number {
    const st = this.stable;
    for (let n = st.first(checksum); n >= 0; n = st.nextInBucket(n)) {
      if (n === except || st.checksum[n] !== checksum || st.nid[n] !== nid) continue;
      if (!this.getNodeFrame(n)) continue;
      const equal = this.memory.compareFrames(k, st.frame[n]!) === 0;
      this.memory.putFrame(st.frame[n]!);
      if (equal) return n;
    }
    return -1;
  }

  /**
   * After ksmd swung a guest PTE away from `frame`: free the private frame (or drop the KSM
   * reference) once the guest is not inside an access to that page; until then keep it queued.
   */
  private releaseAfterReplace(g: GuestScan, vpage: number, frame: number, isKsm: boolean): void {
    if (this.brokenFreeEarly || hazardPage(Atomics.load(g.ctl, CTL_HAZARD)) !== vpage) {
      if (isKsm) this.memory.putFrame(frame);
      else this.memory.free(frame);
      return;
    }
    this.deferred.push(g.slot, vpage, frame, isKsm ? 1 : 0);
    this.events.deferredFrees++;
  }

  /** Retry queued frees whose guest has left the page (or exited). */
  processDeferred(): void {
    const d = this.deferred;
    if (d.length === 0) return;
    const keep: number[] = [];
    for (let i = 0; i < d.length; i += 4) {
      const g = this.guests[d[i]!]!;
      if (!g.exited && Atomics.load(g.ctl, CTL_STATE) !== GUEST_EXITED && hazardPage(Atomics.load(g.ctl, CTL_HAZARD)) === d[i + 1]) {
        keep.push(d[i]!, d[i + 1]!, d[i + 2]!, d[i + 3]!);
        continue;
      }
      if (d[i + 3]) this.memory.putFrame(d[i + 2]!);
      else this.memory.free(d[i + 2]!);
    }
    this.deferred = keep;
  }

  get pendingFrees(): number {
    return this.deferred.length / 4;
  }

  // ───────────────────────────── tree membership and counters ─────────────────────────────

  private appendToNode(it: number, sn: number): void {
    const items = this.items;
    const g = this.guests[items.guest[it]!]!;
    if (this.stable.count[sn]! > 0) this.pagesSharing++;
    else this.pagesShared++;
    this.stable.addItem(sn, items, it);
    items.state[it] = ITEM_STABLE;
    items.node[it] = sn;
    g.mergingPages++;
  }

  /** remove_rmap_item_from_tree. */
  private removeFromTree(it: number): void {
    const items = this.items;
    const st = items.state[it];
    if (st === ITEM_UNSTABLE) {
      if (items.seq[it] === this.seqnr) this.unstable.remove(items, it);
      this.pagesUnshared--;
      items.state[it] = ITEM_NONE;
    } else if (st === ITEM_STABLE) {
      const sn = items.node[it]!;
      if (!this.getNodeFrame(sn)) {
        // The KSM page is gone: drop the whole node, as ksm_get_folio() does on a stale node.
        this.removeNode(sn);
        return;
      }
      this.memory.putFrame(this.stable.frame[sn]!);
      this.unlinkStableItem(it, sn);
    }
  }

  private unlinkStableItem(it: number, sn: number): void {
    const items = this.items;
    this.stable.removeItem(sn, items, it);
    if (this.stable.count[sn]! > 0) this.pagesSharing--;
    else this.pagesShared--;
    this.guests[items.guest[it]!]!.mergingPages--;
    items.state[it] = ITEM_NONE;
    items.node[it] = -1;
  }

  /** remove_node_from_stable_tree: every item of the node leaves it; the node goes. */
  private removeNode(sn: number): void {
    const st = this.stable;
    while (st.head[sn]! >= 0) this.unlinkStableItem(st.head[sn]!, sn);
    st.remove(sn);
  }

  private freeItem(g: GuestScan, it: number): void {
    this.removeFromTree(it);
    g.index.set(this.items.vpage[it]!, -1);
    this.items.free(it);
    g.rmapItems--;
  }

  private dropGuest(g: GuestScan): void {
    g.index.forEach((it) => this.freeItem(g, it));
    const pos = this.order.indexOf(g.slot);
    if (pos >= 0) {
      this.order.splice(pos, 1);
      if (this.inPass && pos < this.cursor) this.cursor--;
      else if (this.inPass && pos === this.cursor) this.loadGuestVmas();
    }
    this.slotByPid.delete(g.pid);
    g.exited = true;
    this.publishGuest(g);
  }

  private pruneChain(chain: number, checksum: number): void {
    const st = this.stable;
    let last = -1;
    for (let n = st.first(checksum); n >= 0;) {
      const next = st.nextInBucket(n);
      if (st.chain[n] === chain) {
        if (!this.nodeFrameLive(n)) this.removeNode(n);
        else last = n;
      }
      n = next;
    }
    if (st.chainSize(chain) <= 1) st.collapseChain(chain, last);
    else st.setChainPruneTime(chain, this.batchNow);
  }

  private checksumOf(frame: number): number {
    return this.checksums.of(frame);
  }

  /** See ChainCensus: a read-only walk of the stable nodes. */
  chainCensus(): ChainCensus {
    const st = this.stable;
    const all = new Map<number, number>();
    const live = new Map<number, number>();
    st.forEachLive((n) => {
      const c = st.chain[n]!;
      if (c < 0) return;
      all.set(c, (all.get(c) ?? 0) + 1);
      if (this.nodeFrameLive(n)) live.set(c, (live.get(c) ?? 0) + 1);
    });
    let dups = 0;
    for (const v of all.values()) dups += v;
    let liveChains = 0;
    let liveDups = 0;
    for (const v of live.values()) {
      if (v < 2) continue; // a chain left with one dup collapses when pruned
      liveChains++;
      liveDups += v;
    }
    return { chains: all.size, dups, liveChains, liveDups };
  }

  publish(): void {
    const s = this.state;
    s.set('pages_shared', this.pagesShared);
    s.set('pages_sharing', this.pagesSharing);
    s.set('pages_unshared', this.pagesUnshared);
    s.set('pages_scanned', this.pagesScanned);
    s.set('pages_skipped', this.pagesSkipped);
    s.set('full_scans', this.seqnr);
    s.set('rmap_items', this.items.live);
    s.set('stable_node_chains', this.stable.chains);
    s.set('stable_node_dups', this.stable.dups);
    for (const slot of this.order) this.publishGuest(this.guests[slot]!);
  }

  private publishGuest(g: GuestScan): void {
    Atomics.store(g.ctl, CTL_RMAP_ITEMS, g.rmapItems);
    Atomics.store(g.ctl, CTL_MERGING_PAGES, g.mergingPages);
  }

  // ───────────────────────────── reclaim of KSM pages ─────────────────────────────

  /**
   * Memory pressure: kswapd's part, done on the ksmd thread because ksmd alone holds the reverse map
   * of KSM pages (as the kernel's rmap_walk_ksm walks a stable node's rmap items) and alone may take
   * a page from under another guest's thread (its write-protect protocol). While free frames are
   * below the low watermark and swap has room, swap out KSM pages (out of every mapping ksmd knows
   * of) and any guest's private pages (swapOutPrivatePages), to the high watermark. Returns pages
   * swapped out. Each KSM page (swapOutKsmPage):
   *  1. take a reference on the node's frame k (getNodeFrame: the keyhole check), claim its
   *     PG_swapcache (claimSwapCache: a frame is never in two swap caches; a guest's page-out may
   *     hold it), allocate a slot
   *     (one hold: ours), write k's bytes into it (k is read-only for everyone: the bytes are final),
   *     flag the slot SLOT_KSM and put k in its swap cache with our reference — all before any PTE
   *     names the slot, so every swap-in that finds the entry finds the bytes, and the cache word;
   *  2. for each rmap item of the node whose PTE still maps k as a KSM page: one more hold on the
   *     slot, then compare-and-exchange that exact KSM value to the swap entry (each PTE becomes the
   *     same entry). A failed exchange (the guest copied on write, released the page, or changed its
   *     protection bits) gives the hold back and leaves that PTE alone. A won exchange took the PTE's
   *     reference on k, dropped as any replaced frame is (releaseAfterReplace): deferred while the
   *     guest's hazard word is on that page — the Dekker handshake of every ksmd swing (ksmd's
   *     exchange, then its hazard load; the guest's hazard store, then its PTE load), so a guest still
   *     reading k keeps it until it leaves. A guest in a copy-on-write of k holds a write hazard on the
   *     page, copied k while it was mapped, and its own exchange on the KSM value now fails: it sees
   *     the swap entry and swaps in instead;
   *  3. if nothing but the swap cache holds k now, take k out of the cache and drop the reference:
   *     the frame is free (a deferred put still pending keeps it until processDeferred, and the guest
   *     path shrinkSwapCache frees it later);
   *  4. drop our hold on the slot (if no PTE took the entry, the slot and its cache reference go).
   * Mappers ksmd has not listed yet (a swap-in from the cache before ksmd's next visit) keep k mapped:
   * k stays in the swap cache with them, which is also a state the kernel has. Counters follow the
   * kernel's lazy rules: the rmap items stay on the node until ksmd's scan visits those pages and
   * finds swap entries (pages_sharing and pages_shared fall then).
   */
  reclaim(maxPages = RECLAIM_BATCH): number {
    const mem = this.memory;
    const swap = mem.swap;
    if (!swap) return 0;
    const low = Math.max(RECLAIM_MIN_WATERMARK, mem.totalFrames >> 6);
    if (mem.freeFrames() >= low) return 0;
    const st = this.stable;
    let done = 0;
    let ksmLeft = true;
    let privateLeft = true;
    // Rounds of one KSM page and a few private pages (an LRU would mix them by age; the emulator
    // has no ages, so it takes both kinds in a fixed ratio) until the high watermark, the batch, or
    // nothing left to take.
    while (done < maxPages && mem.freeFrames() < 2 * low && (ksmLeft || privateLeft)) {
      if (ksmLeft) {
        let r = 0;
        let visited = 0;
        for (; visited < st.capacity && r === 0; visited++) {
          const n = this.reclaimHand;
          this.reclaimHand = n + 1 >= st.capacity ? 0 : n + 1;
          if (!st.isLive(n) || st.head[n]! < 0 || !this.getNodeFrame(n)) continue;
          r = this.swapOutKsmPage(n);
        }
        if (r < 0) break; // swap full
        if (r === 0) ksmLeft = false;
        done += r;
      }
      if (privateLeft) {
        const r = this.swapOutPrivatePages(PRIVATE_PER_ROUND);
        if (r < 0) break;
        if (r === 0) privateLeft = false;
        done += r;
      }
    }
    if (done) this.processDeferred();
    return done;
  }

  /**
   * Swap out up to `want` private pages of any guest, from a clock hand over the guests' private
   * areas (not MAP_SHARED). A private page belongs to its guest's thread, so ksmd takes it the way
   * it merges one, and for the same reasons (pte.ts, WP_KSMD): write-protect by compare-and-exchange
   * on the exact value and wait for a writer to leave the page; copy the frame into a fresh slot
   * (no one can write it now: a write faults, and the fault swings the PTE back to writable, which
   * fails our final exchange); compare-and-exchange the write-protected value to the swap entry;
   * free the frame when the guest is not inside an access to that page (releaseAfterReplace). If
   * the frame was released and reused between the write-protect and the copy, the PTE cannot hold
   * the write-protected value again (only ksmd sets WP_KSMD, and ksmd is here), so the exchange
   * fails and the copy is thrown away with its slot. The slot is written before any PTE names it,
   * so a swap-in never reads unwritten bytes. Returns pages swapped, or -1 when swap is full.
   */
  private swapOutPrivatePages(want: number): number {
    const swap = this.memory.swap!;
    let done = 0;
    for (let tries = 0; tries < this.guests.length && done < want; tries++) {
      const g = this.guests[this.privateHand.guest % Math.max(1, this.guests.length)];
      if (!g || g.exited || Atomics.load(g.ctl, CTL_STATE) === GUEST_EXITED) {
        this.privateHand.guest++;
        this.privateHand.page = 0;
        continue;
      }
      const areas = readVmaTable(g.ctl, g.vmaTable, 0, []).filter((v) => !(v.flags & VM_SHARED));
      for (const v of areas) {
        for (let p = Math.max(v.start, this.privateHand.page); p < v.start + v.pages && done < want; p++) {
          this.privateHand.page = p + 1;
          const pte = Atomics.load(g.pt, p);
          if (!isPrivateFrame(pte)) continue;
          const slot = swap.alloc();
          if (slot < 0) return done || -1;
          if (this.swapOutPrivatePage(g, p, pte, slot)) done++;
          else this.memory.putSwapSlot(slot);
        }
        if (done >= want) return done;
      }
      this.privateHand.guest++;
      this.privateHand.page = 0;
    }
    return done;
  }

  /** swapOutPrivatePages' protocol for one page; the slot is ours (one count). True if the PTE took it. */
  private swapOutPrivatePage(g: GuestScan, vpage: number, pte: number, slot: number): boolean {
    const mem = this.memory;
    const wp = this.writeProtect(g, vpage, pte, true);
    if (!wp) return false;
    const f = wp >>> PTE_FRAME_SHIFT;
    mem.swap!.writeSlot(slot, mem.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
    const next = makePte(slot, PTE_SWAPPED | (wp & (PTE_MERGEABLE | PTE_NOACCESS)));
    if (Atomics.compareExchange(g.pt, vpage, wp, next) !== wp) return false;
    this.releaseAfterReplace(g, vpage, f, false);
    this.events.privateSwapOuts++;
    return true;
  }

  /** reclaim's steps for KSM page of node `n`, whose frame we hold a reference on: 1 if swapped, 0 if not, -1 if swap is full. */
  private swapOutKsmPage(n: number): number {
    const mem = this.memory;
    const swap = mem.swap!;
    const items = this.items;
    const k = this.stable.frame[n]!;
    if (!mem.claimSwapCache(k)) {
      mem.putFrame(k); // in a swap cache already (a guest paged it out): not ours to swap
      return 0;
    }
    const slot = swap.alloc();
    if (slot < 0) {
      mem.markSwapCache(k, false);
      mem.putFrame(k);
      return -1;
    }
    swap.writeSlot(slot, mem.bankBuf[k >>> BANK_SHIFT]!, (k & BANK_MASK) << PAGE_SHIFT);
    swap.orFlags(slot, SLOT_KSM);
    mem.addToSwapCache(slot, k);
    let unmapped = 0;
    for (let it = this.stable.head[n]!; it >= 0; it = items.next[it]!) {
      const g = this.guests[items.guest[it]!]!;
      const v = items.vpage[it]!;
      const pte = Atomics.load(g.pt, v);
      if ((pte & (PTE_PRESENT | PTE_KSM)) !== (PTE_PRESENT | PTE_KSM) || pte >>> PTE_FRAME_SHIFT !== k) continue;
      swap.getSlot(slot);
      const next = makePte(slot, PTE_SWAPPED | (pte & (PTE_MERGEABLE | PTE_NOACCESS)));
      if (Atomics.compareExchange(g.pt, v, pte, next) !== pte) {
        mem.putSwapSlot(slot); // never the last hold: ours is still there
        continue;
      }
      this.releaseAfterReplace(g, v, k, true);
      unmapped++;
    }
    if (mem.mapcount(k) === 1 && swap.uncache(slot, k)) mem.dropSwapCache(k);
    mem.putSwapSlot(slot);
    this.events.ksmSwapOuts += unmapped > 0 ? 1 : 0;
    return unmapped > 0 ? 1 : 0;
  }

  // ───────────────────────────── sysfs requests ─────────────────────────────

  /** Carry out a knob write that needs ksmd; returns 0 or a negative errno. */
  handleRequest(op: number, arg: number): number {
    if (op === REQ_SET_RUN) {
      if (arg !== 2) {
        this.state.set('run', arg);
        return 0;
      }
      this.state.set('run', 2);
      const err = this.unmergeAll();
      if (err) this.state.set('run', 0);
      this.publish();
      return err;
    }
    if (op === REQ_SET_MERGE_ACROSS_NODES || op === REQ_SET_MAX_PAGE_SHARING) {
      const knob = op === REQ_SET_MERGE_ACROSS_NODES ? 'merge_across_nodes' : 'max_page_sharing';
      if (this.state.get(knob) === arg) return 0;
      if (this.pagesShared !== 0 || !this.removeAllStableNodes()) return -ERRNO.EBUSY;
      this.state.set(knob, arg);
      this.publish();
      return 0;
    }
    return -ERRNO.EINVAL;
  }

  /** remove_all_stable_nodes: succeeds only if no KSM page is still mapped. */
  private removeAllStableNodes(): boolean {
    let busy = false;
    this.stable.forEachLive((n) => {
      if (this.getNodeFrame(n)) {
        this.memory.putFrame(this.stable.frame[n]!);
        busy = true;
      } else this.removeNode(n);
    });
    return !busy;
  }

  /**
   * run=2 (unmerge_and_remove_all_rmap_items): every KSM page and KSM zero page in every guest
   * becomes a private copy, every item goes, full_scans restarts at 0. Returns 0 or -ENOMEM.
   */
  unmergeAll(): number {
    const mem = this.memory;
    let err = 0;
    outer: for (const slot of this.order) {
      const g = this.guests[slot]!;
      if (g.exited) continue;
      for (const v of readVmaTable(g.ctl, g.vmaTable, 0, [])) {
        for (let p = v.start; p < v.start + v.pages; p++) {
          for (;;) {
            const pte = Atomics.load(g.pt, p);
            if (!(pte & PTE_PRESENT) || !(pte & (PTE_KSM | PTE_KSM_ZERO))) break;
            const isKsm = (pte & PTE_KSM) !== 0;
            const f = this.allocNear(v.node >= 0 ? v.node : g.homeNode, v.node >= 0, isKsm);
            if (f < 0) {
              err = -ERRNO.ENOMEM;
              break outer;
            }
            if (isKsm) mem.copyFrame(pte >>> PTE_FRAME_SHIFT, f);
            const next = makePte(f, PTE_PRESENT | (pte & (PTE_MERGEABLE | PTE_NOACCESS)));
            if (Atomics.compareExchange(g.pt, p, pte, next) !== pte) {
              mem.free(f);
              continue;
            }
            if (isKsm) this.releaseAfterReplace(g, p, pte >>> PTE_FRAME_SHIFT, true);
            else {
              Atomics.sub(g.ctl, CTL_KSM_ZERO_PAGES, 1);
              this.state.add('ksm_zero_pages', -1);
            }
            this.events.unmerges++;
            break;
          }
        }
      }
    }
    // Items and nodes go whether or not every page could be unmerged (the kernel removes the
    // rmap_items of each mm it finished; a later run=2 retries the rest).
    for (const slot of [...this.order]) {
      const g = this.guests[slot]!;
      g.index.forEach((it) => this.freeItem(g, it));
      if (g.exited) this.dropGuest(g);
    }
    this.stable.forEachLive((n) => this.removeNode(n));
    this.inPass = false;
    this.seqnr = 0;
    this.advisor.reset();
    return err;
  }

  private allocNear(node: number, bound: boolean, copy: boolean): number {
    const mem = this.memory;
    const nodes = bound ? 1 : mem.nodes.length;
    for (let i = 0; i < nodes; i++) {
      const n = (node + i) % mem.nodes.length;
      const f = copy ? mem.allocUninitialized(n) : mem.allocZeroed(n);
      if (f >= 0) return f;
    }
    return -1;
  }
}
