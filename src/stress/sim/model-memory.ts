// model-memory.ts — owns the simulation's shared memory and the primitives over it (the frame allocator,
// the in-flight record, swap), each a transcription of the real code it names (src/mem/space-inflight.ts,
// src/mem/space-swap.ts, src/mem/physical-memory.ts), and the definitions every actor shares.
//
//  allocFor: allocator bitmap CAS (mapcount/flags reset with it) → store CTL_INFLIGHT_VPAGE →
//    store CTL_INFLIGHT_FRAME (then the caller's zero fill or copy). With swap, a failed bitmap
//    search runs swapOutOne(except = the faulting page) and retries (up to 4 times here).
//  swapOutOne: over the guest's pages from its clock hand: load PTE; the first private page ≠
//    except (HUGE: clearHugeBlock first, then look again): alloc a slot (once) → store VPAGE, NEXT (the swap entry), OLD → CAS PTE → swap entry
//    → copy the frame into the slot → dropReference(old) (frees the frame). The copy comes after
//    the CAS (finding 1; --broken swap-copy-before-unmap copies before it). Nothing qualifies:
//    free the slot.
//  swingWithNewFrame: store CTL_INFLIGHT_NEXT → store CTL_INFLIGHT_OLD → CAS PTE → on success
//    store CTL_INFLIGHT_FRAME = −1 → dropReference(old); on failure store CTL_INFLIGHT_OLD = 0 →
//    store CTL_INFLIGHT_FRAME = −1 → free(new frame), and the caller retries with the value the
//    CAS saw.
//  dropReference: claim the swing, CAS CTL_INFLIGHT_OLD old → 0 (the result is not looked at) →
//    swap entry: putSwapSlot | zero page: (KSM zero: Atomics.sub
//    CTL_KSM_ZERO_PAGES; the host-wide hook counter is not modelled) | KSM: Atomics.sub mapcount →
//    free if it was 1 | private: free. free = tag store, bitmap bit.
//  KSM pages in swap (cfg.ksmSwap; src/mem/space-swap.ts, swap-area.ts, physical-memory.ts):
//    putSwapSlot: Atomics.sub count → at 0: exchange the cache word to 0, free the slot, and if it
//      named a frame, dropSwapCache (clear PG_swapcache, putFrame).
//    canPageOut: private, or KSM with (load mapcount) 1 and (load flags) no PG_swapcache.
//    pageOutPte: store VPAGE, NEXT, OLD → CAS PTE → swap entry → copy the frame into the slot →
//      private: dropReference | KSM: test-and-set PG_swapcache (was set: dropReference), claim OLD,
//      then addToSwapCache (store the cache word) with the PTE's reference.
//    shrinkSwapCache (allocFor, before swapOutOne): per slot: load the cache word; load mapcount = 1;
//      CAS the word → 0; dropSwapCache.
//    swapIn: mergeable: takeSwapCache (load word, tryGetFrame, load word again; changed: putFrame)
//      → store VPAGE, NEXT (KSM PTE), OLD → CAS → dropReference(swap entry) | failed: OLD = 0,
//      putFrame. Otherwise (none cached, or not mergeable): allocFor → not mergeable: takeSwapCache,
//      copy, putFrame | read the slot → swingWithNewFrame.

import type { BrokenProtocol } from '../../ksm/ksm-engine.ts';
import { HAZARD_NONE } from '../../mem/guest-control.ts';
import {
  PTE_FRAME_SHIFT, PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte, pteFrame,
} from '../../mem/pte.ts';
import { Prng } from '../../platform/prng.ts';

/**
 * TEST ONLY protocol variants the simulation must catch ('none' is the real protocol):
 * 'no-recompare', 'free-without-hazard' as the engine's BrokenProtocol; 'swap-copy-before-unmap'
 * reintroduces issue 11's finding 1: swapOutOne copies the frame into the slot before the
 * compare-and-exchange that unmaps it (with the guest's hazard word on the faulting page);
 * 'old-sysfs-protocol' reintroduces findings 2 and 3: the writer stores OP, ARG, then DONE = 0,
 * DONE starts at 0 ("pending"), ksmd loads OP, DONE, ARG; the lock is 0/1 with no owner, so
 * nobody can release the lock of a writer killed holding it; 'failed-swing-clears-frame-first'
 * is swingWithNewFrame's old failure path (CTL_INFLIGHT_FRAME cleared before CTL_INFLIGHT_OLD: a
 * kill between the two leaked the new frame, recorded nowhere); 'swap-cache-check-then-set' is the
 * first version of KSM pages in swap (issue 15): PG_swapcache loaded, then set in a later step, so
 * ksmd's reclaim and a guest's page-out could both put one frame in a swap cache;
 * 'thp-merge-without-split' (cfg.thp) has ksmd write-protect and merge a subpage of a huge page as it
 * is, with no split first (and no refusal of a HUGE page); 'khugepaged-no-settle' is khugepaged before
 * the simulation found its race: no second look at the tails after the head's install, so a tail the
 * guest split off and changed meanwhile leaves a huge page with a hole; 'collapse-keeps-count' is
 * MADV_COLLAPSE before the simulation found its double count: replacing a head khugepaged made huge
 * meanwhile, it did not uncount that huge page; 'split-clears-any-tail' is clearHugeBlock before the
 * simulation found its two races: it cleared HUGE on every tail (another folio's too) and did not
 * look at the head again after clearing tails of a block whose head had no HUGE; 'thp-count-unrepaired'
 * is nr_anon_transparent_hugepages before the simulation's counter drift was closed: one host-wide
 * word, so a thread killed between a head's change and its count left it off for good (no guest's
 * count retired at its reclaim, no recount after a killed ksmd).
 */
export type SimBroken = BrokenProtocol | 'swap-copy-before-unmap' | 'old-sysfs-protocol' | 'failed-swing-clears-frame-first' | 'swap-cache-check-then-set' | 'thp-merge-without-split' | 'khugepaged-no-settle' | 'collapse-keeps-count' | 'split-clears-any-tail' | 'thp-count-unrepaired';

/** The broken variants of the huge-page paths: they need cfg.thp (--thp always). */
export const THP_BROKEN: readonly SimBroken[] = ['thp-merge-without-split', 'khugepaged-no-settle', 'collapse-keeps-count', 'split-clears-any-tail', 'thp-count-unrepaired'];

/**
 * The model's huge page (cfg.thp): a block of SIM_HPAGE PTEs mapped by a folio of SIM_HPAGE
 * contiguous frames (base aligned to SIM_HPAGE), standing for the real 512 (HPAGE_PAGES). Every rule
 * of the real code is per block and per index (head installed last and cleared first, frame = base
 * + index, one record of the folio in flight); none depends on the count, so four keeps a head,
 * tails on both sides of a merge and a KSM page repeated in a block, in a state space a test explores
 * in seconds.
 */
export const SIM_HPAGE = 4;

export const ZERO = 0;
export const NONE = -1;

/** What guest 0's death in a window leaks (ghost state, for checkFinal's residual-leak rule). */
export const LEAK_NONE = 0;
/** The window's frame: allocated, or due to be freed, and recorded in no in-flight word. */
export const LEAK_FRAME = 1;
/** One reference on the window's KSM frame (claimed, not yet decremented): mapcount = mappers + 1. */
export const LEAK_REFERENCE = 2;
/** One count of guest 0's ksm_zero_pages (claimed, not yet decremented). */
export const LEAK_ZERO_COUNT = 3;
/** One swap slot: allocated and in no PTE, or taken out of one and not yet freed. */
export const LEAK_SLOT = 4;
/** A whole folio (SIM_HPAGE frames from the window's frame): allocated, not yet recorded in CTL_INFLIGHT_HUGE (window 9). */
export const LEAK_FOLIO = 5;

