// ksm-state.ts — owns the shared sysfs state of KSM: every knob and counter in one BigInt64Array,
// plus the Int32 words ksmd sleeps on and the request channel that knob writes use to reach ksmd.
//
// Knobs are written by whoever writes sysfs (host or a root guest) and read by ksmd; counters are
// written by ksmd (and ksm_zero_pages also by guests, which change it at once, as the kernel does).

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
export const HOST_SETTINGS = ['thp_enabled'] as const;

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

/** transparent_hugepage/enabled values, in the order the file lists them. */
export const THP_MODES = ['always', 'madvise', 'never'] as const;

/** Int32 control words. The wake word is alone on its line; the request channel on the next. */
export const KC_WAKE = 0; // bumped + notified on every knob change or request
export const KC_REQ_LOCK = 16; // 0 free, 1 held by a writer
export const KC_REQ_OP = 17;
export const KC_REQ_ARG = 18;
export const KC_REQ_DONE = 19; // 0 pending, 1 answered
export const KC_REQ_RESULT = 20; // 0 or a negative errno
export const KC_KSMD_ALIVE = 21; // 1 while a ksmd worker serves requests
export const KC_WORDS = 32;

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

  private constructor(handles: KsmStateHandles) {
    this.handles = handles;
    this.values = new BigInt64Array(handles.values);
    this.control = new Int32Array(handles.control);
  }

  static create(kernelCompat: KernelCompat = 'current'): KsmState {
    const s = new KsmState({ values: new SharedArrayBuffer(SLOTS * 8), control: new SharedArrayBuffer(KC_WORDS * 4) });
    for (const k of KNOBS) s.values[SLOT[k]] = BigInt(KNOB_DEFAULTS[k]);
    s.values[SLOT.thp_enabled] = BigInt(THP_MODES.indexOf('madvise'));
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
   * Returns 0 or a negative errno. Throws if ksmd does not answer within `timeoutMs`.
   */
  requestSync(op: number, arg: number, timeoutMs = 60_000): number {
    const c = this.control;
    while (Atomics.compareExchange(c, KC_REQ_LOCK, 0, 1) !== 0) Atomics.wait(c, KC_REQ_LOCK, 1, 5);
    try {
      Atomics.store(c, KC_REQ_OP, op);
      Atomics.store(c, KC_REQ_ARG, arg);
      Atomics.store(c, KC_REQ_DONE, 0);
      this.wake();
      const deadline = Date.now() + timeoutMs;
      while (Atomics.load(c, KC_REQ_DONE) === 0) {
        if (Date.now() > deadline) throw new Error('ksmd did not answer a sysfs request in time');
        Atomics.wait(c, KC_REQ_DONE, 0, 50);
      }
      return Atomics.load(c, KC_REQ_RESULT);
    } finally {
      Atomics.store(c, KC_REQ_OP, 0);
      Atomics.store(c, KC_REQ_LOCK, 0);
      Atomics.notify(c, KC_REQ_LOCK, 1);
    }
  }

  /** The same request, without blocking the calling thread (for the host's event loop). */
  async request(op: number, arg: number, timeoutMs = 60_000): Promise<number> {
    const c = this.control;
    while (Atomics.compareExchange(c, KC_REQ_LOCK, 0, 1) !== 0) {
      await Atomics.waitAsync(c, KC_REQ_LOCK, 1, 5).value;
    }
    try {
      Atomics.store(c, KC_REQ_OP, op);
      Atomics.store(c, KC_REQ_ARG, arg);
      Atomics.store(c, KC_REQ_DONE, 0);
      this.wake();
      const deadline = Date.now() + timeoutMs;
      while (Atomics.load(c, KC_REQ_DONE) === 0) {
        if (Date.now() > deadline) throw new Error('ksmd did not answer a sysfs request in time');
        await Atomics.waitAsync(c, KC_REQ_DONE, 0, 50).value;
      }
      return Atomics.load(c, KC_REQ_RESULT);
    } finally {
      Atomics.store(c, KC_REQ_OP, 0);
      Atomics.store(c, KC_REQ_LOCK, 0);
      Atomics.notify(c, KC_REQ_LOCK, 1);
    }
  }

  /** ksmd side: the pending request, if any, as [op, arg]. */
  pendingRequest(): [number, number] | undefined {
    const c = this.control;
    const op = Atomics.load(c, KC_REQ_OP);
    if (op === 0 || Atomics.load(c, KC_REQ_DONE) !== 0) return undefined;
    return [op, Atomics.load(c, KC_REQ_ARG)];
  }

  /** ksmd side: answer the pending request. */
  answer(result: number): void {
    const c = this.control;
    Atomics.store(c, KC_REQ_RESULT, result);
    Atomics.store(c, KC_REQ_DONE, 1);
    Atomics.notify(c, KC_REQ_DONE);
  }
}
