// ksm-state.ts — owns the shared sysfs state of KSM: every knob and counter in one BigInt64Array,
// plus the Int32 words ksmd sleeps on and the request channel that knob writes use to reach ksmd.
//
// Knobs are written by whoever writes sysfs (host or a root guest) and read by ksmd; counters are
// written by ksmd (and ksm_zero_pages also by guests, which change it at once, as the kernel does).
//
// The request channel (a knob write that only ksmd can carry out: run=2, the EBUSY checks):
//  writer: take KC_REQ_LOCK (compare-and-exchange 0 → its owner token), then publish like a
//    seqlock: SEQ ← SEQ|1 (odd: being written), OP, ARG, SEQ ← that + 1 (even: published); wait
//    until ACK = SEQ, load RESULT, release the lock (compare-and-exchange token → 0).
//  ksmd: load SEQ; odd or equal to ACK → nothing pending; else load OP, ARG, and SEQ again: a
//    changed SEQ means the pair was rewritten meanwhile (only after a lock holder died or timed
//    out): look again later. Carry it out, store RESULT, then ACK ← SEQ.
// So ksmd never takes a request before both OP and ARG of it are stored (issue 11, finding 2: the
// old channel stored OP, ARG, then DONE = 0, with DONE 0 from the start, so ksmd could take the
// first request with ARG still 0 — run=1 applied as run=0 — or, loading OP before DONE, take the
// previous request's OP with the next one's ARG), and never a pair torn between two writers.
// A writer killed holding the lock (finding 3: every later knob write blocked forever): the lock
// holds the writer's owner token — a guest's pid, for a guest thread — and when the host reports a
// dead guest to ksmd (KsmEngine.guestExited), ksmd releases the lock if that guest held it. Every
// wait has a deadline and fails with an error that names the holder.

import { threadId, workerData } from 'node:worker_threads';
import type { SpaceHooks } from '../mem/space-core.ts';
import { THP_DEFRAG_MODES, THP_MODES } from '../mem/thp.ts';

export const KNOBS = [
  'run', 'pages_to_scan', 'sleep_millisecs', 'merge_across_nodes', 'use_zero_pages', 'max_page_sharing',
  'stable_node_chains_prune_millisecs', 'smart_scan', 'advisor_mode', 'advisor_max_cpu',
  'advisor_min_pages_to_scan', 'advisor_max_pages_to_scan', 'advisor_target_scan_time',
] as const;

export const COUNTERS = [
  'pages_shared', 'pages_sharing', 'pages_unshared', 'pages_scanned', 'pages_skipped', 'full_scans',
  'ksm_zero_pages', 'stable_node_chains', 'stable_node_dups', 'rmap_items',
] as const;

/** Host-wide settings outside /sys/kernel/mm/ksm that guests can read (and root can write). */
export const HOST_SETTINGS = [
  'thp_enabled', 'thp_defrag',
  // transparent_hugepage/khugepaged/: two knobs, and two counters the ksmd thread publishes.
  'khugepaged_pages_to_scan', 'khugepaged_scan_sleep_millisecs', 'khugepaged_full_scans', 'khugepaged_pages_collapsed',
] as const;

/** khugepaged's defaults (mm/khugepaged.c): 8 PMDs a turn (4096 pages), a turn every 10 s. */
export const KHUGEPAGED_DEFAULTS = { pages_to_scan: 4096, scan_sleep_millisecs: 10_000 } as const;

/**
 * The 2.6.32-era sharing limit (--kernel-compat 2.6.32): kernel_compat 1 makes
 * /sys/kernel/mm/ksm/max_kernel_pages exist; max_kernel_pages 0 (the only value without it) means no limit.
 */
export const COMPAT_SETTINGS = ['kernel_compat', 'max_kernel_pages'] as const;
export type KernelCompat = 'current' | '2.6.32';
/** 2.6.32's default ksm_max_kernel_pages ("KSM shares only 2000 pages" until the ksm service raises it). */
export const MAX_KERNEL_PAGES_2_6_32 = 2000;

export type KnobName = (typeof KNOBS)[number];
export type CounterName = (typeof COUNTERS)[number];
export type SlotName = KnobName | CounterName | (typeof HOST_SETTINGS)[number] | (typeof COMPAT_SETTINGS)[number];

export const ADVISOR_NONE = 0;
export const ADVISOR_SCAN_TIME = 1;

export const KNOB_DEFAULTS: Readonly<Record<KnobName, number>> = {
  run: 0,
  pages_to_scan: 100,
  sleep_millisecs: 20,
  merge_across_nodes: 1,
  use_zero_pages: 0,
  max_page_sharing: 256,
  stable_node_chains_prune_millisecs: 2000,
  smart_scan: 1,
  advisor_mode: ADVISOR_NONE,
  advisor_max_cpu: 70,
  advisor_min_pages_to_scan: 500,
  advisor_max_pages_to_scan: 30000,
  advisor_target_scan_time: 200,
};