/**
 * Step kinds of the JSON report's steps_by_kind: every step is counted under the operation its
 * actor is in (a swap-out inside a write fault counts as swap_out, a run=2 inside a sysfs request
 * as run2).
 */
export const STEP_KINDS = [
  'guest_write', 'guest_read', 'munmap_dontneed', 'unmerge', 'mergeable', 'swap_out', 'swap_in',
  'sysfs_request', 'sysfs_serve', 'ksmd_scan', 'ksmd_deferred', 'run2', 'kill', 'host_reclaim', 'host_repair',
  'pageout', 'ksmd_reclaim', 'thp_fault', 'thp_split', 'collapse', 'khugepaged',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];
export const K = Object.fromEntries(STEP_KINDS.map((k, i) => [k, i])) as Record<StepKind, number>;


export interface SimConfig {
  readonly guests: number;
  readonly pages: number;
  readonly frames: number;
  readonly opsPerGuest: number;
  readonly spins: number;
  readonly useZero: boolean;
  readonly maxSharing: number;
  readonly broken: SimBroken;
  /** Guest 0 may be killed at any step (worker.terminate()), then reclaimed by the host. */
  readonly killGuest: boolean;
  /** ksmd may be killed at any step, then the host repairs (guests paused) and starts a new one. */
  readonly killKsmd: boolean;
  /** After this many passes ksmd carries out a `run=2` request (unmergeAll); -1: never. */
  readonly run2AfterPass: number;
  /** Swap slots (0: no swap). With swap, a fault that finds no free frame pages out (swapOutOne). */
  readonly slots: number;
  /** Some initial private pages are read-only without WP_KSMD (after mprotect(PROT_READ) or a run=2). */
  readonly readOnlyPages: boolean;
  /**
   * sysfs writers (root processes writing `run`): each carries out its values of `run` through the
   * request channel (KsmState.requestSync), one after the other. Absent: none.
   */
  readonly writers?: readonly (readonly number[])[];
  /** With killGuest: the victim is sysfs writer 0 instead of guest 0. */
  readonly killWriter?: boolean;
  /** The merge engine (model-engines.ts; default ksm): dksm merges in the guests' MADV_MERGEABLE, uksm scans in ksmd's place. */
  readonly engine?: 'ksm' | 'dksm' | 'uksm';
  /** dksm: advise writable pages too (no mprotect(PROT_READ) first), so the writable-region hazard can happen. */
  readonly dksmWritable?: boolean;
  /**
   * With swap: KSM pages go to swap too. Page-out takes a KSM page its PTE alone maps into the swap
   * cache, guests MADV_PAGEOUT single pages (cfg.pageouts), and ksmd's reclaim swaps a KSM page
   * out of every mapping at the start of a pass while frames are short.
   */
  readonly ksmSwap?: boolean;
  /** MADV_PAGEOUT operations inserted into the drawn programs: guest, position, page. */
  readonly pageouts?: readonly { readonly g: number; readonly at: number; readonly p: number }[];
  /**
   * Transparent huge pages (transparent_hugepage/enabled = always; model-thp.ts): every guest's pages
   * are one SIM_HPAGE block; a write fault on an untouched block maps a folio, ksmd splits before it
   * write-protects, khugepaged collapses between ksmd's passes, and programs may MADV_COLLAPSE.
   */
  readonly thp?: boolean;
}

/** A sysfs writer's lock token: its pid (the model's guests have none: 100 + w). */
export function writerToken(w: number): number {
  return 100 + w;
}

export type Op = { kind: 'write'; p: number; v: number } | { kind: 'read'; p: number } | { kind: 'dontneed'; p: number } | { kind: 'unmerge'; p: number } | { kind: 'mergeable'; p: number } | { kind: 'pageout'; p: number } | { kind: 'collapse'; p: number };

/** A page of a scripted initial memory: untouched (null) or a private frame of `content`. */
export type ScriptPage = null | { readonly content: number; readonly writable: boolean };

/**
 * A scripted start (tests): the initial memory page by page (guest-major, frames handed out in
 * order from frame 1) and each guest's program, instead of drawing them.
 */
export interface SimScript {
  readonly memory: readonly ScriptPage[];
  readonly programs: readonly (readonly Op[])[];
}
/** mergeIntoKsm's outcome, as the engine's MERGE_DONE / MERGE_FAILED / MERGE_DIFFERENT. */
export type MergeResult = 'done' | 'failed' | 'different';

export interface Item {
  g: number;
  p: number;
  state: number;
  node: number;
  checksum: number;
  seq: number;
}

export interface StableNode {
  frame: number;
  checksum: number;
  live: boolean;
  items: Item[];
}

export type Step = Generator<string, void, void>;

export class SimViolation extends Error {}

