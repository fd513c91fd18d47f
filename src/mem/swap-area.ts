// swap-area.ts — owns the host's swap space: 4 KiB slots in one SharedArrayBuffer, allocated with
// the same lock-free bitmap as frames; per slot its swap count (the kernel's swap_map: how many PTEs
// and holders name it) and its swap-cache frame; pswpin/pswpout in the host's vmstat.
//
// Slot lifetime: alloc() hands out a slot with count 1 (the caller's hold); every PTE that takes the
// swap entry holds one count (getSlot before its compare-and-exchange, so the count never reaches 0
// while a PTE may still name the slot); the put that takes the count to 0 frees the slot and returns
// its swap-cache frame, whose reference the caller then drops (PhysicalMemory.putSwapSlot).
// The swap-cache word goes 0 → frame once, set by the swapper before any PTE holds the slot, and
// back to 0 once (uncache or the final put): while a PTE holds the slot, the word never names a
// frame it did not name at swap-out (the slot cannot be freed and reused meanwhile), which is what
// lets a swap-in trust a frame it found there after taking a reference (space-swap.ts).

import { PAGE_SHIFT, PAGE_SIZE } from './constants.ts';
import { FrameAllocator, type FrameAllocatorHandles } from './frame-allocator.ts';
import { VM, type Vmstat } from './vmstat.ts';

export interface SwapAreaHandles {
  readonly slots: number;
  readonly data: SharedArrayBuffer;
  readonly allocator: FrameAllocatorHandles;
  /** SLOT_WORDS Int32 per slot: swap count, swap-cache frame (0: none), flags. */
  readonly meta: SharedArrayBuffer;
}

const SLOT_WORDS = 4;
const SLOT_COUNT = 0;
const SLOT_CACHE = 1;
const SLOT_FLAGS = 2;
/** The slot holds a KSM page swapped out of every mapping (its swap-in from disk breaks sharing). */
export const SLOT_KSM = 1;
/** A swap-in from disk of a SLOT_KSM slot has happened: later ones are ksm_swpin_copy. */
export const SLOT_KSM_TAKEN = 2;

export class SwapArea {
  readonly handles: SwapAreaHandles;
  readonly slots: number;
  private readonly allocator: FrameAllocator;
  private readonly data: Buffer;
  private readonly meta: Int32Array;
  private readonly vmstat: Vmstat;

  private constructor(handles: SwapAreaHandles, vmstat: Vmstat) {
    this.handles = handles;
    this.slots = handles.slots;
    this.allocator = FrameAllocator.attach([{ firstFrame: 0, frameCount: handles.slots }], handles.allocator);
    this.data = Buffer.from(handles.data);
    this.meta = new Int32Array(handles.meta);
    this.vmstat = vmstat;
  }

  /** The handles of a swap area of `bytes` (rounded down to whole 32-slot groups; at least 32 slots). */
  static create(bytes: number): SwapAreaHandles {
    const slots = Math.floor(bytes / PAGE_SIZE / 32) * 32;
    if (slots < 32) throw new RangeError(`swap size ${bytes} is too small: at least ${32 * PAGE_SIZE} bytes`);
    const allocator = FrameAllocator.create([{ firstFrame: 0, frameCount: slots }], []);
    return { slots, data: new SharedArrayBuffer(slots * PAGE_SIZE), allocator: allocator.handles, meta: new SharedArrayBuffer(slots * SLOT_WORDS * 4) };
  }

  static attach(handles: SwapAreaHandles, vmstat: Vmstat): SwapArea {
    return new SwapArea(handles, vmstat);
  }

  isFree(slot: number): boolean {
    return this.allocator.isFree(slot);
  }

  freeSlots(): number {
    return this.allocator.freeFrames(0);
  }

  /** A free slot holding one count (the caller's), or -1 when swap is full. */
  alloc(): number {
    const slot = this.allocator.alloc(0);
    if (slot >= 0) {
      const m = slot * SLOT_WORDS;
      Atomics.store(this.meta, m + SLOT_FLAGS, 0);
      Atomics.store(this.meta, m + SLOT_CACHE, 0);
      Atomics.store(this.meta, m + SLOT_COUNT, 1);
    }
    return slot;
  }

  /** swap_duplicate: one more holder (a PTE about to take the entry); the caller already holds one. */
  getSlot(slot: number): void {
    Atomics.add(this.meta, slot * SLOT_WORDS + SLOT_COUNT, 1);
  }

  /**
   * Drop one hold. The last frees the slot and returns its swap-cache frame (0 if none), whose
   * reference the caller must drop; otherwise returns 0.
   */
  putSlot(slot: number): number {
    const m = slot * SLOT_WORDS;
    const left = Atomics.sub(this.meta, m + SLOT_COUNT, 1) - 1;
    if (left > 0) return 0;
    if (left < 0) throw new Error(`swap slot ${slot}: count below zero`);
    const cached = Atomics.exchange(this.meta, m + SLOT_CACHE, 0);
    Atomics.store(this.meta, m + SLOT_FLAGS, 0);
    this.allocator.free(slot);
    return cached;
  }

  /** Set a slot's count outright: only the stop-the-world repair after a dead ksmd (src/stress/recount.ts). */
  setCount(slot: number, n: number): void {
    Atomics.store(this.meta, slot * SLOT_WORDS + SLOT_COUNT, n);
  }

  count(slot: number): number {
    return Atomics.load(this.meta, slot * SLOT_WORDS + SLOT_COUNT);
  }

  /** The frame in the swap cache for `slot`, or 0. */
  cached(slot: number): number {
    return Atomics.load(this.meta, slot * SLOT_WORDS + SLOT_CACHE);
  }

  /** Put `frame` (whose reference the cache now holds) in the swap cache of a fresh slot. */
  setCached(slot: number, frame: number): void {
    Atomics.store(this.meta, slot * SLOT_WORDS + SLOT_CACHE, frame);
  }

  /** Take `frame` out of the swap cache if it is still there: true if this call did (and now owns the cache's reference). */
  uncache(slot: number, frame: number): boolean {
    return Atomics.compareExchange(this.meta, slot * SLOT_WORDS + SLOT_CACHE, frame, 0) === frame;
  }

  flags(slot: number): number {
    return Atomics.load(this.meta, slot * SLOT_WORDS + SLOT_FLAGS);
  }

  /** Atomics.or on the slot's flags: returns the flags before. */
  orFlags(slot: number, bits: number): number {
    return Atomics.or(this.meta, slot * SLOT_WORDS + SLOT_FLAGS, bits);
  }

  /** Copy a frame's bytes (given as its bank Buffer and offset) into a slot: one pswpout. */
  writeSlot(slot: number, bank: Buffer, offset: number): void {
    bank.copy(this.data, slot << PAGE_SHIFT, offset, offset + PAGE_SIZE);
    this.vmstat.addAt(VM.pswpout);
  }

  /**
   * Copy a slot back into a frame: one pswpin, unless `io` is false (a copy of a page another mapper
   * already read in, which the kernel takes from the swap cache).
   */
  readSlot(slot: number, bank: Buffer, offset: number, io = true): void {
    this.data.copy(bank, offset, slot << PAGE_SHIFT, (slot << PAGE_SHIFT) + PAGE_SIZE);
    if (io) this.vmstat.addAt(VM.pswpin);
  }

  swappedOut(): number {
    return this.vmstat.get('pswpout');
  }

  swappedIn(): number {
    return this.vmstat.get('pswpin');
  }
}
