// vmstat.ts — owns the host-wide memory event counters and page gauges behind /proc/vmstat and
// /proc/meminfo: one SharedArrayBuffer of named Int32 slots that every thread (guests, ksmd, the
// host) changes with Atomics.add, as the kernel's vm_event_states and node_page_state are.
//
// Slot names are the kernel's /proc/vmstat names. Events only grow; gauges (nr_*) go up and down.
// The /proc formats are in procfs.ts; what the kernel computes on the fly (nr_free_pages,
// nr_anon_pages, MemFree) is computed there from the frame allocator, not counted here.
// An Int32 slot holds 2^31 events: far more than an emulated run makes (hours at ~10^5 per second).

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

export class Vmstat {
  readonly handles: SharedArrayBuffer;
  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < VMSTAT_SLOTS.length * 4) throw new RangeError(`vmstat buffer of ${buffer.byteLength} bytes is too small for ${VMSTAT_SLOTS.length} slots`);
    this.handles = buffer;
    this.words = new Int32Array(buffer);
  }

  static create(): Vmstat {
    return new Vmstat(new SharedArrayBuffer(WORDS * 4));
  }

  static attach(buffer: SharedArrayBuffer): Vmstat {
    return new Vmstat(buffer);
  }

  /** count_vm_event / mod_node_page_state: add `delta` (default 1) to a slot. */
  add(name: VmstatName, delta = 1): void {
    Atomics.add(this.words, VM[name], delta);
  }

  /** The same by slot index (VM.name), for hot paths. */
  addAt(slot: number, delta = 1): void {
    Atomics.add(this.words, slot, delta);
  }

  get(name: VmstatName): number {
    return Atomics.load(this.words, VM[name]);
  }

  /** Every slot by name (for reports and the density series). */
  snapshot(): Record<VmstatName, number> {
    const out = {} as Record<VmstatName, number>;
    for (let i = 0; i < VMSTAT_SLOTS.length; i++) out[VMSTAT_SLOTS[i]!] = Atomics.load(this.words, i);
    return out;
  }
}