export class SimMemory {
  readonly cfg: SimConfig;
  // shared memory
  readonly pt: Int32Array;
  readonly hazard: Int32Array;
  readonly content: Int32Array;
  readonly gen: Int32Array;
  readonly free: Uint8Array;
  readonly mapcount: Int32Array;
  readonly tag: Int32Array;
  readonly ksmZero: Int32Array; // per guest CTL_KSM_ZERO_PAGES
  // the swap area (SwapArea): slot contents and the slot bitmap
  readonly slotContent: Int32Array;
  readonly slotFree: Uint8Array;
  /** Ghost: a slot whose PTE already names it and whose bytes are not yet written (swapOutOne). */
  readonly slotFilling: Uint8Array;
  /** Per slot: the swap count (PTEs and holders naming it) and the swap-cache word (frame, or 0). */
  readonly slotCount: Int32Array;
  readonly slotCache: Int32Array;
  /** Per frame: PG_swapcache. */
  readonly swapCacheBit: Uint8Array;
  /** Where this model's shrinkSwapCache looks next (one hand: PhysicalMemory's is per thread). */
  protected shrinkHand = 0;
  /** Swap-ins that found their KSM page in the swap cache, and KSM pages ksmd swapped out of every mapping. */
  cacheSwapIns = 0;
  ksmSwapOuts = 0;
  privateSwapOuts = 0;
  protected readonly swapHand: Int32Array;
  /** Per actor (guests, ksmd, host), the StepKind of the operation it is in (steps_by_kind). */
  readonly kindOf: Uint8Array;
  readonly exited: Uint8Array; // per guest CTL_STATE == GUEST_EXITED
  readonly inOp: Uint8Array; // per guest: inside a system call or access (not at a pause point)
  // per guest CTL_INFLIGHT_VPAGE / FRAME / OLD / NEXT (guest-control.ts)
  readonly ifVpage: Int32Array;
  readonly ifFrame: Int32Array;
  readonly ifOld: Int32Array;
  readonly ifNext: Int32Array;
  // ghost: the leak window guest g is in between two steps (a frame it alone knows of and that no
  // in-flight word records), so a kill there can be told apart from a leak the protocol should not have
  readonly window: string[];
  readonly windowFrame: Int32Array;
  readonly windowDocumented: Uint8Array;
  /** What a kill in the window leaks: LEAK_FRAME, LEAK_REFERENCE or LEAK_ZERO_COUNT (LEAK_NONE: nothing). */
  readonly windowLeak: Uint8Array;
  /** Set by the explorer at the kill: guest 0 is dead (until the host's reclaim marks it EXITED). */
  guestKilled = false;
  /** Ghost: ksmd's write-protect CAS succeeded on a page of the dead guest before its reclaim finished. */
  wpOnDeadGuest = false;
  /** Set by the explorer at the kill: the window guest 0 died in ('' none). */
  killWindow = '';
  killWindowFrame = -1;
  killWindowDocumented = false;
  killWindowLeak = LEAK_NONE;
  /** After checkFinal: 1 if the only leak is the frame of a documented residual window. */
  residualLeaks = 0;
  residualWhy = '';
  // ghost state
  readonly shadow: Int32Array;
  /** Ghost (DKSM's hazard): "frame:generation" → the pages that wrote it in place through a writable KSM PTE. */
  readonly inPlace = new Map<string, Set<number>>();
  /** Ghost: the frame (and its generation) a page's bytes were last copied from by a copy-on-write or unmerge; -1 none. */
  readonly copiedFrame: Int32Array;
  readonly copiedGen: Int32Array;
  readonly programs: Op[][];
  guestsDone = 0;
  // the sysfs request channel (KsmState control words KC_REQ_*)
  reqLock = 0;
  reqOp = 0;
  reqArg = 0;
  reqSeq = 0; // KC_REQ_SEQ (old protocol: KC_REQ_DONE, 0 pending, 1 answered)
  reqAck = 0;
  reqResult = 0;
  /** ksm `run` as ksmd applies it. */
  run = 1;
  writersDone = 0;
  /** Ghost: the value of `run` each published sequence number asked for. */
  protected readonly published = new Map<number, number>();
  /** Ghost (old protocol): the value of `run` the lock holder is writing, or -1. */
  protected intent = -1;
  sysfsRequests = 0;
  /** Copy-on-writes of KSM pages (counted by the guests). */
  cows = 0;
  /** Set by the explorer when it keeps a trace (labels are built either way). */
  tracing = false;
  // transparent huge pages (cfg.thp)
  /** Each guest's huge-page slot of vmstat (src/mem/vmstat.ts): its count of huge pages, and whether it is retired (its generation bumped, the count zeroed). */
  readonly thpOf: Int32Array;
  readonly thpRetired: Uint8Array;
  /**
   * Ghost, per actor (guests, ksmd, host): heads it installed (+1) or cleared (−1) and not yet
   * counted (thpPendingOn: in which guest's slot). Invariant: thpPages + Σ thpPending over guests not
   * retired = blocks whose head has HUGE.
   */
  readonly thpPending: Int32Array;
  readonly thpPendingOn: Int32Array;
  /** Repairs that corrected the count: a retired slot that held non-zero, or a slot the repair after a killed ksmd recounted. */
  thpCountRepairs = 0;
  /** Per guest CTL_INFLIGHT_HUGE (the folio being mapped, or −1) and CTL_INFLIGHT_HUGE_HEAD. */
  readonly ifHuge: Int32Array;
  readonly ifHugeHead: Int32Array;
  /** Ghost, per actor: 1 + the guest whose block it is clearing HUGE on (clearHugeBlock), or 0. */
  readonly splitting: Int32Array;
  /** Ghost: the guest whose block khugepaged installed the head of and is still settling (−1 none). */
  hugeSettling = -1;
  /** Ghost: a folio frame a PTE names before MADV_COLLAPSE copied the page's bytes into it. */
  readonly frameFilling: Uint8Array;
  /** THP events (the vmstat lines of docs/thp.md): faults, fallbacks, splits, collapses. */
  readonly thpEvents = { faults: 0, fallbacks: 0, splits: 0, zeroRemaps: 0, collapses: 0, collapseEagain: 0, collapseOverHuge: 0, khugepaged: 0, khugepagedAbandoned: 0, settleSplits: 0 };

  constructor(cfg: SimConfig, rng: Prng, script?: SimScript) {
    this.cfg = cfg;
    const n = cfg.guests * cfg.pages;
    this.pt = new Int32Array(n);
    this.hazard = new Int32Array(cfg.guests).fill(HAZARD_NONE);
    this.content = new Int32Array(cfg.frames);
    this.gen = new Int32Array(cfg.frames);
    this.free = new Uint8Array(cfg.frames).fill(1);
    this.free[ZERO] = 0;
    this.mapcount = new Int32Array(cfg.frames);
    this.tag = new Int32Array(cfg.frames);
    this.ksmZero = new Int32Array(cfg.guests);
    this.slotContent = new Int32Array(cfg.slots);
    this.slotFree = new Uint8Array(cfg.slots).fill(1);
    this.slotFilling = new Uint8Array(cfg.slots);
    this.slotCount = new Int32Array(cfg.slots);
    this.slotCache = new Int32Array(cfg.slots);
    this.swapCacheBit = new Uint8Array(cfg.frames);
    this.swapHand = new Int32Array(cfg.guests);
    this.kindOf = new Uint8Array(cfg.guests + 2);
    this.exited = new Uint8Array(cfg.guests);
    this.inOp = new Uint8Array(cfg.guests);
    this.ifVpage = new Int32Array(cfg.guests);
    this.ifFrame = new Int32Array(cfg.guests).fill(-1);
    this.ifOld = new Int32Array(cfg.guests);
    this.ifNext = new Int32Array(cfg.guests);
    this.thpPending = new Int32Array(cfg.guests + 2);
    this.thpPendingOn = new Int32Array(cfg.guests + 2);
    this.thpOf = new Int32Array(cfg.guests);
    this.thpRetired = new Uint8Array(cfg.guests);
    this.splitting = new Int32Array(cfg.guests + 2);
    this.ifHuge = new Int32Array(cfg.guests).fill(-1);
    this.ifHugeHead = new Int32Array(cfg.guests).fill(-1);
    this.frameFilling = new Uint8Array(cfg.frames);
    this.window = new Array<string>(cfg.guests).fill('');
    this.windowFrame = new Int32Array(cfg.guests).fill(-1);
    this.windowDocumented = new Uint8Array(cfg.guests);
    this.windowLeak = new Uint8Array(cfg.guests);
    this.shadow = new Int32Array(n);
    this.copiedFrame = new Int32Array(n).fill(-1);
    this.copiedGen = new Int32Array(n);
    if (script) {
      script.memory.forEach((pg, i) => {
        if (!pg) return;
        const f = this.allocInit();
        this.content[f] = pg.content;
        this.shadow[i] = pg.content;
        this.pt[i] = makePte(f, PTE_PRESENT | (pg.writable ? PTE_WRITABLE : 0) | PTE_MERGEABLE);
      });
      this.programs = script.programs.map((ops) => [...ops]);
      return;
    }
    this.programs = [];
    // Initial memory: untouched pages, private pages of a few contents, and sometimes a KSM page
    // that ksmd has no node for (as after a ksmd restart: nodeOfKsmFrame rebuilds it).
    for (let i = 0; i < n; i++) {
      const x = rng.below(4);
      if (x === 0) continue;
      const v = 1 + rng.below(2);
      const f = this.allocInit();
      this.content[f] = v;
      this.shadow[i] = v;
      this.pt[i] = makePte(f, PTE_PRESENT | PTE_WRITABLE | PTE_MERGEABLE);
    }
    // (Not under UKSM, which has no other source of KSM pages and censuses only its own.)
    if (cfg.guests >= 2 && rng.chance(0.3) && cfg.engine !== 'uksm') {
      const v = 1 + rng.below(2);
      // The two pages' frames go back first (with one frame per page, swap's tight memory, there
      // may be no other); allocInit takes the lowest free frame, as it did when it came first.
      const olds = [this.pt[0]!, this.pt[cfg.pages]!];
      if (cfg.slots) for (const old of olds) if (old & PTE_PRESENT) this.free[old >>> PTE_FRAME_SHIFT] = 1;
      const k = this.allocInit();
      this.content[k] = v;
      for (const i of [0, cfg.pages]) {
        const old = this.pt[i]!;
        if ((old & PTE_PRESENT) && !cfg.slots) this.free[old >>> PTE_FRAME_SHIFT] = 1;
        this.pt[i] = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
        this.shadow[i] = v;
        this.mapcount[k]++;
      }
    }
    for (let g = 0; g < cfg.guests; g++) {
      const ops: Op[] = [];
      for (let i = 0; i < cfg.opsPerGuest; i++) {
        const p = rng.below(cfg.pages);
        const x = rng.below(100);
        if (x < 42) ops.push({ kind: 'write', p, v: rng.pick([1, 1, 2, 2, 0, 3]) });
        else if (x < 78) ops.push({ kind: 'read', p });
        else if (x < 86) ops.push({ kind: 'dontneed', p });
        else if (x < 93) ops.push({ kind: 'unmerge', p });
        else ops.push({ kind: 'mergeable', p });
      }
      // DKSM's MADV_UNMERGEABLE is a no-op: its programs advise MERGEABLE there instead (same draws).
      if (cfg.engine === 'dksm') for (const op of ops) if (op.kind === 'unmerge') (op as { kind: string }).kind = 'mergeable';
      this.programs.push(ops);
    }
    // Configured outside this generator (explore.ts draws them from its second one).
    for (const o of cfg.pageouts ?? []) this.programs[o.g]!.splice(Math.min(o.at, this.programs[o.g]!.length), 0, { kind: 'pageout', p: o.p });
    // Drawn last, so a configuration without it draws exactly what it did before.
    if (cfg.readOnlyPages) {
      for (let i = 0; i < n; i++) {
        const pte = this.pt[i]!;
        if ((pte & PTE_PRESENT) && !(pte & PTE_KSM) && rng.chance(0.4)) this.pt[i] = pte & ~PTE_WRITABLE;
      }
    }
    if (cfg.thp) this.drawHugeBlocks(rng);
  }

