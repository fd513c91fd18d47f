// model.ts — owns the deterministic model of the merge protocol (docs/protocol.md): guests and ksmd as
// generator state machines over one small shared memory, each `yield` one shared-memory operation
// (an Atomics load, store, exchange, compare-and-exchange or add on a PTE, a hazard word, a mapcount
// or a frame tag; a frame access; an allocator step). A scheduler (explore.ts) picks which actor
// takes the next step, so every interleaving at the granularity of single Atomics operations is
// reachable and replays from its choices.
//
// The model is a transcription of the real code paths, step by step (→ names the real code):
//  Guest access (AddressSpace.write/readInto/memset):
//    G1 Atomics.store(ctl, CTL_HAZARD, 2·vpage+1 for a write, 2·vpage for a read) → 'store hazard'
//       (a read that faults stores 2·vpage+1 first: readFault's upgrade; issue 11, finding 7)
//    G2 Atomics.load(pt, vpage)                     → yield 'load PTE'
//    G3 frame access (Buffer.copy / fill)           → yield 'write frame' / 'read frame'
//    G4 Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE) → yield 'clear hazard'
//  Write fault (writeFaultOrThrow), entered from G2 with the PTE it loaded:
//    swapped: swapIn (allocFor → read the slot into the new frame → swingWithNewFrame, whose drop
//      frees the slot), then the ordinary paths with the PTE reloaded
//    untouched/zero: allocFor → zero fill → swingWithNewFrame
//    KSM: allocFor → copyFrame (read the KSM frame, write the copy) → swingWithNewFrame
//    write-protected private: CAS PTE to (pte|W)&~(WP_KSMD|NOACCESS) (reuse); a failed CAS retries
//  allocFor: allocator bitmap CAS (mapcount/flags reset with it) → store CTL_INFLIGHT_VPAGE →
//    store CTL_INFLIGHT_FRAME (then the caller's zero fill or copy). With swap, a failed bitmap
//    search runs swapOutOne(except = the faulting page) and retries (up to 4 times here).
//  swapOutOne: over the guest's pages from its clock hand: load PTE; the first private page ≠
//    except: alloc a slot (once) → store VPAGE, NEXT (the swap entry), OLD → CAS PTE → swap entry
//    → copy the frame into the slot → dropReference(old) (frees the frame). The copy comes after
//    the CAS (finding 1; --broken swap-copy-before-unmap copies before it). Nothing qualifies:
//    free the slot.
//  swingWithNewFrame: store CTL_INFLIGHT_NEXT → store CTL_INFLIGHT_OLD → CAS PTE → on success
//    store CTL_INFLIGHT_FRAME = −1 → dropReference(old); on failure store CTL_INFLIGHT_OLD = 0 →
//    store CTL_INFLIGHT_FRAME = −1 → free(new frame), and the caller retries with the value the
//    CAS saw.
//  dropReference: claim the swing, CAS CTL_INFLIGHT_OLD old → 0 (the result is not looked at) →
//    swap entry: free the slot | zero page: (KSM zero: Atomics.sub
//    CTL_KSM_ZERO_PAGES; the host-wide hook counter is not modelled) | KSM: Atomics.sub mapcount →
//    free if it was 1 | private: free. free = tag store, bitmap bit.
//  Read fault (readFaultOrThrow): swapped: swapIn (as above); else CAS 0 → zero-page PTE (the
//    VM_SHARED path is not modelled).
//  munmap / MADV_DONTNEED (releaseRange, one page; munmap only also removes the VMA, which the
//    model has no other use for): load PTE (skip 0) → store VPAGE → store NEXT = 0 →
//    [load PTE → store OLD → CAS to 0]* → dropReference (no hazard: the guest is its own only
//    accessor of a private frame).
//  MADV_UNMERGEABLE of one page (unmergeArea): hazard, load, allocFor, copy or zero fill,
//    swingWithNewFrame, clear hazard (KSM_ZERO: allocFor, zero fill, swing).
//  MADV_MERGEABLE of one page (makeMergeable): load, CAS pte|MERGEABLE.
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
//    writeProtect waits only while the hazard word is a write on that page; releaseAfterReplace
//    and processDeferred defer while it is any access to it. processDeferred (hazard load, free)
//    at the start of every batch. Tree bookkeeping (items, nodes, counters) is ksmd-local: no steps.
//  run=2 (unmergeAll) runs after a chosen pass in some interleavings, and whenever a sysfs writer
//    asks for it.
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
//  runs AddressSpace.reclaim: reclaimInflight — load VPAGE, FRAME, OLD, the PTE at VPAGE; free FRAME
//  unless that PTE maps it privately; store FRAME = −1; if OLD ≠ 0, load NEXT and dropReference(OLD)
//  if swingHappened(PTE, NEXT) (NEXT 0: PTE = 0; NEXT a new private frame: the PTE maps that frame
//  privately, WP_KSMD or not); store OLD = 0 — all with the dead guest's hazard word still set;
//  then clear the hazard word, releaseRange over every page, teardown (hazard, releaseRange again,
//  EXITED). With --kill-ksmd ksmd dies between any two steps (repair + restart follow).
//  Leak windows: the model tracks (ghost state) when guest 0 holds something that no in-flight
//  word records: a frame, a reference on a KSM frame, a ksm_zero_pages count, or a swap slot
//  (allocated and in no PTE yet; claimed and not yet freed). Dying there leaks
//  it. checkFinal counts it as a "known residual leak (documented)" — not a violation — only if it
//  is exactly what that window leaks (nothing else is off) and the window is one the real code
//  documents: after the allocator's CAS and before CTL_INFLIGHT_FRAME is stored (allocFor's
//  comment); after claiming CTL_INFLIGHT_OLD and before the decrement or free() (dropReference's);
//  between the final mapcount decrement reaching 0 and free(); inside free(); and after a failed
//  swing cleared CTL_INFLIGHT_OLD and before its free() of the new frame. Any other leak — e.g. a
//  failed swing killed between storing FRAME = −1 and OLD = 0, where the new frame is recorded
//  nowhere and no comment of the real code mentions it — is a violation.
//  Not modelled: max_page_sharing chains (dups are separate nodes here; the chain-hint lookup takes
//  the same getNodeFrame → compare → keep-the-reference steps as any other candidate, and the
//  chain prune only loads), NUMA nids, smart_scan, mprotect's NOACCESS bit (read-only private
//  pages are drawn in the initial memory instead: what mprotect(PROT_READ) or a run=2 leaves),
//  VMAs (every page of the model is in one mergeable area), the checksum's hash (the content value
//  stands for it), sysfs requests other than run, a writer's deadline.
//  Step kinds (STEP_KINDS, the report's steps_by_kind) count each step under the operation its
//  actor is in.
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
//  sysfs: ksmd carries out exactly the value of `run` the writer of that request published, and
//    every writer finishes.

