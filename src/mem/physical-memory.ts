// physical-memory.ts — owns the host's physical memory: 4 KiB frames in SharedArrayBuffer banks,
// split into NUMA nodes, with per-frame metadata and the frame allocator.
//
// Per frame the metadata is 8 bytes (mapcount, flags) plus 1 bit in the free bitmap: 8.125 bytes.

import { BANK_FRAMES, BANK_MASK, BANK_SHIFT, HPAGE_PAGES, PAGE_SHIFT, PAGE_SIZE, ZERO_FRAME } from './constants.ts';
import { FrameAllocator, type FrameAllocatorHandles, type NodeRange } from './frame-allocator.ts';
import { PTE_MAX_FRAMES } from './pte.ts';
import { SwapArea, type SwapAreaHandles } from './swap-area.ts';
import { VM, Vmstat } from './vmstat.ts';

export interface PhysicalMemoryConfig {
  /** Bytes of physical memory; rounded down so each node holds a multiple of 32 frames. */
  readonly bytes: number;
  readonly numaNodes: number;
  /** Swap space in bytes (default none). */
  readonly swapBytes?: number;
}

/** Everything a worker needs to attach to the same physical memory (all shared memory). */
export interface PhysicalMemoryHandles {
  readonly nodes: readonly NodeRange[];
  /**
   * The frames, in banks of up to 1 GiB. Each is a shared WebAssembly.Memory (its buffer a
   * SharedArrayBuffer like any other) so that WebAssembly code, ksmd's page checksum, can read
   * frames in place.
   */
  readonly banks: readonly WebAssembly.Memory[];
  readonly meta: SharedArrayBuffer;
  readonly allocator: FrameAllocatorHandles;
  readonly swap?: SwapAreaHandles;
  /** The host-wide /proc/vmstat counters (vmstat.ts). */
  readonly vmstat: SharedArrayBuffer;
}

export const META_WORDS = 2;
const META_MAPCOUNT = 0;
const META_FLAGS = 1;
// The flags word of a KSM frame holds its stable node's tag (node index + 1) in its low bits; 0 for
// other frames. ksmd checks it, with the mapcount, as the kernel's ksm_get_folio() "keyhole" check.
// Bit 30 (FRAME_SWAPCACHE) says the swap cache holds a reference on the frame (PG_swapcache).
export const FRAME_SWAPCACHE = 1 << 30;
export const FRAME_TAG_MASK = FRAME_SWAPCACHE - 1;

export const MAX_NUMA_NODES = 64;
/** Slots shrinkSwapCache looks at per call at most. */
const SHRINK_SCAN_SLOTS = 512;
const WASM_PAGE_SIZE = 65536;
const MIN_NODE_FRAMES = 64;

export class PhysicalMemory {
  readonly handles: PhysicalMemoryHandles;
  readonly nodes: readonly NodeRange[];
  readonly totalFrames: number;
  readonly allocator: FrameAllocator;
  readonly bankMemories: readonly WebAssembly.Memory[];
  /** Per-bank views; index a frame with bank = f >>> BANK_SHIFT, byte offset = (f & BANK_MASK) << PAGE_SHIFT. */
  readonly bankU8: Uint8Array[];
  readonly bankI32: Int32Array[];
  readonly bankBuf: Buffer[];
  readonly meta: Int32Array;
  /** Swap space, when the host has any. */
  readonly swap: SwapArea | undefined;
  /** Host-wide memory events and gauges (/proc/vmstat), shared by every thread. */
  readonly vmstat: Vmstat;
  /** Where this thread's swap-cache reclaim (shrinkSwapCache) looks next. */
  private swapCacheHand = 0;

  private constructor(handles: PhysicalMemoryHandles, allocator: FrameAllocator) {
    this.handles = handles;
    this.vmstat = Vmstat.attach(handles.vmstat);
    this.swap = handles.swap ? SwapArea.attach(handles.swap, this.vmstat) : undefined;
    this.nodes = handles.nodes;
    this.totalFrames = handles.nodes.reduce((n, r) => Math.max(n, r.firstFrame + r.frameCount), 0);
    this.allocator = allocator;
    this.bankMemories = handles.banks;
    const buffers = handles.banks.map((m) => m.buffer);
    this.bankU8 = buffers.map((b) => new Uint8Array(b));
    this.bankI32 = buffers.map((b) => new Int32Array(b));
    this.bankBuf = buffers.map((b) => Buffer.from(b));
    this.meta = new Int32Array(handles.meta);
  }