  /**
   * cfg.thp, drawn after everything else: each guest's one block stays as drawn (4 KiB pages), is
   * left untouched (its first write fault maps a folio), or starts as a huge page of a folio whose
   * subpages hold 0 (most: a huge fault zero-fills) or 1 (for ksmd to merge after its split). A block
   * holding the drawn KSM page stays as drawn. Programs get an MADV_COLLAPSE of the block sometimes.
   */
  protected drawHugeBlocks(rng: Prng): void {
    const pages = this.cfg.pages;
    for (let g = 0; g < this.cfg.guests; g++) {
      const x = rng.below(3);
      const at = g * pages;
      let ksm = false;
      for (let p = 0; p < pages; p++) if (this.pt[at + p]! & PTE_KSM) ksm = true;
      if (x === 0 || ksm) continue;
      for (let p = 0; p < pages; p++) {
        const pte = this.pt[at + p]!;
        if (pte & PTE_PRESENT) this.free[pteFrame(pte)] = 1;
        this.pt[at + p] = 0;
        this.shadow[at + p] = 0;
      }
      if (x === 1) continue;
      const base = this.allocHuge();
      if (base < 0) continue;
      for (let p = 0; p < pages; p++) {
        const v = rng.chance(0.7) ? 0 : 1;
        this.content[base + p] = v;
        this.shadow[at + p] = v;
        this.pt[at + p] = makePte(base + p, PTE_PRESENT | PTE_WRITABLE | PTE_MERGEABLE | PTE_HUGE);
      }
      this.thpOf[g]!++;
    }
    for (let g = 0; g < this.cfg.guests; g++) {
      const ops = this.programs[g]!;
      if (rng.chance(0.4)) ops.splice(rng.below(ops.length + 1), 0, { kind: 'collapse', p: 0 });
    }
  }

  protected allocInit(): number {
    for (let f = 1; f < this.cfg.frames; f++) {
      if (this.free[f]) {
        this.free[f] = 0;
        this.gen[f]++;
        return f;
      }
    }
    throw new Error('model too small');
  }

  protected fail(what: string): never {
    // The circumstances of a kill, so a violation names the window it came from.
    let ctx = '';
    if (this.guestKilled) ctx += ` [guest 0 killed ${this.killWindow ? `in the window "${this.killWindow}"${this.killWindowFrame >= 0 ? ` (frame ${this.killWindowFrame})` : ''}${this.killWindowDocumented ? ', a documented window' : ', not a documented window'}` : 'outside any tracked window'}]`;
    if (this.wpOnDeadGuest) ctx += ' [ksmd write-protected a page of the dead guest before the host reclaimed it]';
    throw new SimViolation(what + ctx);
  }

  // ───────────── shared-memory primitives (each used inside one step) ─────────────

  protected cas(i: number, expect: number, next: number): number {
    const seen = this.pt[i]!;
    if (seen === expect) this.pt[i] = next;
    return seen;
  }

  /** FrameAllocator.alloc: one successful bitmap compare-and-exchange (a failed one retries). */
  protected allocFrame(): number {
    for (let f = 1; f < this.cfg.frames; f++) {
      if (this.free[f]) {
        this.free[f] = 0;
        this.gen[f]++;
        return f;
      }
    }
    return -1;
  }

  protected checkAccess(f: number, gen: number, who: string): void {
    if (f !== ZERO && (this.free[f] || this.gen[f] !== gen)) this.fail(`${who} touches frame ${f}, which was freed${this.free[f] ? '' : ' and reused'} since its PTE was loaded (invariant 5)`);
  }

  /**
   * PhysicalMemory.free: tag store, then the bitmap bit. `g` ≥ 0: guest g frees a frame that no
   * in-flight word records any more, so its death between the two steps leaks the frame (the
   * documented residual window "inside free()").
   */
  protected *freeFrame(f: number, who: string, g = -1): Step {
    this.tag[f] = 0;
    if (g >= 0) this.enterWindow(g, 'inside free()', f, true);
    yield this.tracing ? `${who}: free frame ${f} (clear tag)` : '';
    if (this.free[f]) this.fail(`${who}: double free of frame ${f}`);
    this.free[f] = 1;
    this.frameFilling[f] = 0;
    if (g >= 0) this.leaveWindow(g);
    yield this.tracing ? `${who}: free frame ${f} (bitmap)` : '';
  }

  protected enterWindow(g: number, what: string, f: number, documented: boolean, leak = LEAK_FRAME): void {
    this.window[g] = what;
    this.windowFrame[g] = f;
    this.windowDocumented[g] = documented ? 1 : 0;
    this.windowLeak[g] = leak;
  }

