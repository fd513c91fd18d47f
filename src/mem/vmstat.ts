// vmstat.ts — owns the host-wide memory event counters and page gauges behind /proc/vmstat and
// /proc/meminfo: one SharedArrayBuffer of named Int32 slots that every thread (guests, ksmd, the
// host) changes with Atomics.add, as the kernel's vm_event_states and node_page_state are.
//
// Slot names are the kernel's /proc/vmstat names. Events only grow; gauges (nr_*) go up and down.
// The /proc formats are in procfs.ts; what the kernel computes on the fly (nr_free_pages,
// nr_anon_pages, MemFree) is computed there from the frame allocator, not counted here.
// An Int32 slot holds 2^31 events: far more than an emulated run makes (hours at ~10^5 per second).
//
// nr_anon_transparent_hugepages is the one gauge kept per page table, as the kernel keeps an mm's
// RSS counters with the mm: each guest's huge pages count in a word of its own (a huge-page slot,
// claimed the first time the guest's count moves), and the host-wide figure is the sum over the
// guests that still have a page table. Why not one word: a thread changes a head PTE and then the
// count, two Atomics operations, and worker.terminate() can land between them; no record can tell
// the host afterwards whether the second one happened (a blind add on a shared word leaves no trace
// of whose it was). A word per guest can simply be dropped with the guest: the host releases a dead
// guest's pages and then retires its slot (SpaceInflight.reclaim), whatever the word holds.

/** Every slot, in the order /proc/vmstat prints them (the kernel's vmstat_text order). */
export const VMSTAT_SLOTS = [
  // gauges (node_page_state)
  'nr_anon_transparent_hugepages', // THP folios mapped: AnonHugePages = this × 2 MiB
  'nr_swapcached', // pages in the swap cache (SwapCached in /proc/meminfo)
  // events (vm_event_item)
  'pswpin',
  'pswpout',
  'thp_fault_alloc',
  'thp_fault_fallback',
  'thp_collapse_alloc',
  'thp_collapse_alloc_failed',
  'thp_split_page',
  'thp_split_page_failed',
  'thp_split_pmd',
  'ksm_swpin_copy',
  'cow_ksm',
] as const;

export type VmstatName = (typeof VMSTAT_SLOTS)[number];

/** Slot index of each name, for hot paths that count by index (vmstat.addAt(VM.cow_ksm)). */
export const VM: Readonly<Record<VmstatName, number>> = Object.fromEntries(VMSTAT_SLOTS.map((n, i) => [n, i])) as Record<VmstatName, number>;

/** Kept a multiple of 16 words so slots added later (another branch's) never change the buffer size rule. */
const WORDS = Math.ceil(VMSTAT_SLOTS.length / 16) * 16;

/**
 * Huge-page slots per host: one per guest that ever maps a huge page, never reused (a thread still
 * finishing a split of a dead guest's block may add to its slot after the host retired it). 64 KiB.
 */
export const HUGE_SLOTS = 8192;
const HUGE_NEXT = WORDS; // the next unclaimed huge-page slot
const HUGE_COUNT = WORDS + 16; // HUGE_SLOTS counts, then HUGE_SLOTS retired flags
const HUGE_RETIRED = HUGE_COUNT + HUGE_SLOTS;
const TOTAL_WORDS = HUGE_RETIRED + HUGE_SLOTS;
const HUGE_GAUGE = 0; // VM.nr_anon_transparent_hugepages: read as the sum of the live slots

export class Vmstat {
  readonly handles: SharedArrayBuffer;
  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < TOTAL_WORDS * 4) throw new RangeError(`vmstat buffer of ${buffer.byteLength} bytes is too small for ${VMSTAT_SLOTS.length} slots and ${HUGE_SLOTS} huge-page slots`);
    this.handles = buffer;
    this.words = new Int32Array(buffer);
  }

  static create(): Vmstat {
    return new Vmstat(new SharedArrayBuffer(TOTAL_WORDS * 4));
  }

  static attach(buffer: SharedArrayBuffer): Vmstat {
    return new Vmstat(buffer);
  }

  /** count_vm_event / mod_node_page_state: add `delta` (default 1) to a slot. */
  add(name: VmstatName, delta = 1): void {
    this.addAt(VM[name], delta);
  }

  /** The same by slot index (VM.name), for hot paths. */
  addAt(slot: number, delta = 1): void {
    if (slot === HUGE_GAUGE) throw new Error('nr_anon_transparent_hugepages is counted per guest: addHuge(slot, delta) (thp.ts countHuge)');
    Atomics.add(this.words, slot, delta);
  }

  get(name: VmstatName): number {
    return VM[name] === HUGE_GAUGE ? this.hugePages() : Atomics.load(this.words, VM[name]);
  }

  /** Every slot by name (for reports and the density series). */
  snapshot(): Record<VmstatName, number> {
    const out = {} as Record<VmstatName, number>;
    for (let i = 0; i < VMSTAT_SLOTS.length; i++) out[VMSTAT_SLOTS[i]!] = i === HUGE_GAUGE ? this.hugePages() : Atomics.load(this.words, i);
    return out;
  }

  /** A huge-page slot of its own for one guest (thp.ts hugeSlotOf claims it once per guest). */
  claimHugeSlot(): number {
    const slot = Atomics.add(this.words, HUGE_NEXT, 1);
    if (slot >= HUGE_SLOTS) throw new RangeError(`no huge-page slot left: ${HUGE_SLOTS} guests of this host have mapped huge pages`);
    return slot;
  }

  /** One guest's huge pages mapped: +1 for a head PTE that became huge, −1 for one that stopped being. */
  addHuge(slot: number, delta: number): void {
    Atomics.add(this.words, HUGE_COUNT + this.checkSlot(slot), delta);
  }

  /** The guest's page table is gone: its count no longer adds to the host's (later adds to it are ignored). */
  retireHuge(slot: number): void {
    Atomics.store(this.words, HUGE_RETIRED + this.checkSlot(slot), 1);
  }

  /** A guest's own count, as the threads left it (what the repair after a killed ksmd recounts). */
  hugeOf(slot: number): number {
    return Atomics.load(this.words, HUGE_COUNT + this.checkSlot(slot));
  }

  /** Set a guest's count (the stop-the-world repair after a killed ksmd: from its page table). */
  setHuge(slot: number, value: number): void {
    Atomics.store(this.words, HUGE_COUNT + this.checkSlot(slot), value);
  }

  /** nr_anon_transparent_hugepages: the sum over the slots not retired. */
  hugePages(): number {
    const claimed = Math.min(Atomics.load(this.words, HUGE_NEXT), HUGE_SLOTS);
    let n = 0;
    for (let s = 0; s < claimed; s++) if (!Atomics.load(this.words, HUGE_RETIRED + s)) n += Atomics.load(this.words, HUGE_COUNT + s);
    return n;
  }

  private checkSlot(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= Math.min(Atomics.load(this.words, HUGE_NEXT), HUGE_SLOTS)) throw new RangeError(`huge-page slot ${slot} was never claimed`);
    return slot;
  }
}
