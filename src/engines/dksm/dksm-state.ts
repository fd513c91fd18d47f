// dksm-state.ts — owns DKSM's host-wide shared state: the one lock (an Atomics word holding its
// owner), the run flag, the four counters, and the 4096-bucket checksum table of (frame, checksum,
// tag) entries that hold no reference on their frames.
//
// Layout (Int32 words of `state`): LOCK, RUN, NEXT_TAG, FREE_HEAD, then 4096 bucket heads, then the
// entry pool (4 words each: frame, checksum, tag, next). Counters are a BigInt64Array (`counters`).
// Everything but the lock word changes only under the lock; counters are read without it.

export const DKSM_BUCKETS = 4096;
export const DKSM_COUNTERS = ['pages_scanned', 'pages_merged', 'merging_failed', 'hashtable_entries'] as const;
export type DksmCounter = (typeof DKSM_COUNTERS)[number];

/** The lock's owner when the host itself (a sysfs write from the CLI or a test) holds it. */
export const HOST_OWNER = -1;

const W_LOCK = 0;
const W_RUN = 16; // its own cache line: the lock word is spun on
const W_NEXT_TAG = 17;
const W_FREE_HEAD = 18;
const W_CAPACITY = 19;
const W_BUCKETS = 32;
const W_ENTRIES = W_BUCKETS + DKSM_BUCKETS;
const E_FRAME = 0;
const E_SUM = 1;
const E_TAG = 2;
const E_NEXT = 3;
const E_WORDS = 4;
const NONE = -1;
/** How long a waiter sleeps before looking again (the owner may have been killed and released). */
const LOCK_WAIT_MS = 20;

export interface DksmHandles {
  readonly state: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
}

export class DksmState {
  readonly handles: DksmHandles;
  readonly words: Int32Array;
  readonly counters: BigInt64Array;
  readonly capacity: number;

  private constructor(handles: DksmHandles) {
    this.handles = handles;
    this.words = new Int32Array(handles.state);
    this.counters = new BigInt64Array(handles.counters);
    this.capacity = this.words[W_CAPACITY]!;
  }

  /**
   * A table whose pool holds `capacity` entries: one per frame is enough, since a live entry names a
   * distinct tagged frame; stale entries are swept when the pool runs out.
   */
  static create(capacity: number): DksmState {
    const state = new SharedArrayBuffer((W_ENTRIES + capacity * E_WORDS) * 4);
    const w = new Int32Array(state);
    w[W_CAPACITY] = capacity;
    w[W_NEXT_TAG] = 1;
    // One slot past the counters: the thread CPU spent merging, in µs (not a sysfs file; run 1→0 keeps it).
    const s = new DksmState({ state, counters: new SharedArrayBuffer((DKSM_COUNTERS.length + 1) * 8) });
    s.clearTable();
    return s;
  }

  static attach(handles: DksmHandles): DksmState {
    return new DksmState(handles);
  }

  // ───────────── the lock ─────────────

  /**
   * Take the host-wide lock for `owner` (a guest pid or HOST_OWNER). A guest killed while holding it
   * cannot wedge the others: the host releases a dead owner's lock (`releaseIfOwner`, from
   * Host.supervise once the thread has ended) and the waiter's timed wait sees it free.
   */
  lock(owner: number): void {
    const w = this.words;
    for (;;) {
      const seen = Atomics.compareExchange(w, W_LOCK, 0, owner);
      if (seen === 0) return;
      if (seen === owner) throw new Error(`dksm lock taken twice by ${owner}`);
      Atomics.wait(w, W_LOCK, seen, LOCK_WAIT_MS);
    }
  }

  unlock(owner: number): void {
    if (Atomics.compareExchange(this.words, W_LOCK, owner, 0) !== owner) throw new Error(`dksm lock released by ${owner}, which does not hold it`);
    Atomics.notify(this.words, W_LOCK, 1);
  }

  /** The owner's thread has ended: if it held the lock, free it (whatever it left half-done is argued in dksm-merge.ts). */
  releaseIfOwner(owner: number): boolean {
    if (Atomics.compareExchange(this.words, W_LOCK, owner, 0) !== owner) return false;
    Atomics.notify(this.words, W_LOCK, 1);
    return true;
  }

  lockOwner(): number {
    return Atomics.load(this.words, W_LOCK);
  }

  // ───────────── run and counters ─────────────

  get run(): number {
    return Atomics.load(this.words, W_RUN);
  }