  protected leaveWindow(g: number): void {
    this.window[g] = '';
    this.windowFrame[g] = -1;
    this.windowDocumented[g] = 0;
    this.windowLeak[g] = LEAK_NONE;
  }

  /** PhysicalMemory.putFrame. */
  protected *putFrame(f: number, who: string): Step {
    const old = this.mapcount[f]!;
    this.mapcount[f] = old - 1;
    yield this.tracing ? `${who}: mapcount(${f}) ${old}→${old - 1}` : '';
    if (old === 1) yield* this.freeFrame(f, who);
  }

  /** PhysicalMemory.tryGetFrame. */
  protected *tryGetFrame(f: number, who: string): Generator<string, boolean, void> {
    let c = this.mapcount[f]!;
    yield this.tracing ? `${who}: load mapcount(${f}) = ${c}` : '';
    while (c > 0) {
      const seen = this.mapcount[f]!;
      if (seen === c) this.mapcount[f] = c + 1;
      yield this.tracing ? `${who}: CAS mapcount(${f}) ${c}→${c + 1}${seen === c ? '' : ' failed'}` : '';
      if (seen === c) return true;
      c = seen;
    }
    return false;
  }

  /**
   * AddressSpace.dropReference, after this thread swung a PTE of guest g away from `pte`: first the
   * claim (Atomics.compareExchange(ctl, CTL_INFLIGHT_OLD, pte, 0)), so the host never drops the
   * reference a second time; then the decisive atomic (ksm_zero_pages −1, or the mapcount −1) and,
   * for the last reference or a private frame, free(). Between the claim and the end the reference
   * is recorded nowhere: a kill there is a documented residual leak (a frame, a reference on a KSM
   * frame, or one ksm_zero_pages count). `track`: the live guest itself (its death in a window
   * matters), not the host finishing for it.
   */
  protected *dropReference(g: number, pte: number, who: string, track: boolean): Step {
    const w = track ? g : -1;
    const claimed = this.ifOld[g] === pte;
    if (claimed) this.ifOld[g] = 0;
    const f = pte >>> PTE_FRAME_SHIFT;
    const present = (pte & PTE_PRESENT) !== 0;
    if (track) {
      if (!present && (pte & PTE_SWAPPED)) this.enterWindow(g, 'INFLIGHT_OLD claimed, swap slot not yet freed', pteFrame(pte), true, LEAK_SLOT);
      else if (!present || ((pte & PTE_ZERO) && !(pte & PTE_KSM_ZERO))) this.leaveWindow(g);
      else if (pte & PTE_ZERO) this.enterWindow(g, 'INFLIGHT_OLD claimed, ksm_zero_pages not yet decremented', -1, true, LEAK_ZERO_COUNT);
      else if (pte & PTE_KSM) this.enterWindow(g, 'INFLIGHT_OLD claimed, mapcount not yet decremented', f, true, LEAK_REFERENCE);
      else this.enterWindow(g, 'INFLIGHT_OLD claimed, free() of the private frame not yet done', f, true, LEAK_FRAME);
    }
    yield this.tracing ? `${who}: claim INFLIGHT_OLD: CAS ${fmt(pte)} → 0${claimed ? '' : ' failed'}${present ? '' : ' (nothing to drop)'}` : '';
    if (!present) {
      if (pte & PTE_SWAPPED) yield* this.putSwapSlot(pteFrame(pte), who, track ? g : -1);
      return;
    }
    if (pte & PTE_ZERO) {
      if (pte & PTE_KSM_ZERO) {
        this.ksmZero[g]!--;
        if (track) this.leaveWindow(g);
        yield this.tracing ? `${who}: ksm_zero_pages(g${g})−1` : '';
      }
      return;
    }
    if (pte & PTE_KSM) {
      const left = --this.mapcount[f]!;
      if (track) {
        if (left === 0) this.enterWindow(g, 'final mapcount decrement reached 0, free() not yet done', f, true, LEAK_FRAME);
        else this.leaveWindow(g);
      }
      yield this.tracing ? `${who}: mapcount(${f}) −1 = ${left}` : '';
      if (left === 0) yield* this.freeFrame(f, who, w);
    } else {
      yield* this.freeFrame(f, who, w);
    }
  }

  /**
   * AddressSpace.allocFor: the allocator's bitmap CAS (mapcount and flags reset with it), then
   * CTL_INFLIGHT_VPAGE and CTL_INFLIGHT_FRAME recorded; the caller zeroes or copies. -1: no frame.
   */
  protected *allocFor(g: number, p: number, who: string, what: string): Generator<string, number, void> {
    let f = -1;
    // Memory pressure: with swap, page out this guest's own private pages until a frame is free.
    for (let tries = 0; ; tries++) {
      f = this.allocFrame();
      if (f >= 0) {
        this.mapcount[f] = 0;
        this.tag[f] = 0;
        this.enterWindow(g, 'frame allocated, not yet recorded in INFLIGHT_FRAME', f, true);
      }
      yield this.tracing ? `${who}: alloc frame ${f}${what}` : '';
      if (f >= 0 || tries >= 4) break;
      const shrunk: boolean = this.cfg.ksmSwap ? yield* this.shrinkSwapCache(g, who) : false;
      if (shrunk) continue;
      const out: boolean = yield* this.swapOutOne(g, p, who);
      if (!out) break;
    }
    if (f < 0) return -1;
    this.ifVpage[g] = p;
    yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${p}` : '';
    this.ifFrame[g] = f;
    this.leaveWindow(g);
    yield this.tracing ? `${who}: store INFLIGHT_FRAME = ${f}` : '';
    return f;
  }

  /**
   * AddressSpace.swingWithNewFrame: record NEXT and OLD, CAS the PTE, clear FRAME; then drop the
   * old reference (its claim clears OLD), or clear OLD and free the new frame. Returns what the
   * CAS saw.
   */
  protected *swing(g: number, p: number, old: number, next: number, nf: number, who: string): Generator<string, number, void> {
    const i = g * this.cfg.pages + p;
    this.ifNext[g] = next;
    yield this.tracing ? `${who}: store INFLIGHT_NEXT = ${fmt(next)}` : '';
    this.ifOld[g] = old;
    yield this.tracing ? `${who}: store INFLIGHT_OLD = ${fmt(old)}` : '';
    const seen = this.cas(i, old, next);
    if (seen === old) this.enterWindow(g, 'PTE swung, INFLIGHT_FRAME not yet cleared', -1, false, LEAK_NONE);
    yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(old)} → ${fmt(next)}${seen === old ? '' : ` failed (saw ${fmt(seen)})`}` : '';
    if (seen === old) {
      this.ifFrame[g] = -1;
      this.enterWindow(g, 'PTE swung, old reference not yet dropped', -1, false, LEAK_NONE);
      yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
      yield* this.dropReference(g, old, who, true);
    } else if (this.cfg.broken === 'failed-swing-clears-frame-first') {
      // BROKEN (the order before issue 11): FRAME cleared first, the new frame recorded nowhere.
      this.ifFrame[g] = -1;
      this.enterWindow(g, 'failed swing: INFLIGHT_FRAME cleared, INFLIGHT_OLD not yet, new frame not yet freed', nf, false);
      yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
      this.ifOld[g] = 0;
      this.enterWindow(g, 'failed swing: INFLIGHT_OLD cleared, free() of the new private frame not yet done', nf, true);
      yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
      yield* this.freeFrame(nf, who, g);
    } else {
      // The new frame stays recorded in FRAME until OLD is cleared: a kill in between has the
      // host free it (the PTE does not map it).
      this.ifOld[g] = 0;
      yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
      this.ifFrame[g] = -1;
      this.enterWindow(g, 'failed swing: record cleared, free() of the new private frame not yet done', nf, true);
      yield this.tracing ? `${who}: store INFLIGHT_FRAME = -1` : '';
      yield* this.freeFrame(nf, who, g);
    }
    return seen;
  }

