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
// slots in use. Why not one word: a thread changes a head PTE and then the count, two Atomics
// operations, and worker.terminate() can land between them; no record can tell the host afterwards
// whether the second one happened (a blind add on a shared word leaves no trace of whose it was). A
// word per guest can simply be dropped with the guest: the host releases a dead guest's pages and
// then retires its slot (SpaceInflight.teardown), whatever the word holds.
//
// Slots are reused, so the limit is HUGE_SLOTS guests mapping huge pages at the same time (not in a
// host's lifetime). Each slot word packs a generation (high 16 bits) and the signed count (low 16
// bits); the guest's CTL_THP_SLOT holds the slot and the generation it claimed (hugeSlotAndGen). An
// add is a compare-and-exchange that lands only while the word still has the adder's generation;
// retiring bumps the generation and zeroes the count in one compare-and-exchange, then frees the
// slot in the in-use bitmap; a claim sets a clear bit there by compare-and-exchange. Races, argued:
//  - A late add vs the retirement (ksmd finishing a split of a dead guest's block): either its
//    exchange lands first (and the retirement's, retried on the value it sees, drops it with the
//    rest), or the generation has moved and the add is dropped. It never lands after.
//  - A late add vs the slot's reuse by another guest: the new guest claimed the slot after the
//    retirement, so its generation is the bumped one; the late adder's is older: dropped. (The
//    generation wraps after 65536 retirements of one slot; a late adder would have to stall inside
//    its few-operation countHuge while the same slot is retired and reclaimed 65536 times — 65536
//    guests launched, mapping a huge page and torn down — to land on the wrong one.)
//  - Two claimers of one slot: the bitmap word's compare-and-exchange lets one set the bit.
//  - A claimed slot's word: its count is 0 and nobody else holds its generation (the retirement
//    zeroed it and bumped the generation before freeing; a claimer that lost the race to publish
//    frees it unpublished, so nobody has seen that generation).
//  - Two claimers for one guest, and a thread killed between claim and publish: see thp.ts countHuge.
import { HPAGE_PAGES } from './constants.ts';
import { PTE_MAX_FRAMES } from './pte.ts';

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

/** Huge-page slots per host: guests mapping huge pages at the same time. Words: HUGE_SLOTS + HUGE_SLOTS / 32 (33 KiB). */
export const HUGE_SLOTS = 8192;
const HUGE_GEN_SHIFT = 16; // slot word: generation << 16 | (count & 0xffff)
const HUGE_GENS = 1 << HUGE_GEN_SHIFT;
const HUGE_COUNT_MIN = -(1 << (HUGE_GEN_SHIFT - 1));
const HUGE_COUNT_MAX = (1 << (HUGE_GEN_SHIFT - 1)) - 1;
/**
 * A guest maps at most PTE_MAX_FRAMES / HPAGE_PAGES huge pages (8192: every frame a PTE can name, in
 * folios). Its count strays from that by at most one per thread between a head's change and its
 * count (and a dead thread's, until teardown or the repair), so half the signed 16-bit range is room.
 */
const MAX_HUGE_PER_GUEST = PTE_MAX_FRAMES / HPAGE_PAGES;
if (MAX_HUGE_PER_GUEST * 2 > HUGE_COUNT_MAX) throw new Error(`a guest's ${MAX_HUGE_PER_GUEST} huge pages do not fit a signed ${HUGE_GEN_SHIFT}-bit count with room to spare`);
const HUGE_USED = WORDS; // HUGE_SLOTS / 32 words: bit set = slot in use
const HUGE_WORD = HUGE_USED + HUGE_SLOTS / 32; // HUGE_SLOTS slot words
const TOTAL_WORDS = HUGE_WORD + HUGE_SLOTS;
const HUGE_GAUGE = 0; // VM.nr_anon_transparent_hugepages: read as the sum of the slots in use