const SLOT: Record<SlotName, number> = Object.fromEntries(
  [...KNOBS, ...COUNTERS, ...HOST_SETTINGS, ...COMPAT_SETTINGS].map((name, i) => [name, i]),
) as Record<SlotName, number>;
const SLOTS = KNOBS.length + COUNTERS.length + HOST_SETTINGS.length + COMPAT_SETTINGS.length;

export { THP_MODES };

/** Int32 control words. The wake word is alone on its line; the request channel on the next. */
export const KC_WAKE = 0; // bumped + notified on every knob change or request
export const KC_REQ_LOCK = 16; // 0 free, else the holder's owner token (see requestOwner)
export const KC_REQ_OP = 17;
export const KC_REQ_ARG = 18;
export const KC_REQ_SEQ = 19; // odd while a writer stores OP and ARG; even once the request is published
export const KC_REQ_RESULT = 20; // 0 or a negative errno
export const KC_KSMD_ALIVE = 21; // 1 while a ksmd worker serves requests
export const KC_REQ_ACK = 22; // the SEQ of the last request ksmd answered
export const KC_WORDS = 32;

/** Owner tokens of threads that are not guests (the host, the CLI, tests): this plus the threadId. */
export const NON_GUEST_OWNER = 0x40000000;

/**
 * This thread's owner token for the request lock: a guest thread's pid (guest-worker's workerData
 * carries its GuestSpaceHandles), so the host's report of a dead guest can free a lock it held;
 * any other thread NON_GUEST_OWNER + its threadId.
 */
export function requestOwner(): number {
  const pid = (workerData as { space?: { pid?: unknown } } | null | undefined)?.space?.pid;
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 && pid < NON_GUEST_OWNER ? pid : NON_GUEST_OWNER + threadId;
}

function describeOwner(token: number): string {
  return token >= NON_GUEST_OWNER ? `thread ${token - NON_GUEST_OWNER}` : `guest pid ${token}`;
}

/** Requests a knob write hands to ksmd because only ksmd may change the trees. */
export const REQ_SET_RUN = 1;
export const REQ_SET_MERGE_ACROSS_NODES = 2;
export const REQ_SET_MAX_PAGE_SHARING = 3;
export const REQ_NOTE_GUEST_EXIT = 4;

export interface KsmStateHandles {
  readonly values: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
}

export class KsmState {
  readonly handles: KsmStateHandles;
  readonly values: BigInt64Array;
  readonly control: Int32Array;
  /** This thread's token in KC_REQ_LOCK. */
  readonly owner: number;
  /** ksmd side: the SEQ of the request pendingRequest() handed out. */
  private taken = 0;

  private constructor(handles: KsmStateHandles) {
    this.handles = handles;
    this.values = new BigInt64Array(handles.values);
    this.control = new Int32Array(handles.control);
    this.owner = requestOwner();
  }

  static create(kernelCompat: KernelCompat = 'current'): KsmState {
    const s = new KsmState({ values: new SharedArrayBuffer(SLOTS * 8), control: new SharedArrayBuffer(KC_WORDS * 4) });
    for (const k of KNOBS) s.values[SLOT[k]] = BigInt(KNOB_DEFAULTS[k]);
    s.values[SLOT.thp_enabled] = BigInt(THP_MODES.indexOf('madvise'));
    s.values[SLOT.thp_defrag] = BigInt(THP_DEFRAG_MODES.indexOf('madvise'));
    s.values[SLOT.khugepaged_pages_to_scan] = BigInt(KHUGEPAGED_DEFAULTS.pages_to_scan);
    s.values[SLOT.khugepaged_scan_sleep_millisecs] = BigInt(KHUGEPAGED_DEFAULTS.scan_sleep_millisecs);
    if (kernelCompat === '2.6.32') {
      s.values[SLOT.kernel_compat] = 1n;
      s.values[SLOT.max_kernel_pages] = BigInt(MAX_KERNEL_PAGES_2_6_32);
    }
    return s;
  }

  static attach(handles: KsmStateHandles): KsmState {
    return new KsmState(handles);
  }

  get(name: SlotName): number {
    return Number(Atomics.load(this.values, SLOT[name]));
  }

  set(name: SlotName, value: number): void {
    Atomics.store(this.values, SLOT[name], BigInt(value));
  }

  add(name: SlotName, delta: number): void {
    Atomics.add(this.values, SLOT[name], BigInt(delta));
  }

  /** Wake ksmd (a knob changed, or a request is waiting). */
  wake(): void {
    Atomics.add(this.control, KC_WAKE, 1);
    Atomics.notify(this.control, KC_WAKE);
  }

  ksmdAlive(): boolean {
    return Atomics.load(this.control, KC_KSMD_ALIVE) === 1;
  }