  static create(config: PhysicalMemoryConfig): PhysicalMemory {
    const { bytes, numaNodes } = config;
    if (!Number.isInteger(numaNodes) || numaNodes < 1 || numaNodes > MAX_NUMA_NODES) {
      throw new RangeError(`numa nodes must be an integer from 1 to ${MAX_NUMA_NODES}, got ${numaNodes}`);
    }
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`memory size must be a positive byte count, got ${bytes}`);
    const perNode = Math.floor(bytes / PAGE_SIZE / numaNodes / 32) * 32;
    if (perNode < MIN_NODE_FRAMES) {
      throw new RangeError(`memory size ${bytes} is too small: each of ${numaNodes} node(s) needs at least ${MIN_NODE_FRAMES * PAGE_SIZE} bytes`);
    }
    const totalFrames = perNode * numaNodes;
    if (totalFrames > PTE_MAX_FRAMES) {
      throw new RangeError(`memory size ${bytes} exceeds the ${(PTE_MAX_FRAMES * PAGE_SIZE) / 2 ** 30} GiB a page-table entry can address`);
    }
    const nodes: NodeRange[] = [];
    for (let n = 0; n < numaNodes; n++) nodes.push({ firstFrame: n * perNode, frameCount: perNode });
    const banks: WebAssembly.Memory[] = [];
    for (let f = 0; f < totalFrames; f += BANK_FRAMES) {
      // Node sizes are multiples of 32 frames (128 KiB), so banks are whole 64 KiB wasm pages.
      const wasmPages = (Math.min(BANK_FRAMES, totalFrames - f) * PAGE_SIZE) / WASM_PAGE_SIZE;
      banks.push(new WebAssembly.Memory({ initial: wasmPages, maximum: wasmPages, shared: true }));
    }
    const allocator = FrameAllocator.create(nodes, [ZERO_FRAME]);
    const handles: PhysicalMemoryHandles = {
      nodes,
      banks,
      meta: new SharedArrayBuffer(totalFrames * META_WORDS * 4),
      allocator: allocator.handles,
      swap: config.swapBytes ? SwapArea.create(config.swapBytes) : undefined,
      vmstat: Vmstat.create().handles,
    };
    return new PhysicalMemory(handles, allocator);
  }

  static attach(handles: PhysicalMemoryHandles): PhysicalMemory {
    return new PhysicalMemory(handles, FrameAllocator.attach(handles.nodes, handles.allocator));
  }

  get bytes(): number {
    return this.totalFrames * PAGE_SIZE;
  }

  nodeOf(frame: number): number {
    return this.allocator.nodeOf(frame);
  }

  /** Allocate a zero-filled frame on `node`; -1 when the node is full. */
  allocZeroed(node: number): number {
    const f = this.allocUninitialized(node);
    if (f >= 0) this.zeroFrame(f);
    return f;
  }

  /**
   * Allocate a frame whose content the caller overwrites at once (no zeroing). `hints`: the
   * caller's own per-node start hints (FrameAllocator.startHints), as every address space passes.
   */
  allocUninitialized(node: number, hints?: Int32Array): number {
    const f = this.allocator.alloc(node, hints);
    if (f >= 0) {
      this.meta[f * META_WORDS + META_MAPCOUNT] = 0;
      this.meta[f * META_WORDS + META_FLAGS] = 0;
    }
    return f;
  }

  /**
   * Allocate a 2 MiB folio on `node`: 512 contiguous frames, the first a multiple of 512, so they lie
   * in one bank. Returns the first frame, or -1 when the node has no wholly free block.
   */
  allocHugeUninitialized(node: number, hints?: Int32Array): number {
    const f = this.allocator.allocHuge(node, hints);
    if (f >= 0) this.meta.fill(0, f * META_WORDS, (f + HPAGE_PAGES) * META_WORDS);
    return f;
  }

  /** Zero `count` frames from `frame` (one bank: a folio never crosses one). */
  zeroFrames(frame: number, count: number): void {
    const off = (frame & BANK_MASK) << PAGE_SHIFT;
    this.bankU8[frame >>> BANK_SHIFT]!.fill(0, off, off + count * PAGE_SIZE);
  }

  zeroFrame(frame: number): void {
    const off = (frame & BANK_MASK) << PAGE_SHIFT;
    this.bankU8[frame >>> BANK_SHIFT]!.fill(0, off, off + PAGE_SIZE);
  }

  free(frame: number): void {
    if (frame === ZERO_FRAME) throw new Error('freeing the zero page');
    Atomics.store(this.meta, frame * META_WORDS + META_FLAGS, 0);
    this.allocator.free(frame);
  }

  copyFrame(src: number, dst: number): void {
    this.bankBuf[src >>> BANK_SHIFT]!.copy(
      this.bankBuf[dst >>> BANK_SHIFT]!,
      (dst & BANK_MASK) << PAGE_SHIFT,
      (src & BANK_MASK) << PAGE_SHIFT,
      ((src & BANK_MASK) << PAGE_SHIFT) + PAGE_SIZE,
    );
  }

  /** memcmp of two frames: negative, 0 or positive, as the kernel's memcmp_pages orders the trees. */
  compareFrames(a: number, b: number): number {
    const ao = (a & BANK_MASK) << PAGE_SHIFT;
    const bo = (b & BANK_MASK) << PAGE_SHIFT;
    return this.bankBuf[a >>> BANK_SHIFT]!.compare(this.bankBuf[b >>> BANK_SHIFT]!, bo, bo + PAGE_SIZE, ao, ao + PAGE_SIZE);
  }

  /** Take a reference on a KSM frame only if it still has one (folio_try_get): false if it is being freed. */
  tryGetFrame(frame: number): boolean {
    const i = frame * META_WORDS + META_MAPCOUNT;
    let c = Atomics.load(this.meta, i);
    while (c > 0) {
      const seen = Atomics.compareExchange(this.meta, i, c, c + 1);
      if (seen === c) return true;
      c = seen;
    }
    return false;
  }

  /** Drop a reference on a KSM frame; the last one frees it (and returns true). */
  putFrame(frame: number): boolean {
    if (Atomics.sub(this.meta, frame * META_WORDS + META_MAPCOUNT, 1) !== 1) return false;
    this.free(frame);
    return true;
  }

  /**
   * Drop one hold on a swap slot (a PTE's swap entry going away, or a swapper's own hold). The last
   * frees the slot and drops the swap cache's reference on its frame, if it had one.
   */
  putSwapSlot(slot: number): void {
    const cached = this.swap!.putSlot(slot);
    if (cached) this.dropSwapCache(cached);
  }

  /**
   * Take PG_swapcache for `frame` (an atomic test-and-set, as the kernel adds a folio to the swap
   * cache only under its lock and only if it is not there yet): true if this caller may now put the
   * frame in a swap cache (addToSwapCache). False: another thread's swap cache holds it, or is about
   * to (ksmd's reclaim and a guest's page-out can pick the same KSM page at once); then the caller
   * must not cache it, so a frame is never in two slots' caches.
   */
  claimSwapCache(frame: number): boolean {
    return (Atomics.or(this.meta, frame * META_WORDS + META_FLAGS, FRAME_SWAPCACHE) & FRAME_SWAPCACHE) === 0;
  }

  /**
   * Put KSM frame `frame`, whose PG_swapcache the caller claimed, in the swap cache of `slot`, giving
   * the cache the caller's reference (and counting nr_swapcached). See swap-area.ts for the cache
   * word's rules.
   */
  addToSwapCache(slot: number, frame: number): void {
    this.swap!.setCached(slot, frame);
    this.vmstat.addAt(VM.nr_swapcached, 1);
  }

  /**
   * Reclaim from the swap cache: free up to `want` frames that only the swap cache holds (mapcount 1),
   * walking the slots from this thread's hand. Their bytes are on swap already, so a later swap-in
   * reads them back. Returns frames freed.
   * Race: a swap-in may take a reference between our mapcount read and uncache; then either it sees
   * the cache word cleared and puts its reference back (the frame is freed by whichever put is last),
   * or it saw the word first and maps the frame, and our put leaves it mapped. Frames are freed only
   * by the put that takes the mapcount to 0, so neither order frees a mapped frame.
   */
  shrinkSwapCache(want: number): number {
    const swap = this.swap;
    if (!swap || this.vmstat.get('nr_swapcached') <= 0) return 0;
    let freed = 0;
    // A bounded look per call (the hand goes on next time): a fault must not walk a large swap area.
    for (let i = 0; i < Math.min(swap.slots, SHRINK_SCAN_SLOTS) && freed < want; i++) {
      const slot = this.swapCacheHand;
      this.swapCacheHand = slot + 1 === swap.slots ? 0 : slot + 1;
      const f = swap.cached(slot);
      if (f === 0 || this.mapcount(f) !== 1 || !swap.uncache(slot, f)) continue;
      // The cache's reference is ours now (residual leak window 8 in space-inflight.ts's list until the put).
      if (this.dropSwapCache(f)) freed++;
    }
    return freed;
  }

  /** The swap cache let go of `frame` (its slot was freed, or reclaim uncached it): drop its reference. True if that freed it. */
  dropSwapCache(frame: number): boolean {
    this.vmstat.addAt(VM.nr_swapcached, -1);
    this.markSwapCache(frame, false);
    return this.putFrame(frame);
  }

  mapcount(frame: number): number {
    return Atomics.load(this.meta, frame * META_WORDS + META_MAPCOUNT);
  }

  addMapcount(frame: number, delta: number): number {
    return Atomics.add(this.meta, frame * META_WORDS + META_MAPCOUNT, delta) + delta;
  }

  /** Atomics.compareExchange on the mapcount: returns the value seen. */
  compareExchangeMapcount(frame: number, expect: number, value: number): number {
    return Atomics.compareExchange(this.meta, frame * META_WORDS + META_MAPCOUNT, expect, value);
  }

  setMapcount(frame: number, value: number): void {
    Atomics.store(this.meta, frame * META_WORDS + META_MAPCOUNT, value);
  }

  frameFlags(frame: number): number {
    return Atomics.load(this.meta, frame * META_WORDS + META_FLAGS);
  }

  setFrameFlags(frame: number, flags: number): void {
    Atomics.store(this.meta, frame * META_WORDS + META_FLAGS, flags);
  }

  /** The stable node tag of a KSM frame (node index + 1), 0 if none. */
  frameTag(frame: number): number {
    return Atomics.load(this.meta, frame * META_WORDS + META_FLAGS) & FRAME_TAG_MASK;
  }

  /** Set the tag, keeping FRAME_SWAPCACHE (another thread may change that bit meanwhile). */
  setFrameTag(frame: number, tag: number): void {
    const i = frame * META_WORDS + META_FLAGS;
    for (let f = Atomics.load(this.meta, i); ;) {
      const seen = Atomics.compareExchange(this.meta, i, f, (f & FRAME_SWAPCACHE) | tag);
      if (seen === f) return;
      f = seen;
    }
  }

  inSwapCache(frame: number): boolean {
    return (Atomics.load(this.meta, frame * META_WORDS + META_FLAGS) & FRAME_SWAPCACHE) !== 0;
  }

  /** PG_swapcache on or off (the caller holds the reference the swap cache holds or gives up). */
  markSwapCache(frame: number, on: boolean): void {
    const i = frame * META_WORDS + META_FLAGS;
    if (on) Atomics.or(this.meta, i, FRAME_SWAPCACHE);
    else Atomics.and(this.meta, i, ~FRAME_SWAPCACHE);
  }

  freeFrames(node?: number): number {
    if (node !== undefined) return this.allocator.freeFrames(node);
    let n = 0;
    for (let i = 0; i < this.nodes.length; i++) n += this.allocator.freeFrames(i);
    return n;
  }

  /** Frames a node can ever hand out (its size, less the reserved zero page on node 0). */
  usableFrames(node: number): number {
    return this.nodes[node]!.frameCount - (node === this.nodeOf(ZERO_FRAME) ? 1 : 0);
  }

  /** A copy of a frame's bytes (for tests and reports; not a hot path). */
  frameBytes(frame: number): Uint8Array {
    const off = (frame & BANK_MASK) << PAGE_SHIFT;
    return this.bankU8[frame >>> BANK_SHIFT]!.slice(off, off + PAGE_SIZE);
  }
}