import {
  PTE_FRAME_SHIFT, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte, pteFrame,
} from '../../mem/pte.ts';
import { Prng } from '../prng.ts';

/**
 * TEST ONLY protocol variants the simulation must catch ('none' is the real protocol):
 * 'no-recompare', 'free-without-hazard' as the engine's BrokenProtocol; 'swap-copy-before-unmap'
 * reintroduces issue 11's finding 1: swapOutOne copies the frame into the slot before the
 * compare-and-exchange that unmaps it (with the guest's hazard word on the faulting page);
 * 'old-sysfs-protocol' reintroduces findings 2 and 3: the writer stores OP, ARG, then DONE = 0,
 * DONE starts at 0 ("pending"), ksmd loads OP, DONE, ARG; the lock is 0/1 with no owner, so
 * nobody can release the lock of a writer killed holding it; 'failed-swing-clears-frame-first'
 * is swingWithNewFrame's old failure path (CTL_INFLIGHT_FRAME cleared before CTL_INFLIGHT_OLD: a
 * kill between the two leaked the new frame, recorded nowhere).
 */
export type SimBroken = 'none' | 'no-recompare' | 'free-without-hazard' | 'swap-copy-before-unmap' | 'old-sysfs-protocol' | 'failed-swing-clears-frame-first';

export const ZERO = 0;
const NONE = -1;
const PRESENT_ANON_MASK = PTE_PRESENT | PTE_ZERO | PTE_MERGEABLE;
const PRESENT_ANON = PTE_PRESENT | PTE_MERGEABLE;
const FAST_WRITE = PTE_PRESENT | PTE_WRITABLE;

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

/**
 * Step kinds of the JSON report's steps_by_kind: every step is counted under the operation its
 * actor is in (a swap-out inside a write fault counts as swap_out, a run=2 inside a sysfs request
 * as run2).
 */
export const STEP_KINDS = [
  'guest_write', 'guest_read', 'munmap_dontneed', 'unmerge', 'mergeable', 'swap_out', 'swap_in',
  'sysfs_request', 'sysfs_serve', 'ksmd_scan', 'ksmd_deferred', 'run2', 'kill', 'host_reclaim', 'host_repair',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];
const K = Object.fromEntries(STEP_KINDS.map((k, i) => [k, i])) as Record<StepKind, number>;

const ITEM_NONE = 0;
const ITEM_UNSTABLE = 1;
const ITEM_STABLE = 2;

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
}

/** REQ_SET_RUN (ksm-state.ts). */
export const SIM_REQ_SET_RUN = 1;
/** A sysfs writer's lock token: its pid (the model's guests have none: 100 + w). */
export function writerToken(w: number): number {
  return 100 + w;
}

export type Op = { kind: 'write'; p: number; v: number } | { kind: 'read'; p: number } | { kind: 'dontneed'; p: number } | { kind: 'unmerge'; p: number } | { kind: 'mergeable'; p: number };

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
type MergeResult = 'done' | 'failed' | 'different';

interface Item {
  g: number;
  p: number;
  state: number;
  node: number;
  checksum: number;
  seq: number;
}

interface StableNode {
  frame: number;
  checksum: number;
  live: boolean;
  items: Item[];
}

export type Step = Generator<string, void, void>;

export class SimViolation extends Error {}

