// frame-allocator.ts — owns the per-NUMA-node free-frame bitmaps: lock-free allocation and freeing
// from any number of workers at once.
//
// The bitmap is the only record of which frames are free: the free count is counted from it when
// asked (a popcount over the node's words: about 0.2 ms for 16 GiB). A separate counter updated
// after the bit would disagree with the bitmap for good if a worker were terminated between the two.
//
// Why a bitmap and not a free list: a bit is cleared by exactly one successful compare-and-exchange,
// so two workers can never get the same frame, and there is no ABA problem (a Treiber stack in
// 32-bit words would need a tag). A worker killed between allocating and mapping leaks at most that
// frame, which a recount finds. A set bit means "free".
//
// Where a search starts: every caller used to start at, and store back, one shared hint word per
// node, so concurrent first-touch faults of different guests all wrote the same cache line and
// raced for the same bitmap word (issue 11, finding 8). An address space now keeps its own start
// hint per node (a thread-local Int32Array from startHints), spread over the node by a hash of its
// pid and aligned to a 64-byte line of the bitmap, so guests allocate from different lines. The
// shared word remains for callers without their own (ksmd's run=2 copies, swap slots).

export interface NodeRange {
  readonly firstFrame: number;
  readonly frameCount: number;
}

/** Per-node words in the node-state array, one 64-byte line per node so nodes don't share lines. */
export const NODE_STATE_STRIDE = 16;
const NS_HINT = 1; // word index where the last allocation succeeded
const NS_ALLOC_FAILS = 2; // allocations refused for lack of frames
/** Bitmap words per 2 MiB folio (512 frames). */
const HUGE_WORDS = 16;

export interface FrameAllocatorHandles {
  readonly bitmap: SharedArrayBuffer;
  readonly nodeState: SharedArrayBuffer;
}

export class FrameAllocator {
  readonly nodes: readonly NodeRange[];
  readonly handles: FrameAllocatorHandles;
  private readonly bits: Int32Array;
  private readonly state: Int32Array;

  private constructor(nodes: readonly NodeRange[], handles: FrameAllocatorHandles) {
    this.nodes = nodes;
    this.handles = handles;
    this.bits = new Int32Array(handles.bitmap);
    this.state = new Int32Array(handles.nodeState);
  }

  /** Fresh allocator with every frame free except those listed in `reserved` (the zero page). */
  static create(nodes: readonly NodeRange[], reserved: readonly number[]): FrameAllocator {
    for (const r of nodes) {
      if (r.firstFrame % 32 || r.frameCount % 32) throw new RangeError('node ranges must be multiples of 32 frames');
    }
    const totalFrames = nodes.reduce((n, r) => Math.max(n, r.firstFrame + r.frameCount), 0);
    const handles: FrameAllocatorHandles = {
      bitmap: new SharedArrayBuffer(Math.ceil(totalFrames / 32) * 4),
      nodeState: new SharedArrayBuffer(nodes.length * NODE_STATE_STRIDE * 4),
    };
    const a = new FrameAllocator(nodes, handles);
    nodes.forEach((r, node) => {
      for (let f = r.firstFrame; f < r.firstFrame + r.frameCount; f++) a.bits[f >>> 5] |= 1 << (f & 31);
      a.state[node * NODE_STATE_STRIDE + NS_HINT] = r.firstFrame >>> 5;
    });
    for (const f of reserved) {
      a.bits[f >>> 5] &= ~(1 << (f & 31));
    }
    return a;
  }

  static attach(nodes: readonly NodeRange[], handles: FrameAllocatorHandles): FrameAllocator {
    return new FrameAllocator(nodes, handles);
  }

  nodeOf(frame: number): number {
    const nodes = this.nodes;
    for (let n = 0; n < nodes.length; n++) {
      const r = nodes[n]!;
      if (frame >= r.firstFrame && frame < r.firstFrame + r.frameCount) return n;
    }
    throw new RangeError(`frame ${frame} is on no node`);
  }