  /**
   * AddressSpace.swapOutOne(except = p): a clock hand over guest g's pages; the first private one
   * (not `except`) is unmapped by a compare-and-exchange to a swap entry (recorded in flight like
   * any swing), then its frame is copied into the slot, then the frame is freed. With the broken
   * variant 'swap-copy-before-unmap' the copy comes first (issue 11, finding 1).
   */
  protected *swapOutOne(g: number, except: number, who: string): Generator<string, boolean, void> {
    if (this.cfg.slots === 0) return false;
    const saved = this.kindOf[g]!;
    this.kindOf[g] = K.swap_out;
    const pages = this.cfg.pages;
    const hand = this.swapHand[g]!;
    let slot = -1;
    let done = false;
    search: for (let k = 0; k < pages; k++) {
      const p = (hand + k) % pages;
      const i = g * pages + p;
      for (;;) {
        const pte = this.pt[i]!;
        yield this.tracing ? `${who}: swap-out: load PTE p${p} (${fmt(pte)})` : '';
        if (p === except) break;
        const ok: boolean = yield* this.canPageOut(pte, who);
        if (!ok) break;
        if (pte & PTE_HUGE) {
          // One subpage of a huge page goes out alone: split the block first (split_huge_pmd).
          yield* this.clearHugeBlock(g, p - (p % SIM_HPAGE), g, who);
          continue;
        }
        if (slot < 0) {
          slot = this.allocSlot();
          if (slot >= 0) this.enterWindow(g, 'swap slot allocated, not yet in a PTE', slot, true, LEAK_SLOT);
          yield this.tracing ? `${who}: swap-out: alloc slot ${slot}` : '';
          if (slot < 0) break search;
        }
        const out: boolean = yield* this.pageOutPte(g, p, pte, slot, who);
        if (!out) continue;
        this.swapHand[g] = p + 1;
        done = true;
        break search;
      }
    }
    if (!done && slot >= 0) yield* this.putSwapSlot(slot, `${who}: swap-out: nothing to page out,`, g);
    this.kindOf[g] = saved;
    return done;
  }

  /** nr_anon_transparent_hugepages as /proc/vmstat reads it (Vmstat.hugePages): the slots not retired, summed. */
  get thpPages(): number {
    let n = 0;
    for (let g = 0; g < this.cfg.guests; g++) if (!this.thpRetired[g]) n += this.thpOf[g]!;
    return n;
  }

  /** Ghost: `actor` changed a head of guest g's block (+1 made huge, −1 no longer), not yet counted. */
  protected headChanged(actor: number, g: number, delta: number): void {
    this.thpPending[actor]! += delta;
    this.thpPendingOn[actor] = g;
  }

  /**
   * thp.ts countHuge: guest g's slot ± 1 (the caller's step), for the change `actor` made. The add is
   * vmstat.addHuge's compare-and-exchange on the slot word: once the slot is retired its generation
   * has moved on, so a late add is dropped (a step either way). The model's guests do not come and
   * go, so a slot is never reclaimed by another guest here; test/mem/vmstat-huge-slots.test.ts
   * covers the reuse.
   */
  protected countHuge(actor: number, g: number, delta: number): number {
    if (!this.thpRetired[g]) this.thpOf[g]! += delta;
    this.headChanged(actor, g, -delta);
    return this.thpPages;
  }

  /**
   * thp.ts clearHugeBlock (split_huge_pmd) of guest g's block at `head`: clear PTE_HUGE on each PTE,
   * head first, by load and compare-and-exchange retried on the value seen, leaving a tail of another
   * folio than the head's; tails cleared with no HUGE head: load the head again, HUGE: once more.
   * The caller that cleared the head counts it (nr_anon_transparent_hugepages −1, a step of its own). `actor` indexes
   * thpPending (guests, ksmd = G, host = G + 1). Returns whether this call cleared the head.
   */
  protected *clearHugeBlock(g: number, head: number, actor: number, who: string): Generator<string, boolean, void> {
    const saved = this.kindOf[actor]!;
    this.kindOf[actor] = K.thp_split;
    let splitHere = false;
    let folio = -1;
    this.splitting[actor] = g + 1;
    for (;;) {
      let cleared = false;
      for (let q = head; q < head + SIM_HPAGE; q++) {
        const i = g * this.cfg.pages + q;
        for (;;) {
          const pte = this.pt[i]!;
          if (q === head && (pte & PTE_HUGE)) folio = pteFrame(pte);
          const foreign = q !== head && folio >= 0 && (pte & PTE_HUGE) !== 0 && pteFrame(pte) !== folio + (q - head);
          yield this.tracing ? `${who}: split: load PTE g${g}p${q} (${fmt(pte)})${foreign ? (this.cfg.broken === 'split-clears-any-tail' ? ': another folio\'s (BROKEN: cleared all the same)' : ': another folio\'s, left alone') : ''}` : '';
          if (!(pte & PTE_HUGE) || (foreign && this.cfg.broken !== 'split-clears-any-tail')) break;
          const seen = this.cas(i, pte, pte & ~PTE_HUGE);
          if (seen === pte && q === head) {
            splitHere = true;
            this.headChanged(actor, g, -1);
          }
          yield this.tracing ? `${who}: split: CAS PTE g${g}p${q} ${fmt(pte)} → ${fmt(pte & ~PTE_HUGE)}${seen === pte ? '' : ' failed'}` : '';
          if (seen === pte) {
            cleared = true;
            break;
          }
        }
      }
      if (!cleared || splitHere || this.cfg.broken === 'split-clears-any-tail') break;
      // Tails cleared while the head had no HUGE: khugepaged may have set it since (see thp.ts).
      const h = this.pt[g * this.cfg.pages + head]!;
      yield this.tracing ? `${who}: split: load PTE g${g}p${head} again (${fmt(h)})` : '';
      if (!(h & PTE_HUGE)) break;
    }
    this.splitting[actor] = 0;
    if (splitHere) {
      const now = this.countHuge(actor, g, -1);
      this.thpEvents.splits++;
      yield this.tracing ? `${who}: split: nr_anon_transparent_hugepages −1 = ${now}` : '';
    }
    this.kindOf[actor] = saved;
    return splitHere;
  }

  /**
   * FrameAllocator.allocHuge (one step here): SIM_HPAGE free frames from a base aligned to
   * SIM_HPAGE (never the zero page's block), claimed, mapcount and tag reset. −1: none free.
   */
  protected allocHuge(): number {
    for (let base = SIM_HPAGE; base + SIM_HPAGE <= this.cfg.frames; base += SIM_HPAGE) {
      let ok = true;
      for (let f = base; f < base + SIM_HPAGE && ok; f++) ok = this.free[f] === 1;
      if (!ok) continue;
      for (let f = base; f < base + SIM_HPAGE; f++) {
        this.free[f] = 0;
        this.gen[f]++;
        this.mapcount[f] = 0;
        this.tag[f] = 0;
      }
      return base;
    }
    return -1;
  }