/** CTL_THP_SLOT's value for `slot` claimed at `gen`: a non-negative Int32 (below 2^29). */
export function hugeSlotAndGen(slot: number, gen: number): number {
  return gen * HUGE_SLOTS + slot;
}
/** The slot of a CTL_THP_SLOT value. */
export function hugeSlotOf(slotAndGen: number): number {
  return slotAndGen % HUGE_SLOTS;
}
/** The generation of a CTL_THP_SLOT value. */
export function hugeGenOf(slotAndGen: number): number {
  return Math.floor(slotAndGen / HUGE_SLOTS);
}
function packHuge(gen: number, count: number): number {
  return (gen << HUGE_GEN_SHIFT) | (count & 0xffff);
}
function genOfWord(w: number): number {
  return w >>> HUGE_GEN_SHIFT;
}
function countOfWord(w: number): number {
  return (w << HUGE_GEN_SHIFT) >> HUGE_GEN_SHIFT;
}

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
    if (slot === HUGE_GAUGE) throw new Error('nr_anon_transparent_hugepages is counted per guest: addHuge(slotAndGen, delta) (thp.ts countHuge)');
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

  /**
   * A free huge-page slot, claimed for one guest (thp.ts countHuge, once per guest): its CTL_THP_SLOT
   * value. A linear scan of the in-use bitmap; a lost compare-and-exchange retries on the word seen.
   */
  claimHugeSlot(): number {
    for (let i = 0; i < HUGE_SLOTS / 32; i++) {
      for (;;) {
        const used = Atomics.load(this.words, HUGE_USED + i);
        if (used === -1) break; // all 32 in use
        const bit = 31 - Math.clz32(~used & (used + 1)); // the lowest clear bit
        if (Atomics.compareExchange(this.words, HUGE_USED + i, used, used | (1 << bit)) !== used) continue;
        const slot = i * 32 + bit;
        // Nobody holds this generation (the header says why), so the word is stable: count 0.
        return hugeSlotAndGen(slot, genOfWord(Atomics.load(this.words, HUGE_WORD + slot)));
      }
    }
    throw new RangeError(`no huge-page slot left: ${HUGE_SLOTS} guests of this host map huge pages at once (the limit, HUGE_SLOTS in vmstat.ts)`);
  }

  /** Free a slot claimed and never published (its claimer lost the race for CTL_THP_SLOT). */
  releaseHugeSlot(slotAndGen: number): void {
    const slot = this.checkSlot(slotAndGen);
    const bit = 1 << (slot & 31);
    const was = Atomics.and(this.words, HUGE_USED + (slot >> 5), ~bit);
    if (!(was & bit)) throw new Error(`huge-page slot ${slot} was freed twice`);
  }

  /**
   * One guest's huge pages mapped: +1 for a head PTE that became huge, −1 for one that stopped being.
   * Lands only while the slot still has the claimed generation: false when dropped (a retired one).
   */
  addHuge(slotAndGen: number, delta: number): boolean {
    const slot = this.checkSlot(slotAndGen);
    const gen = hugeGenOf(slotAndGen);
    for (;;) {
      const w = Atomics.load(this.words, HUGE_WORD + slot);
      if (genOfWord(w) !== gen) return false;
      if (!this.inUse(slot) && Atomics.load(this.words, HUGE_WORD + slot) === w) throw new RangeError(`huge-page slot ${slot} (generation ${gen}) is not claimed`);
      const count = countOfWord(w) + delta;
      if (count < HUGE_COUNT_MIN || count > HUGE_COUNT_MAX) throw new RangeError(`huge-page slot ${slot}: a count of ${count} does not fit its ${HUGE_GEN_SHIFT} bits`);
      if (Atomics.compareExchange(this.words, HUGE_WORD + slot, w, packHuge(gen, count)) === w) return true;
    }
  }

  /**
   * The guest's page table is gone: its count stops adding to the host's, whatever it holds, and the
   * slot is free for another guest. One compare-and-exchange bumps the generation and zeroes the
   * count (adds of the old generation are dropped from then on), then the bit is cleared. Retiring
   * a generation that is already retired does nothing (false): the slot may be another guest's now.
   */
  retireHuge(slotAndGen: number): boolean {
    const slot = this.checkSlot(slotAndGen);
    const gen = hugeGenOf(slotAndGen);
    for (;;) {
      const w = Atomics.load(this.words, HUGE_WORD + slot);
      if (genOfWord(w) !== gen) return false;
      if (Atomics.compareExchange(this.words, HUGE_WORD + slot, w, packHuge((gen + 1) % HUGE_GENS, 0)) === w) break;
    }
    Atomics.and(this.words, HUGE_USED + (slot >> 5), ~(1 << (slot & 31)));
    return true;
  }

  /** A guest's own count, as the threads left it (what the repair after a killed ksmd recounts); 0 once retired. */
  hugeOf(slotAndGen: number): number {
    const w = Atomics.load(this.words, HUGE_WORD + this.checkSlot(slotAndGen));
    return genOfWord(w) === hugeGenOf(slotAndGen) ? countOfWord(w) : 0;
  }

  /** nr_anon_transparent_hugepages: the sum over the slots in use. */
  hugePages(): number {
    let n = 0;
    for (let i = 0; i < HUGE_SLOTS / 32; i++) {
      let used = Atomics.load(this.words, HUGE_USED + i);
      while (used !== 0) {
        const bit = 31 - Math.clz32(used & -used);
        used &= used - 1;
        n += countOfWord(Atomics.load(this.words, HUGE_WORD + i * 32 + bit));
      }
    }
    return n;
  }

  /** Huge-page slots in use (claimed and not yet retired or released). */
  hugeSlotsInUse(): number {
    let n = 0;
    for (let i = 0; i < HUGE_SLOTS / 32; i++) {
      for (let used = Atomics.load(this.words, HUGE_USED + i); used !== 0; used &= used - 1) n++;
    }
    return n;
  }

  private inUse(slot: number): boolean {
    return (Atomics.load(this.words, HUGE_USED + (slot >> 5)) & (1 << (slot & 31))) !== 0;
  }

  private checkSlot(slotAndGen: number): number {
    if (!Number.isInteger(slotAndGen) || slotAndGen < 0 || slotAndGen >= HUGE_SLOTS * HUGE_GENS) throw new RangeError(`${slotAndGen} names no huge-page slot and generation (0 to ${HUGE_SLOTS * HUGE_GENS - 1})`);
    return hugeSlotOf(slotAndGen);
  }
}