  /** Under the lock. run 1→0 frees every entry and zeroes the counters; merged pages stay merged. */
  setRunLocked(value: 0 | 1): void {
    const was = Atomics.load(this.words, W_RUN);
    if (was === value) return;
    if (value === 0) {
      this.clearTable();
      for (let i = 0; i < DKSM_COUNTERS.length; i++) Atomics.store(this.counters, i, 0n);
    }
    Atomics.store(this.words, W_RUN, value);
  }

  counter(name: DksmCounter): number {
    return Number(Atomics.load(this.counters, DKSM_COUNTERS.indexOf(name)));
  }

  count(name: DksmCounter, delta = 1): void {
    Atomics.add(this.counters, DKSM_COUNTERS.indexOf(name), BigInt(delta));
  }

  /** Thread CPU the guests spent inside DKSM's madvise walks, in µs. */
  cpuMicros(): number {
    return Number(Atomics.load(this.counters, DKSM_COUNTERS.length));
  }

  addCpuMicros(us: number): void {
    Atomics.add(this.counters, DKSM_COUNTERS.length, BigInt(Math.max(0, Math.round(us))));
  }

  // ───────────── the table (all under the lock) ─────────────

  /** A fresh tag for a frame entering the table (never 0: 0 is "no tag" in the frame's flags word). */
  nextTag(): number {
    const w = this.words;
    const t = w[W_NEXT_TAG]!;
    w[W_NEXT_TAG] = t >= 0x7ffffffe ? 1 : t + 1;
    return t;
  }

  bucketHead(sum: number): number {
    return Atomics.load(this.words, W_BUCKETS + (sum & (DKSM_BUCKETS - 1)));
  }

  entryFrame(e: number): number {
    return this.words[W_ENTRIES + e * E_WORDS + E_FRAME]!;
  }

  entrySum(e: number): number {
    return this.words[W_ENTRIES + e * E_WORDS + E_SUM]!;
  }

  entryTag(e: number): number {
    return this.words[W_ENTRIES + e * E_WORDS + E_TAG]!;
  }

  entryNext(e: number): number {
    return Atomics.load(this.words, W_ENTRIES + e * E_WORDS + E_NEXT);
  }

  /**
   * Link a new entry at the head of its bucket; false when the pool is full. The entry is filled
   * before one store publishes it, so an owner killed midway leaves at worst an unlinked pool slot.
   */
  insert(frame: number, sum: number, tag: number): boolean {
    const w = this.words;
    const e = Atomics.load(w, W_FREE_HEAD);
    if (e === NONE) return false;
    const base = W_ENTRIES + e * E_WORDS;
    Atomics.store(w, W_FREE_HEAD, w[base + E_NEXT]!);
    w[base + E_FRAME] = frame;
    w[base + E_SUM] = sum;
    w[base + E_TAG] = tag;
    const head = W_BUCKETS + (sum & (DKSM_BUCKETS - 1));
    Atomics.store(w, base + E_NEXT, Atomics.load(w, head));
    Atomics.store(w, head, e);
    this.count('hashtable_entries');
    return true;
  }

  /** Unlink `e`, whose predecessor in its bucket is `prev` (NONE: it is the head), and free its slot. */
  remove(e: number, prev: number, sum: number): void {
    const w = this.words;
    const next = this.entryNext(e);
    if (prev === NONE) Atomics.store(w, W_BUCKETS + (sum & (DKSM_BUCKETS - 1)), next);
    else Atomics.store(w, W_ENTRIES + prev * E_WORDS + E_NEXT, next);
    Atomics.store(w, W_ENTRIES + e * E_WORDS + E_NEXT, Atomics.load(w, W_FREE_HEAD));
    Atomics.store(w, W_FREE_HEAD, e);
    this.count('hashtable_entries', -1);
  }

  /** Drop every entry `stale` says is dead (when the pool runs out); returns how many went. */
  sweep(stale: (e: number) => boolean): number {
    let dropped = 0;
    for (let b = 0; b < DKSM_BUCKETS; b++) {
      let prev = NONE;
      let e = Atomics.load(this.words, W_BUCKETS + b);
      while (e !== NONE) {
        const next = this.entryNext(e);
        if (stale(e)) {
          this.remove(e, prev, this.entrySum(e));
          dropped++;
        } else {
          prev = e;
        }
        e = next;
      }
    }
    return dropped;
  }

  private clearTable(): void {
    const w = this.words;
    for (let b = 0; b < DKSM_BUCKETS; b++) Atomics.store(w, W_BUCKETS + b, NONE);
    for (let e = 0; e < this.capacity; e++) w[W_ENTRIES + e * E_WORDS + E_NEXT] = e + 1 < this.capacity ? e + 1 : NONE;
    Atomics.store(w, W_FREE_HEAD, this.capacity > 0 ? 0 : NONE);
  }
}

export const DKSM_NO_ENTRY = NONE;