  /** The in-flight record before a swing of page p from `old` to `next`: VPAGE, NEXT, OLD, one step each. */
  protected *recordSwing(g: number, p: number, old: number, next: number, who: string): Step {
    this.ifVpage[g] = p;
    yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${p}` : '';
    this.ifNext[g] = next;
    yield this.tracing ? `${who}: store INFLIGHT_NEXT = ${fmt(next)}` : '';
    this.ifOld[g] = old;
    yield this.tracing ? `${who}: store INFLIGHT_OLD = ${fmt(old)}` : '';
  }

  /** SwapArea.alloc: a free slot holding one count (the caller's), its cache word 0. */
  protected allocSlot(): number {
    for (let s = 0; s < this.cfg.slots; s++) {
      if (this.slotFree[s]) {
        this.slotFree[s] = 0;
        this.slotCount[s] = 1;
        this.slotCache[s] = 0;
        return s;
      }
    }
    return -1;
  }

  /**
   * PhysicalMemory.putSwapSlot: Atomics.sub the count; the hold that takes it to 0 exchanges the
   * cache word to 0, frees the slot, and drops the cache's reference on the frame it named.
   * `g` ≥ 0: guest g drops a hold no in-flight word records any more (its death before the
   * decrement leaks that count: LEAK_SLOT; between freeing the slot and the put: LEAK_REFERENCE).
   */
  protected *putSwapSlot(slot: number, who: string, g = -1): Step {
    if (this.slotFree[slot]) this.fail(`${who}: drops a hold on swap slot ${slot}, which is free`);
    const left = --this.slotCount[slot]!;
    if (g >= 0) this.leaveWindow(g);
    yield this.tracing ? `${who}: swap count(s${slot}) −1 = ${left}` : '';
    if (left > 0) return;
    if (left < 0) this.fail(`${who}: swap slot ${slot}'s count below zero`);
    const cached = this.slotCache[slot]!;
    this.slotCache[slot] = 0;
    if (cached && g >= 0) this.enterWindow(g, 'slot freed, swap cache reference not yet dropped', cached, true, LEAK_REFERENCE);
    yield this.tracing ? `${who}: exchange cache(s${slot}) ${cached ? `f${cached}` : '0'} → 0` : '';
    this.slotFree[slot] = 1;
    this.slotFilling[slot] = 0;
    yield this.tracing ? `${who}: free swap slot ${slot}` : '';
    if (cached) yield* this.dropSwapCache(cached, who, g);
  }

  /** PhysicalMemory.dropSwapCache: clear PG_swapcache, putFrame. Returns whether it freed the frame. */
  protected *dropSwapCache(f: number, who: string, g = -1): Generator<string, boolean, void> {
    this.swapCacheBit[f] = 0;
    yield this.tracing ? `${who}: clear PG_swapcache(${f})` : '';
    const old = this.mapcount[f]!;
    this.mapcount[f] = old - 1;
    if (g >= 0) {
      if (old === 1) this.enterWindow(g, 'final mapcount decrement reached 0, free() not yet done', f, true, LEAK_FRAME);
      else this.leaveWindow(g);
    }
    yield this.tracing ? `${who}: mapcount(${f}) ${old}→${old - 1}` : '';
    if (old === 1) yield* this.freeFrame(f, who, g);
    return old === 1;
  }

  /** PhysicalMemory.claimSwapCache: Atomics.or PG_swapcache; true if it was clear. */
  protected *claimSwapCache(f: number, who: string): Generator<string, boolean, void> {
    if (this.cfg.broken === 'swap-cache-check-then-set') {
      // BROKEN: a load, then a store in a later step (another thread may claim it in between).
      const bit = this.swapCacheBit[f]!;
      yield this.tracing ? `${who}: load PG_swapcache(${f}) = ${bit}` : '';
      if (bit) return false;
      this.swapCacheBit[f] = 1;
      yield this.tracing ? `${who}: set PG_swapcache(${f}) (BROKEN: not atomic with the load)` : '';
      return true;
    }
    const was = this.swapCacheBit[f]!;
    this.swapCacheBit[f] = 1;
    yield this.tracing ? `${who}: test-and-set PG_swapcache(${f}) (was ${was})` : '';
    return was === 0;
  }

  /** PhysicalMemory.addToSwapCache (PG_swapcache claimed): store the cache word; the reference is the cache's. */
  protected *addToSwapCache(slot: number, f: number, who: string, g = -1): Step {
    this.slotCache[slot] = f;
    if (g >= 0) this.leaveWindow(g);
    yield this.tracing ? `${who}: store cache(s${slot}) = f${f}` : '';
  }

  /**
   * PhysicalMemory.shrinkSwapCache(1): from the hand, the first slot whose cached frame only the
   * cache holds: CAS the word to 0, dropSwapCache. Returns whether a frame was freed. Between the
   * CAS and the put the cache's reference is guest g's alone (window 8).
   */
  protected *shrinkSwapCache(g: number, who: string): Generator<string, boolean, void> {
    for (let k = 0; k < this.cfg.slots; k++) {
      const slot = this.shrinkHand;
      this.shrinkHand = (slot + 1) % this.cfg.slots;
      const f = this.slotCache[slot]!;
      yield this.tracing ? `${who}: shrink swap cache: load cache(s${slot}) = ${f ? `f${f}` : '0'}` : '';
      if (f === 0) continue;
      const mc = this.mapcount[f]!;
      yield this.tracing ? `${who}: load mapcount(${f}) = ${mc}` : '';
      if (mc !== 1) continue;
      const won = this.slotCache[slot] === f;
      if (won) {
        this.slotCache[slot] = 0;
        this.enterWindow(g, 'took a frame out of the swap cache, its reference not yet dropped', f, true, LEAK_REFERENCE);
      }
      yield this.tracing ? `${who}: CAS cache(s${slot}) f${f} → 0${won ? '' : ' failed'}` : '';
      if (!won) continue;
      const freed: boolean = yield* this.dropSwapCache(f, who, g);
      this.leaveWindow(g);
      if (freed) return true;
    }
    return false;
  }

  /**
   * AddressSpace.canPageOut: a private page, or a KSM page (cfg.ksmSwap) whose mapcount is 1 and
   * that is not in the swap cache (two loads: hints, see the real code).
   */
  protected *canPageOut(pte: number, who: string): Generator<string, boolean, void> {
    if (isPrivateFrame(pte)) return true;
    if (!this.cfg.ksmSwap || (pte & (PTE_PRESENT | PTE_KSM | PTE_ZERO | PTE_SWAPPED)) !== (PTE_PRESENT | PTE_KSM)) return false;
    const f = pteFrame(pte);
    const mc = this.mapcount[f]!;
    yield this.tracing ? `${who}: load mapcount(${f}) = ${mc}` : '';
    if (mc !== 1) return false;
    const bit = this.swapCacheBit[f]!;
    yield this.tracing ? `${who}: load PG_swapcache(${f}) = ${bit}` : '';
    return bit === 0;
  }

