// swap-area.ts — owns the host's swap space: 4 KiB slots in one SharedArrayBuffer, allocated with
// the same lock-free bitmap as frames, plus counters of pages swapped out and in.

import { PAGE_SHIFT, PAGE_SIZE } from './constants.ts';
import { FrameAllocator, type FrameAllocatorHandles } from './frame-allocator.ts';

export interface SwapAreaHandles {
  readonly slots: number;
  readonly data: SharedArrayBuffer;
  readonly allocator: FrameAllocatorHandles;
  /** [swapped out, swapped in] totals. */
  readonly stats: SharedArrayBuffer;
}

export class SwapArea {
  readonly handles: SwapAreaHandles;
  readonly slots: number;
  private readonly allocator: FrameAllocator;
  private readonly data: Buffer;
  private readonly stats: Int32Array;

  private constructor(handles: SwapAreaHandles) {
    this.handles = handles;
    this.slots = handles.slots;
    this.allocator = FrameAllocator.attach([{ firstFrame: 0, frameCount: handles.slots }], handles.allocator);
    this.data = Buffer.from(handles.data);
    this.stats = new Int32Array(handles.stats);
  }

  /** A swap area of `bytes` (rounded down to whole 32-slot groups; at least 32 slots). */
  static create(bytes: number): SwapArea {
    const slots = Math.floor(bytes / PAGE_SIZE / 32) * 32;
    if (slots < 32) throw new RangeError(`swap size ${bytes} is too small: at least ${32 * PAGE_SIZE} bytes`);
    const allocator = FrameAllocator.create([{ firstFrame: 0, frameCount: slots }], []);
    return new SwapArea({ slots, data: new SharedArrayBuffer(slots * PAGE_SIZE), allocator: allocator.handles, stats: new SharedArrayBuffer(8) });
  }

  static attach(handles: SwapAreaHandles): SwapArea {
    return new SwapArea(handles);
  }

  freeSlots(): number {
    return this.allocator.freeFrames(0);
  }

  /** A free slot, or -1 when swap is full. */
  alloc(): number {
    return this.allocator.alloc(0);
  }

  free(slot: number): void {
    this.allocator.free(slot);
  }

  /** Copy a frame's bytes (given as its bank Buffer and offset) into a slot. */
  writeSlot(slot: number, bank: Buffer, offset: number): void {
    bank.copy(this.data, slot << PAGE_SHIFT, offset, offset + PAGE_SIZE);
    Atomics.add(this.stats, 0, 1);
  }

  /** Copy a slot back into a frame. */
  readSlot(slot: number, bank: Buffer, offset: number): void {
    this.data.copy(bank, offset, slot << PAGE_SHIFT, (slot << PAGE_SHIFT) + PAGE_SIZE);
    Atomics.add(this.stats, 1, 1);
  }

  swappedOut(): number {
    return Atomics.load(this.stats, 0);
  }

  swappedIn(): number {
    return Atomics.load(this.stats, 1);
  }
}