  freeFrames(node: number): number {
    const r = this.nodes[node];
    if (!r) throw new RangeError(`no NUMA node ${node}`);
    // Plain reads: a snapshot, as any count of a pool others allocate from concurrently is.
    const bits = this.bits;
    let n = 0;
    for (let w = r.firstFrame >>> 5, end = (r.firstFrame + r.frameCount) >>> 5; w < end; w++) {
      let x = bits[w]! >>> 0;
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      n += (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
    }
    return n;
  }

  allocationFailures(node: number): number {
    return Atomics.load(this.state, node * NODE_STATE_STRIDE + NS_ALLOC_FAILS);
  }

  /**
   * Per-node start hints for one allocating thread (an address space): word indexes spread over
   * each node by `seed`, each at the start of a 16-word (64-byte) line of the bitmap.
   */
  startHints(seed: number): Int32Array {
    const hints = new Int32Array(this.nodes.length);
    const h = Math.imul(seed + 1, 0x9e3779b1) >>> 0;
    this.nodes.forEach((r, node) => {
      const firstWord = r.firstFrame >>> 5;
      const lines = Math.max(1, Math.floor((r.frameCount >>> 5) / 16));
      hints[node] = firstWord + ((h + node) % lines) * 16;
    });
    return hints;
  }

  /**
   * Take one free frame of `node`; -1 when the node has none. The search starts at `hints[node]`
   * and leaves it where it succeeded (the caller's own hints: see startHints), or at the node's
   * shared hint word without them.
   */
  alloc(node: number, hints?: Int32Array): number {
    const r = this.nodes[node];
    if (!r) throw new RangeError(`no NUMA node ${node}`);
    // Node ranges are whole bitmap words (PhysicalMemory sizes them so), so no word is shared.
    const st = node * NODE_STATE_STRIDE;
    const bits = this.bits;
    const firstWord = r.firstFrame >>> 5;
    const endWord = (r.firstFrame + r.frameCount) >>> 5;
    const span = endWord - firstWord;
    let w = hints ? hints[node]! : Atomics.load(this.state, st + NS_HINT);
    if (w < firstWord || w >= endWord) w = firstWord;
    for (let i = 0; i < span; i++) {
      let word = Atomics.load(bits, w);
      while (word !== 0) {
        const low = word & -word;
        const bit = 31 - Math.clz32(low);
        const frame = (w << 5) + bit;
        const seen = Atomics.compareExchange(bits, w, word, word & ~low);
        if (seen === word) {
          if (hints) hints[node] = w;
          else Atomics.store(this.state, st + NS_HINT, w);
          return frame;
        }
        word = seen;
      }
      w++;
      if (w === endWord) w = firstWord;
    }
    Atomics.add(this.state, st + NS_ALLOC_FAILS, 1);
    return -1;
  }

  /**
   * Take 512 contiguous free frames of `node`, the first a multiple of 512 (a 2 MiB folio: 16 whole
   * bitmap words); -1 when no such block is wholly free (no compaction: the caller falls back to
   * 4 KiB pages). Claims the 16 words one by one, each by compare-and-exchange from all-free to 0;
   * if another allocator takes a frame of the block first, the words claimed so far are given back
   * (they were ours alone: no one frees a frame it does not hold). A worker killed while claiming
   * leaks the words it had claimed (one window, like a single frame's: a recount finds them).
   */
  allocHuge(node: number, hints?: Int32Array): number {
    const r = this.nodes[node];
    if (!r) throw new RangeError(`no NUMA node ${node}`);
    const bits = this.bits;
    const firstGroup = Math.ceil((r.firstFrame >>> 5) / HUGE_WORDS) * HUGE_WORDS;
    const endGroup = Math.floor(((r.firstFrame + r.frameCount) >>> 5) / HUGE_WORDS) * HUGE_WORDS;
    if (endGroup <= firstGroup) return -1;
    const groups = (endGroup - firstGroup) / HUGE_WORDS;
    let w = hints ? hints[node]! : Atomics.load(this.state, node * NODE_STATE_STRIDE + NS_HINT);
    w = w < firstGroup || w >= endGroup ? firstGroup : w - ((w - firstGroup) % HUGE_WORDS);
    for (let g = 0; g < groups; g++) {
      let free = true;
      for (let i = 0; i < HUGE_WORDS && free; i++) free = Atomics.load(bits, w + i) === -1;
      if (free) {
        let claimed = 0;
        while (claimed < HUGE_WORDS && Atomics.compareExchange(bits, w + claimed, -1, 0) === -1) claimed++;
        if (claimed === HUGE_WORDS) return w << 5;
        for (let i = 0; i < claimed; i++) Atomics.store(bits, w + i, -1);
      }
      w += HUGE_WORDS;
      if (w >= endGroup) w = firstGroup;
    }
    return -1;
  }

  /** Return a frame. Freeing a frame that is already free is a protocol bug and throws. */
  free(frame: number): void {
    const bit = 1 << (frame & 31);
    const old = Atomics.or(this.bits, frame >>> 5, bit);
    if (old & bit) throw new Error(`double free of frame ${frame}`);
  }

  isFree(frame: number): boolean {
    return (Atomics.load(this.bits, frame >>> 5) & (1 << (frame & 31))) !== 0;
  }
}