export class SimModel {
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
  private readonly swapHand: Int32Array;
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
  private readonly published = new Map<number, number>();
  /** Ghost (old protocol): the value of `run` the lock holder is writing, or -1. */
  private intent = -1;
  sysfsRequests = 0;
  private taken = 0; // ksmd-local: the sequence number being served
  /** Ghost: the frame mergeTwo made KSM by CAS A and has not yet counted (its mapcount may be < mappers). */
  private pendingRef = -1;
  private run2Failed = false;
  // ksmd-local state (KsmEngine)
  private readonly items: (Item | undefined)[];
  private readonly nodes: StableNode[] = [];
  private unstable: Item[] = [];
  private seqnr = 0;
  private passes = 0;
  unmerges = 0;
  private deferred: number[] = [];
  pagesShared = 0;
  pagesSharing = 0;
  pagesUnshared = 0;
  merges = 0;
  cows = 0;
  /** Set by the explorer when it keeps a trace (labels are built either way). */
  tracing = false;

  constructor(cfg: SimConfig, rng: Prng, script?: SimScript) {
    this.cfg = cfg;
    const n = cfg.guests * cfg.pages;
    this.pt = new Int32Array(n);
    this.hazard = new Int32Array(cfg.guests).fill(NONE);
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
    this.swapHand = new Int32Array(cfg.guests);
    this.kindOf = new Uint8Array(cfg.guests + 2);
    this.exited = new Uint8Array(cfg.guests);
    this.inOp = new Uint8Array(cfg.guests);
    this.ifVpage = new Int32Array(cfg.guests);
    this.ifFrame = new Int32Array(cfg.guests).fill(-1);
    this.ifOld = new Int32Array(cfg.guests);
    this.ifNext = new Int32Array(cfg.guests);
    this.window = new Array<string>(cfg.guests).fill('');
    this.windowFrame = new Int32Array(cfg.guests).fill(-1);
    this.windowDocumented = new Uint8Array(cfg.guests);
    this.windowLeak = new Uint8Array(cfg.guests);
    this.shadow = new Int32Array(n);
    this.items = new Array(n).fill(undefined);
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
    if (cfg.guests >= 2 && rng.chance(0.3)) {
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
    this.programs = [];
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
      this.programs.push(ops);
    }
    // Drawn last, so a configuration without it draws exactly what it did before.
    if (cfg.readOnlyPages) {
      for (let i = 0; i < n; i++) {
        const pte = this.pt[i]!;
        if ((pte & PTE_PRESENT) && !(pte & PTE_KSM) && rng.chance(0.4)) this.pt[i] = pte & ~PTE_WRITABLE;
      }
    }
  }

  private allocInit(): number {
    for (let f = 1; f < this.cfg.frames; f++) {
      if (this.free[f]) {
        this.free[f] = 0;
        this.gen[f]++;
        return f;
      }
    }
    throw new Error('model too small');
  }

  private fail(what: string): never {
    // The circumstances of a kill, so a violation names the window it came from.
    let ctx = '';
    if (this.guestKilled) ctx += ` [guest 0 killed ${this.killWindow ? `in the window "${this.killWindow}"${this.killWindowFrame >= 0 ? ` (frame ${this.killWindowFrame})` : ''}${this.killWindowDocumented ? ', a documented window' : ', not a documented window'}` : 'outside any tracked window'}]`;
    if (this.wpOnDeadGuest) ctx += ' [ksmd write-protected a page of the dead guest before the host reclaimed it]';
    throw new SimViolation(what + ctx);
  }

  // ───────────── shared-memory primitives (each used inside one step) ─────────────

  private cas(i: number, expect: number, next: number): number {
    const seen = this.pt[i]!;
    if (seen === expect) this.pt[i] = next;
    return seen;
  }

  /** FrameAllocator.alloc: one successful bitmap compare-and-exchange (a failed one retries). */
  private allocFrame(): number {
    for (let f = 1; f < this.cfg.frames; f++) {
      if (this.free[f]) {
        this.free[f] = 0;
        this.gen[f]++;
        return f;
      }
    }
    return -1;
  }

  private checkAccess(f: number, gen: number, who: string): void {
    if (f !== ZERO && (this.free[f] || this.gen[f] !== gen)) this.fail(`${who} touches frame ${f}, which was freed${this.free[f] ? '' : ' and reused'} since its PTE was loaded (invariant 5)`);
  }

  /**
   * PhysicalMemory.free: tag store, then the bitmap bit. `g` ≥ 0: guest g frees a frame that no
   * in-flight word records any more, so its death between the two steps leaks the frame (the
   * documented residual window "inside free()").
   */
  private *freeFrame(f: number, who: string, g = -1): Step {
    this.tag[f] = 0;
    if (g >= 0) this.enterWindow(g, 'inside free()', f, true);
    yield this.tracing ? `${who}: free frame ${f} (clear tag)` : '';
    if (this.free[f]) this.fail(`${who}: double free of frame ${f}`);
    this.free[f] = 1;
    if (g >= 0) this.leaveWindow(g);
    yield this.tracing ? `${who}: free frame ${f} (bitmap)` : '';
  }