  /**
   * AddressSpace.pageOutPte: record VPAGE, NEXT, OLD; CAS the PTE to the swap entry; copy the frame
   * into the slot (after the CAS: finding 1); a private frame's reference is dropped, a KSM frame's
   * goes to the swap cache (claim OLD, then addToSwapCache). False if the CAS failed (the slot stays
   * the caller's, with its one count).
   */
  protected *pageOutPte(g: number, p: number, pte: number, slot: number, who: string): Generator<string, boolean, void> {
    const i = g * this.cfg.pages + p;
    const f = pteFrame(pte);
    if (this.cfg.broken === 'swap-copy-before-unmap') {
      // BROKEN: copy while the PTE still maps f; the hazard word holds `except`, not p.
      this.slotContent[slot] = this.content[f]!;
      yield this.tracing ? `${who}: swap-out: copy frame ${f} → slot ${slot} (before unmapping: BROKEN)` : '';
    }
    const next = makePte(slot, PTE_SWAPPED | (pte & PTE_MERGEABLE));
    yield* this.recordSwing(g, p, pte, next, who);
    const seen = this.cas(i, pte, next);
    if (seen === pte) {
      this.enterWindow(g, 'PTE swapped out, old reference not yet dropped', -1, false, LEAK_NONE);
      if (this.cfg.broken !== 'swap-copy-before-unmap') this.slotFilling[slot] = 1;
    }
    yield this.tracing ? `${who}: swap-out: CAS PTE p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ` failed (saw ${fmt(seen)})`}` : '';
    if (seen !== pte) {
      this.ifOld[g] = 0;
      this.enterWindow(g, 'swap slot allocated, not yet in a PTE', slot, true, LEAK_SLOT);
      yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
      return false;
    }
    if (this.cfg.broken !== 'swap-copy-before-unmap') {
      // Unmapped: the PTE's reference on f is ours (a private f is ours alone; a KSM f is read-only).
      this.slotContent[slot] = this.content[f]!;
      this.slotFilling[slot] = 0;
      yield this.tracing ? `${who}: swap-out: copy frame ${f} → slot ${slot}` : '';
    }
    if (!(pte & PTE_KSM)) {
      yield* this.dropReference(g, pte, who, true);
      return true;
    }
    const mine: boolean = yield* this.claimSwapCache(f, who);
    if (!mine) {
      // Another swap cache holds it (ksmd's reclaim): our reference goes like a private page's would.
      yield* this.dropReference(g, pte, who, true);
      return true;
    }
    const claimed = this.ifOld[g] === pte;
    if (claimed) this.ifOld[g] = 0;
    this.enterWindow(g, 'INFLIGHT_OLD claimed, the swap cache not yet holding the KSM reference', f, true, LEAK_REFERENCE);
    yield this.tracing ? `${who}: claim INFLIGHT_OLD: CAS ${fmt(pte)} → 0${claimed ? '' : ' failed'}` : '';
    yield* this.addToSwapCache(slot, f, who, g);
    return true;
  }

  /**
   * AddressSpace.takeSwapCache: load the cache word, tryGetFrame, load the word again (changed: put
   * the stray reference back). Returns the frame with a reference held, or 0. Holding it is window 7.
   */
  protected *takeSwapCache(g: number, slot: number, who: string): Generator<string, number, void> {
    const k = this.slotCache[slot]!;
    yield this.tracing ? `${who}: load cache(s${slot}) = ${k ? `f${k}` : '0'}` : '';
    if (k === 0) return 0;
    const got: boolean = yield* this.tryGetFrame(k, who);
    if (!got) return 0;
    this.enterWindow(g, 'holding a swap-cache reference (swap-in)', k, true, LEAK_REFERENCE);
    const again = this.slotCache[slot]!;
    yield this.tracing ? `${who}: load cache(s${slot}) = ${again ? `f${again}` : '0'}` : '';
    if (again === k) return k;
    yield* this.putFrame(k, who);
    this.leaveWindow(g);
    return 0;
  }

  /**
   * AddressSpace.swapIn (the caller holds the hazard word on p). Mergeable (the swap entry's
   * MERGEABLE bit stands for the area's flag) and in the swap cache: takeSwapCache, record, CAS the
   * swap entry to the KSM PTE, dropReference(swap entry) | failed: OLD = 0, putFrame. Otherwise:
   * allocFor; not mergeable: takeSwapCache and copy it, putFrame; else read the slot; swing the swap
   * entry to the new private frame (writable), whose reference drop puts the slot. Returns what the
   * swing saw, or -1 when no frame could be had (out of memory).
   */
  protected *swapIn(g: number, p: number, pte: number, who: string): Generator<string, number, void> {
    const saved = this.kindOf[g]!;
    this.kindOf[g] = K.swap_in;
    const slot = pteFrame(pte);
    const mergeable = (pte & PTE_MERGEABLE) !== 0;
    if (this.cfg.ksmSwap && mergeable) {
      const k: number = yield* this.takeSwapCache(g, slot, who);
      if (k) {
        const i = g * this.cfg.pages + p;
        const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE);
        yield* this.recordSwing(g, p, pte, next, who);
        const seen = this.cas(i, pte, next);
        if (seen === pte) this.enterWindow(g, 'PTE swung to the swap-cache page, slot count not yet dropped', -1, false, LEAK_NONE);
        yield this.tracing ? `${who}: swap-in from the swap cache: CAS PTE p${p} ${fmt(pte)} → ${fmt(next)}${seen === pte ? '' : ` failed (saw ${fmt(seen)})`}` : '';
        if (seen === pte) {
          this.cacheSwapIns++;
          yield* this.dropReference(g, pte, who, true);
        } else {
          this.ifOld[g] = 0;
          yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
          yield* this.putFrame(k, who);
          this.leaveWindow(g);
        }
        this.kindOf[g] = saved;
        return seen;
      }
    }
    const nf: number = yield* this.allocFor(g, p, who, ' for swap-in');
    if (nf < 0) {
      this.kindOf[g] = saved;
      return -1;
    }
    // Only this thread (or the host after its death) takes a swap entry out of the PTE, and the
    // PTE holds a count on the slot: the slot cannot be freed under us. If the PTE changed, the swing fails.
    const k: number = this.cfg.ksmSwap && !mergeable ? yield* this.takeSwapCache(g, slot, who) : 0;
    if (k) {
      this.content[nf] = this.content[k]!;
      yield this.tracing ? `${who}: swap-in: copy swap-cache frame ${k} → frame ${nf}` : '';
      yield* this.putFrame(k, who);
      this.leaveWindow(g);
    } else {
      this.content[nf] = this.slotContent[slot]!;
      yield this.tracing ? `${who}: swap-in: read slot ${slot} → frame ${nf}` : '';
    }
    const next = makePte(nf, PTE_PRESENT | PTE_WRITABLE | (pte & PTE_MERGEABLE));
    const seen: number = yield* this.swing(g, p, pte, next, nf, who);
    this.kindOf[g] = saved;
    return seen;
  }
}

export function fmt(pte: number): string {
  if (pte === 0) return 'none';
  if (pte & PTE_SWAPPED) return `SWAP s${pteFrame(pte)}`;
  let s = '';
  if (pte & PTE_ZERO) s += pte & PTE_KSM_ZERO ? 'KZERO' : 'ZERO';
  else {
    s += `f${pte >>> PTE_FRAME_SHIFT}`;
    if (pte & PTE_KSM) s += ' KSM';
    if (pte & PTE_WRITABLE) s += ' W';
    if (pte & PTE_WP_KSMD) s += ' WP';
    if (pte & PTE_HUGE) s += ' H';
  }
  return s;
}