  /**
   * Send a request to ksmd and block until it answers (synchronous, for guests and the CLI).
   * Returns 0 or a negative errno. Throws, naming the holder, if the lock is not had within
   * `timeoutMs`, or if ksmd does not answer within it.
   */
  requestSync(op: number, arg: number, timeoutMs = 60_000): number {
    const c = this.control;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const holder = Atomics.compareExchange(c, KC_REQ_LOCK, 0, this.owner);
      if (holder === 0) break;
      if (Date.now() > deadline) throw lockTimeout(holder, timeoutMs);
      Atomics.wait(c, KC_REQ_LOCK, holder, 5);
    }
    try {
      const seq = this.publish(op, arg);
      for (;;) {
        const ack = Atomics.load(c, KC_REQ_ACK);
        if (ack === seq) return Atomics.load(c, KC_REQ_RESULT);
        if (Date.now() > deadline) throw new Error('ksmd did not answer a sysfs request in time');
        Atomics.wait(c, KC_REQ_ACK, ack, 50);
      }
    } finally {
      this.releaseLock();
    }
  }

  /** The same request, without blocking the calling thread (for the host's event loop). */
  async request(op: number, arg: number, timeoutMs = 60_000): Promise<number> {
    const c = this.control;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const holder = Atomics.compareExchange(c, KC_REQ_LOCK, 0, this.owner);
      if (holder === 0) break;
      if (Date.now() > deadline) throw lockTimeout(holder, timeoutMs);
      await Atomics.waitAsync(c, KC_REQ_LOCK, holder, 5).value;
    }
    try {
      const seq = this.publish(op, arg);
      for (;;) {
        const ack = Atomics.load(c, KC_REQ_ACK);
        if (ack === seq) return Atomics.load(c, KC_REQ_RESULT);
        if (Date.now() > deadline) throw new Error('ksmd did not answer a sysfs request in time');
        await Atomics.waitAsync(c, KC_REQ_ACK, ack, 50).value;
      }
    } finally {
      this.releaseLock();
    }
  }

  /**
   * Writer side, holding the lock: publish [op, arg] and wake ksmd; returns the request's SEQ.
   * SEQ is odd while OP and ARG are stored (ksmd takes nothing then), even once both are. A writer
   * that died mid-way left SEQ odd: `| 1` keeps it odd, and the publish makes it even.
   */
  private publish(op: number, arg: number): number {
    const c = this.control;
    const writing = Atomics.load(c, KC_REQ_SEQ) | 1;
    Atomics.store(c, KC_REQ_SEQ, writing);
    Atomics.store(c, KC_REQ_OP, op);
    Atomics.store(c, KC_REQ_ARG, arg);
    const seq = (writing + 1) | 0;
    Atomics.store(c, KC_REQ_SEQ, seq);
    this.wake();
    return seq;
  }

  /** Release the lock if this thread holds it (a lock taken over from us is not ours to free). */
  private releaseLock(): void {
    if (Atomics.compareExchange(this.control, KC_REQ_LOCK, this.owner, 0) === this.owner) Atomics.notify(this.control, KC_REQ_LOCK, 1);
  }

  /**
   * The writer with token `owner` is dead (the host reaped it): free the request lock if it holds
   * it, so later knob writes do not wait for it forever. Returns whether it did. Its request, if
   * published, is still answered (no one reads the answer); one half written is never taken.
   */
  releaseRequestLockOf(owner: number): boolean {
    if (owner === 0 || Atomics.compareExchange(this.control, KC_REQ_LOCK, owner, 0) !== owner) return false;
    Atomics.notify(this.control, KC_REQ_LOCK, 1);
    return true;
  }

  /** Who holds the request lock: 0, or an owner token (requestOwner). */
  requestLockHolder(): number {
    return Atomics.load(this.control, KC_REQ_LOCK);
  }

  /** ksmd side: the pending request, if any, as [op, arg]. */
  pendingRequest(): [number, number] | undefined {
    const c = this.control;
    const seq = Atomics.load(c, KC_REQ_SEQ);
    if ((seq & 1) !== 0 || seq === Atomics.load(c, KC_REQ_ACK)) return undefined;
    const op = Atomics.load(c, KC_REQ_OP);
    const arg = Atomics.load(c, KC_REQ_ARG);
    // Rewritten while we loaded it (a new holder after the old one died or gave up): not a pair.
    if (Atomics.load(c, KC_REQ_SEQ) !== seq) return undefined;
    this.taken = seq;
    return [op, arg];
  }

  /** ksmd side: answer the request pendingRequest() handed out. */
  answer(result: number): void {
    const c = this.control;
    Atomics.store(c, KC_REQ_RESULT, result);
    Atomics.store(c, KC_REQ_ACK, this.taken);
    Atomics.notify(c, KC_REQ_ACK);
  }
}

function lockTimeout(holder: number, timeoutMs: number): Error {
  return new Error(`sysfs request lock still held by ${describeOwner(holder)} after ${timeoutMs} ms (a writer killed while holding it is released when the host reports its exit)`);
}

/**
 * What an address space needs of the host-wide state: the ksm_zero_pages counter and the THP setting
 * its faults obey (guest threads and the host build them alike).
 */
export function memoryHooks(ksm: KsmState): Pick<SpaceHooks, 'addKsmZeroPages' | 'thpMode'> {
  return {
    addKsmZeroPages: (d) => ksm.add('ksm_zero_pages', d),
    thpMode: () => ksm.get('thp_enabled'),
  };
}