  private enterWindow(g: number, what: string, f: number, documented: boolean, leak = LEAK_FRAME): void {
    this.window[g] = what;
    this.windowFrame[g] = f;
    this.windowDocumented[g] = documented ? 1 : 0;
    this.windowLeak[g] = leak;
  }

  private leaveWindow(g: number): void {
    this.window[g] = '';
    this.windowFrame[g] = -1;
    this.windowDocumented[g] = 0;
    this.windowLeak[g] = LEAK_NONE;
  }

  /** PhysicalMemory.putFrame. */
  private *putFrame(f: number, who: string): Step {
    const old = this.mapcount[f]!;
    this.mapcount[f] = old - 1;
    yield this.tracing ? `${who}: mapcount(${f}) ${old}→${old - 1}` : '';
    if (old === 1) yield* this.freeFrame(f, who);
  }

  /** PhysicalMemory.tryGetFrame. */
  private *tryGetFrame(f: number, who: string): Generator<string, boolean, void> {
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
  private *dropReference(g: number, pte: number, who: string, track: boolean): Step {
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
      if (pte & PTE_SWAPPED) {
        const slot = pteFrame(pte);
        if (this.slotFree[slot]) this.fail(`${who}: double free of swap slot ${slot}`);
        this.slotFree[slot] = 1;
        this.slotFilling[slot] = 0;
        if (track) this.leaveWindow(g);
        yield this.tracing ? `${who}: free swap slot ${slot}` : '';
      }
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
  private *allocFor(g: number, p: number, who: string, what: string): Generator<string, number, void> {
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
  private *swing(g: number, p: number, old: number, next: number, nf: number, who: string): Generator<string, number, void> {
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
  private *swapOutOne(g: number, except: number, who: string): Generator<string, boolean, void> {
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
        if (p === except || !isPrivateFrame(pte)) break;
        if (slot < 0) {
          slot = this.allocSlot();
          if (slot >= 0) this.enterWindow(g, 'swap slot allocated, not yet in a PTE', slot, true, LEAK_SLOT);
          yield this.tracing ? `${who}: swap-out: alloc slot ${slot}` : '';
          if (slot < 0) break search;
        }
        const f = pteFrame(pte);
        if (this.cfg.broken === 'swap-copy-before-unmap') {
          // BROKEN: copy while the PTE still maps f; the hazard word holds `except`, not p.
          this.slotContent[slot] = this.content[f]!;
          yield this.tracing ? `${who}: swap-out: copy frame ${f} → slot ${slot} (before unmapping: BROKEN)` : '';
        }
        const next = makePte(slot, PTE_SWAPPED | (pte & PTE_MERGEABLE));
        this.ifVpage[g] = p;
        yield this.tracing ? `${who}: store INFLIGHT_VPAGE = p${p}` : '';
        this.ifNext[g] = next;
        yield this.tracing ? `${who}: store INFLIGHT_NEXT = ${fmt(next)}` : '';
        this.ifOld[g] = pte;
        yield this.tracing ? `${who}: store INFLIGHT_OLD = ${fmt(pte)}` : '';
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
          continue;
        }
        if (this.cfg.broken !== 'swap-copy-before-unmap') {
          // Unmapped: f is ours alone (no PTE maps it; ksmd's CASes on the old value fail).
          this.slotContent[slot] = this.content[f]!;
          this.slotFilling[slot] = 0;
          yield this.tracing ? `${who}: swap-out: copy frame ${f} → slot ${slot}` : '';
        }
        yield* this.dropReference(g, pte, who, true);
        this.swapHand[g] = p + 1;
        done = true;
        break search;
      }
    }
    if (!done && slot >= 0) {
      this.slotFree[slot] = 1;
      this.leaveWindow(g);
      yield this.tracing ? `${who}: swap-out: nothing to page out, free slot ${slot}` : '';
    }
    this.kindOf[g] = saved;
    return done;
  }

  private allocSlot(): number {
    for (let s = 0; s < this.cfg.slots; s++) {
      if (this.slotFree[s]) {
        this.slotFree[s] = 0;
        return s;
      }
    }
    return -1;
  }

  /**
   * AddressSpace.swapIn (the caller holds the hazard word on p): allocFor, read the slot into the
   * new frame, swing the swap entry to it (writable if `writable`), whose reference drop frees the
   * slot. Returns what the swing saw, or -1 when no frame could be had (out of memory).
   */
  private *swapIn(g: number, p: number, pte: number, who: string): Generator<string, number, void> {
    const saved = this.kindOf[g]!;
    this.kindOf[g] = K.swap_in;
    const nf: number = yield* this.allocFor(g, p, who, ' for swap-in');
    if (nf < 0) {
      this.kindOf[g] = saved;
      return -1;
    }
    const slot = pteFrame(pte);
    // Only releaseRange takes a swap entry out of a PTE, and only this thread (or the host after
    // its death) runs it: the slot cannot be freed under us. If the PTE changed, the swing fails.
    this.content[nf] = this.slotContent[slot]!;
    yield this.tracing ? `${who}: swap-in: read slot ${slot} → frame ${nf}` : '';
    const next = makePte(nf, PTE_PRESENT | PTE_WRITABLE | (pte & PTE_MERGEABLE));
    const seen: number = yield* this.swing(g, p, pte, next, nf, who);
    this.kindOf[g] = saved;
    return seen;
  }

  // ───────────── guests ─────────────

  *guest(g: number): Step {
    for (const op of this.programs[g]!) {
      this.inOp[g] = 1;
      this.kindOf[g] = op.kind === 'write' ? K.guest_write : op.kind === 'read' ? K.guest_read : op.kind === 'dontneed' ? K.munmap_dontneed : op.kind === 'unmerge' ? K.unmerge : K.mergeable;
      if (op.kind === 'write') yield* this.guestWrite(g, op.p, op.v);
      else if (op.kind === 'read') yield* this.guestRead(g, op.p);
      else if (op.kind === 'dontneed') yield* this.guestDontneed(g, op.p);
      else if (op.kind === 'unmerge') yield* this.guestUnmerge(g, op.p);
      else yield* this.guestMergeable(g, op.p);
      this.inOp[g] = 0;
    }
    this.guestsDone++;
  }

  private *guestWrite(g: number, p: number, v: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = p * 2 + 1; // hazardWrite
    yield this.tracing ? `${who}: write p${p}=${v}: store hazard` : '';
    let pte = this.pt[i]!;
    let gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
    yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
    if ((pte & FAST_WRITE) !== FAST_WRITE) {
      // writeFaultOrThrow
      for (;;) {
        let next: number;
        let nf = -1;
        if (pte & PTE_SWAPPED) {
          // Bring it back, then take the write through the ordinary paths on the next turn.
          const seen: number = yield* this.swapIn(g, p, pte, who);
          if (seen === -1) {
            this.hazard[g] = NONE;
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
          if ((pte & FAST_WRITE) === FAST_WRITE) break;
          continue;
        }
        if (!(pte & PTE_PRESENT) || (pte & PTE_ZERO)) {
          nf = yield* this.allocFor(g, p, who, '');
          if (nf < 0) {
            this.hazard[g] = NONE;
            yield this.tracing ? `${who}: out of memory: clear hazard` : '';
            return;
          }
          this.content[nf] = 0;
          yield this.tracing ? `${who}: zero frame ${nf}` : '';
          next = makePte(nf, PTE_PRESENT | PTE_WRITABLE | PTE_MERGEABLE);
        } else if (pte & PTE_KSM) {
          nf = yield* this.allocFor(g, p, who, ' for copy-on-write');
          if (nf < 0) {
            this.hazard[g] = NONE;
            yield this.tracing ? `${who}: out of memory: clear hazard` : '';
            return;
          }
          const k = pte >>> PTE_FRAME_SHIFT;
          this.checkAccess(k, gen, `${who} copy-on-write`);
          this.content[nf] = this.content[k]!;
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
    yield this.tracing ? `${who}: write frame ${f} = ${v}` : '';
    this.hazard[g] = NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }

  private *guestRead(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = p * 2; // hazardRead
    yield this.tracing ? `${who}: read p${p}: store hazard` : '';
    let pte = this.pt[i]!;
    let gen = this.gen[pte >>> PTE_FRAME_SHIFT]!;
    yield this.tracing ? `${who}: load PTE p${p} (${fmt(pte)})` : '';
    if (!(pte & PTE_PRESENT)) {
      // readFault: the hazard says write from here (the fault may swing the PTE to a new frame).
      this.hazard[g] = p * 2 + 1;
      yield this.tracing ? `${who}: read fault: store hazard (write)` : '';
    }
    while (!(pte & PTE_PRESENT)) {
      if (pte & PTE_SWAPPED) {
        const seen: number = yield* this.swapIn(g, p, pte, who);
        if (seen === -1) {
          this.hazard[g] = NONE;
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
    this.hazard[g] = NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }

  /** releaseRange of one page: record VPAGE, NEXT = 0, then OLD before each CAS to 0; drop. */
  private *guestDontneed(g: number, p: number): Step {
    const who = `guest ${g}`;
    yield* this.releasePage(g, p, who, true);
  }

  /** AddressSpace.releaseRange for page p of guest g (by the guest, or by the host reclaiming it). */
  private *releasePage(g: number, p: number, who: string, track: boolean): Step {
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
      if (seen === old && track) this.enterWindow(g, 'PTE released, old reference not yet dropped', -1, false, LEAK_NONE);
      yield this.tracing ? `${who}: CAS PTE p${p} ${fmt(old)} → none${seen === old ? '' : ` failed (saw ${fmt(seen)})`}` : '';
      if (seen === old) {
        yield* this.dropReference(g, old, who, track);
        return;
      }
    }
  }

  private *guestMergeable(g: number, p: number): Step {
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

  private *guestUnmerge(g: number, p: number): Step {
    const who = `guest ${g}`;
    const i = g * this.cfg.pages + p;
    this.hazard[g] = p * 2 + 1; // hazardWrite: it swings the PTE
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
    this.hazard[g] = NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
  }

  // ───────────── the host, after a guest was killed ─────────────

  /**
   * Host.supervise → AddressSpace.reclaim, after worker.terminate() stopped guest `g` between two of
   * its steps: reclaimInflight (with the dead guest's hazard word still set), then clear the hazard
   * word, releaseRange over every page, teardown (hazard, releaseRange over the VMAs — all empty by
   * then —, state EXITED; ksmd then frees what it deferred for the guest).
   */
  *reclaim(g: number): Step {
    const who = `host (reclaiming guest ${g})`;
    this.kindOf[this.cfg.guests + 1] = K.host_reclaim;
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
        const happened = swingHappened(pte, next);
        yield this.tracing ? `${who}: load INFLIGHT_NEXT = ${fmt(next)}${happened ? ' (the swing happened: drop the old reference)' : ' (no swing)'}` : '';
        if (happened) yield* this.dropReference(g, old, who, false);
      }
      this.ifOld[g] = 0;
      yield this.tracing ? `${who}: store INFLIGHT_OLD = 0` : '';
    }
    this.hazard[g] = NONE;
    yield this.tracing ? `${who}: clear hazard` : '';
    for (let p = 0; p < this.cfg.pages; p++) yield* this.releasePage(g, p, who, false);
    // teardown
    this.hazard[g] = NONE;
    yield this.tracing ? `${who}: teardown: clear hazard` : '';
    for (let p = 0; p < this.cfg.pages; p++) yield* this.releasePage(g, p, who, false);
    this.exited[g] = 1;
    yield this.tracing ? `${who}: store state EXITED` : '';
    this.guestsDone++;
  }

  /**
   * After ksmd was killed (stress-run.ts, src/stress/recount.ts repairAfterKsmdDeath): wait until
   * every guest is paused between two operations, then, in that stopped world, make mapcounts,
   * frees and ksm_zero_pages agree with the page tables (one step), and forget ksmd's heap: the
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
    this.ksmZero.fill(0);
    for (let i = 0; i < this.pt.length; i++) {
      const pte = this.pt[i]!;
      if (!(pte & PTE_PRESENT)) continue;
      if (pte & PTE_ZERO) {
        if (pte & PTE_KSM_ZERO) this.ksmZero[(i / this.cfg.pages) | 0]!++;
        continue;
      }
      const f = pte >>> PTE_FRAME_SHIFT;
      mapped[f] = 1;
      if (pte & PTE_KSM) mappers[f]!++;
    }
    let fixed = 0;
    for (let f = 1; f < frames; f++) {
      if (mapped[f]) {
        if (this.mapcount[f] !== mappers[f]) fixed++;
        this.mapcount[f] = mappers[f]!;
      } else if (!this.free[f]) {
        this.tag[f] = 0;
        this.free[f] = 1;
        fixed++;
      }
    }
    this.pendingRef = -1;
    this.items.fill(undefined);
    this.nodes.length = 0;
    this.unstable = [];
    this.deferred = [];
    this.seqnr = 0;
    this.pagesShared = this.pagesSharing = this.pagesUnshared = 0;
    yield this.tracing ? `host: guests paused; repair from the page tables (${fixed} frames fixed); start a new ksmd` : '';
  }

  // ───────────── ksmd ─────────────

  /** ksmd: scan passes while any guest runs, then two quiet full passes. */
  *ksmd(): Step {
    this.kindOf[this.cfg.guests] = K.ksmd_scan;
    let quiet = 0;
    const writers = this.cfg.writers?.length ?? 0;
    for (;;) {
      const guestsRunning = this.guestsDone < this.cfg.guests || this.writersDone < writers;
      yield* this.processDeferred();
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

  /**
   * ksmd-worker serveRequest → KsmState.pendingRequest / answer, and KsmEngine.handleRequest for
   * REQ_SET_RUN. The request is taken only when KC_REQ_SEQ is even (published) and differs from
   * KC_REQ_ACK, and only if SEQ is unchanged after OP and ARG were loaded. Returns whether a
   * run=2 was carried out.
   */
  private *serveRequest(): Generator<string, boolean, void> {
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
    if (op !== SIM_REQ_SET_RUN || arg !== expected) {
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
        result = -12;
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

  private restoreKind(saved: number, value: boolean): boolean {
    this.kindOf[this.cfg.guests] = saved;
    return value;
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
        this.reqOp = SIM_REQ_SET_RUN;
        yield this.tracing ? `${who}: store OP = ${SIM_REQ_SET_RUN}` : '';
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
        this.reqOp = SIM_REQ_SET_RUN;
        yield this.tracing ? `${who}: store OP = ${SIM_REQ_SET_RUN}` : '';
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

  /**
   * KsmEngine.unmergeAll (run=2): every KSM page and KSM zero page becomes a private copy (not
   * writable: the next write reuses it), then every item and node goes.
   */
  private *unmergeAll(): Step {
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

  private *scanItem(i: number): Step {
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

  private *cmpAndMerge(it: Item, pte: number): Step {
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

  private *nodeOfKsmFrame(k: number): Generator<string, number, void> {
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

  private *getNodeFrame(n: number): Generator<string, boolean, void> {
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

  private *nodeFrameLive(n: number): Generator<string, boolean, void> {
    const k = this.nodes[n]!.frame;
    const mc = this.mapcount[k]!;
    yield this.tracing ? `ksmd: load mapcount(${k}) = ${mc}` : '';
    if (mc <= 0) return false;
    const tag = this.tag[k]!;
    yield this.tracing ? `ksmd: load tag(${k}) = ${tag}` : '';
    return tag === n + 1;
  }

  /** The engine's stableSearch; a `probe` compares nothing and gives up (changing nothing) where it would drop a stale node. */
  private *stableSearch(checksum: number, frame: number, probe: boolean): Generator<string, number, void> {
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

  private *unstableSearchInsert(it: Item, checksum: number, frame: number): Generator<string, Item | undefined, void> {
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

  /** write_protect_page: CAS to read-only + WP_KSMD, then wait for the guest to leave the page. */
  private *writeProtect(g: number, p: number, pte: number): Generator<string, number, void> {
    if ((pte & (PRESENT_ANON_MASK | PTE_KSM)) !== PRESENT_ANON) return 0;
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
      if (h !== p * 2 + 1) return wp; // only a writer is waited for
    }
    return 0;
  }

  /** The CAS that installs a KSM or zero PTE: invariant 3 is checked on the step it happens. */
  private casMerge(i: number, expect: number, next: number): number {
    const seen = this.cas(i, expect, next);
    if (seen === expect) {
      const from = this.content[expect >>> PTE_FRAME_SHIFT]!;
      const to = this.content[next >>> PTE_FRAME_SHIFT]!;
      if (from !== to && this.cfg.broken === 'none') this.fail(`ksmd replaced a page of content ${from} by a frame of content ${to} (invariant 3)`);
    }
    return seen;
  }

  private *mergeIntoKsm(it: Item, pte: number, sn: number): Generator<string, MergeResult, void> {
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

  private *mergeWithZeroPage(it: Item, pte: number): Generator<string, boolean, void> {
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

  private *mergeTwo(it: Item, pte: number, tree: Item, checksum: number): Step {
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

  private *releaseAfterReplace(g: number, p: number, frame: number, isKsm: boolean): Step {
    if (this.cfg.broken !== 'free-without-hazard') {
      const h = this.hazard[g]!;
      yield this.tracing ? `ksmd: load hazard(g${g}) = ${h}` : '';
      if (h >> 1 === p) { // any access defers the free
        this.deferred.push(g, p, frame, isKsm ? 1 : 0);
        return;
      }
    }
    if (isKsm) yield* this.putFrame(frame, 'ksmd');
    else yield* this.freeFrame(frame, 'ksmd');
  }

  private *processDeferred(): Step {
    const d = this.deferred;
    if (d.length === 0) return;
    const saved = this.kindOf[this.cfg.guests]!;
    this.kindOf[this.cfg.guests] = K.ksmd_deferred;
    const keep: number[] = [];
    for (let i = 0; i < d.length; i += 4) {
      const ex = this.exited[d[i]!]!;
      yield this.tracing ? `ksmd: deferred free of frame ${d[i + 2]}: load state(g${d[i]}) = ${ex ? 'EXITED' : 'RUNNING'}` : '';
      const h = ex ? NONE : this.hazard[d[i]!]!;
      if (!ex) yield this.tracing ? `ksmd: deferred free of frame ${d[i + 2]}: load hazard(g${d[i]}) = ${h}` : '';
      if (h >> 1 === d[i + 1]) {
        keep.push(d[i]!, d[i + 1]!, d[i + 2]!, d[i + 3]!);
        continue;
      }
      if (d[i + 3]) yield* this.putFrame(d[i + 2]!, 'ksmd');
      else yield* this.freeFrame(d[i + 2]!, 'ksmd');
    }
    this.deferred = keep;
    this.kindOf[this.cfg.guests] = saved;
  }

  private appendToNode(it: Item, sn: number): void {
    const node = this.nodes[sn]!;
    if (node.items.length > 0) this.pagesSharing++;
    else this.pagesShared++;
    node.items.push(it);
    it.state = ITEM_STABLE;
    it.node = sn;
  }

  private *removeFromTree(it: Item): Step {
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

  private unlinkStableItem(it: Item, sn: number): void {
    const node = this.nodes[sn]!;
    node.items.splice(node.items.indexOf(it), 1);
    if (node.items.length > 0) this.pagesSharing--;
    else this.pagesShared--;
    it.state = ITEM_NONE;
    it.node = -1;
  }

  private removeNode(sn: number): void {
    const node = this.nodes[sn]!;
    while (node.items.length) this.unlinkStableItem(node.items[node.items.length - 1]!, sn);
    node.live = false;
  }

  // ───────────── invariants ─────────────

  private readonly scratchA = new Int32Array(64);
  private readonly scratchB = new Int32Array(64);

  private where(i: number): string {
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
      if (content[f] !== shadow[i]) this.fail(`${this.where(i)} maps frame ${f} holding ${content[f]}, but its guest last wrote ${shadow[i]} (invariant ${pte & PTE_KSM ? '3' : '1'})`);
      if (pte & PTE_KSM) mappers[f]!++;
      else if (++priv[f]! > 1) this.fail(`private frame ${f} is mapped twice`);
    }
    for (let f = 1; f < frames; f++) {
      if (mappers[f]! > 0 && priv[f]! > 0) this.fail(`frame ${f} is both a KSM page and private`);
      if (mappers[f]! > 0 && mappers[f]! > mapcount[f]! && f !== this.pendingRef) this.fail(`KSM frame ${f} has ${mappers[f]} mappers but mapcount ${mapcount[f]} (invariant 4)`);
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
    const leaked: number[] = [];
    for (let f = 1; f < frames; f++) if (!this.free[f] && !mapped[f]) leaked.push(f);
    const slotUsed = new Uint8Array(this.cfg.slots);
    for (let i = 0; i < this.pt.length; i++) if (this.pt[i]! & PTE_SWAPPED) slotUsed[pteFrame(this.pt[i]!)] = 1;
    const leakedSlots: number[] = [];
    for (let s = 0; s < this.cfg.slots; s++) if (!this.slotFree[s] && !slotUsed[s]) leakedSlots.push(s);
    const kf = this.killWindowFrame;
    let residual = false;
    if (this.guestKilled && this.killWindowDocumented) {
      if (this.killWindowLeak === LEAK_SLOT) residual = leaked.length === 0 && leakedSlots.length === 1 && leakedSlots[0] === kf;
      else if (leakedSlots.length) residual = false;
      else if (this.killWindowLeak === LEAK_FRAME) residual = leaked.length === 1 && leaked[0] === kf && this.mapcount[kf] === 0;
      else if (this.killWindowLeak === LEAK_REFERENCE) {
        residual = kf > 0 && this.mapcount[kf] === mappers[kf]! + 1 && (mappers[kf]! > 0 ? leaked.length === 0 : leaked.length === 1 && leaked[0] === kf);
      } else if (this.killWindowLeak === LEAK_ZERO_COUNT) residual = leaked.length === 0 && this.ksmZero[0] === zero[0]! + 1;
    }
    if (leakedSlots.length && !residual) this.fail(`swap slot${leakedSlots.length > 1 ? 's' : ''} ${leakedSlots.join(', ')} neither free nor in a PTE: leaked (invariant 5)`);
    if (leaked.length && !residual) this.fail(`frame${leaked.length > 1 ? 's' : ''} ${leaked.join(', ')} ${leaked.length > 1 ? 'are' : 'is'} neither free nor mapped: leaked (invariant 5)`);
    for (let f = 1; f < frames; f++) {
      if (this.mapcount[f]! < 0) this.fail(`frame ${f}: mapcount ${this.mapcount[f]} (a reference dropped twice, invariant 4)`);
      if (mappers[f]! > 0) {
        if (this.mapcount[f] !== mappers[f] && !(residual && f === kf)) this.fail(`KSM frame ${f}: mapcount ${this.mapcount[f]}, mappers ${mappers[f]} (invariant 4)`);
        shared++;
        sharing += mappers[f]! - 1;
      }
    }
    if (this.deferred.length) this.fail(`ksmd still holds ${this.deferred.length / 4} deferred frees`);
    for (let g = 0; g < this.cfg.guests; g++) {
      if (this.ksmZero[g] !== zero[g] && !(residual && g === 0 && this.killWindowLeak === LEAK_ZERO_COUNT)) this.fail(`guest ${g} ksm_zero_pages ${this.ksmZero[g]}, recount ${zero[g]} (invariant 4)`);
    }
    if (this.pagesShared !== shared || this.pagesSharing !== sharing) {
      this.fail(`pages_shared/pages_sharing ${this.pagesShared}/${this.pagesSharing}, recount ${shared}/${sharing} (invariant 4)`);
    }
    if (residual) {
      this.residualLeaks = 1;
      const what = this.killWindowLeak === LEAK_SLOT ? `swap slot ${kf}` : this.killWindowLeak === LEAK_FRAME ? `frame ${kf}`
        : this.killWindowLeak === LEAK_REFERENCE ? `a reference on KSM frame ${kf} (mapcount ${this.mapcount[kf]}, mappers ${mappers[kf]}${mappers[kf] ? '' : ': the frame is leaked'})`
          : `one ksm_zero_pages count of guest 0 (${this.ksmZero[0]}, recount ${zero[0]})`;
      this.residualWhy = `${what}: guest 0 was killed in the window "${this.killWindow}"`;
    }
  }
}

/**
 * AddressSpace's swingHappened, verbatim: did a recorded swing to `next` happen, seeing the PTE is
 * now `pte`? For 0 or a swap entry the exact value; for a new private frame, a private PTE of that
 * frame (ksmd may have write-protected it meanwhile).
 */
export function swingHappened(pte: number, next: number): boolean {
  if (next === 0 || (next & PTE_SWAPPED)) return pte === next;
  return isPrivateFrame(pte) && pteFrame(pte) === pteFrame(next);
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
  }
  return s;
}
