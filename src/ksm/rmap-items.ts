// rmap-items.ts — owns ksmd's reverse-map items: one per scanned (guest, virtual page), kept in a
// pool of typed arrays (no object per page), with a per-guest chunked index from page to item.

const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;

export const ITEM_NONE = 0;
export const ITEM_UNSTABLE = 1;
export const ITEM_STABLE = 2;

export class RmapItems {
  capacity = 0;
  guest = new Int32Array(0);
  vpage = new Int32Array(0);
  checksum = new Int32Array(0);
  state = new Uint8Array(0);
  /** Stable node index (when stable). */
  node = new Int32Array(0);
  /** Full-scan number the item was inserted into the unstable tree in, or last visited. */
  seq = new Int32Array(0);
  visited = new Int32Array(0);
  age = new Uint8Array(0);
  skips = new Uint8Array(0);
  /** Next item in an unstable-tree bucket, or in a stable node's list. */
  next = new Int32Array(0);
  prev = new Int32Array(0);
  /** Freed items, linked through `next`. */
  private freeHead = -1;
  /** Items from here to capacity were never handed out (so growing needs no free-list loop). */
  private top = 0;
  live = 0;

  constructor(initial = 1024) {
    this.grow(initial);
  }

  alloc(guest: number, vpage: number): number {
    let i = this.freeHead;
    if (i >= 0) this.freeHead = this.next[i]!;
    else {
      if (this.top === this.capacity) this.grow(this.capacity * 2);
      i = this.top++;
    }
    this.guest[i] = guest;
    this.vpage[i] = vpage;
    this.checksum[i] = 0;
    this.state[i] = ITEM_NONE;
    this.node[i] = -1;
    this.seq[i] = -1;
    this.visited[i] = -1;
    this.age[i] = 0;
    this.skips[i] = 0;
    this.next[i] = -1;
    this.prev[i] = -1;
    this.live++;
    return i;
  }

  free(i: number): void {
    this.guest[i] = -1;
    this.next[i] = this.freeHead;
    this.freeHead = i;
    this.live--;
  }

  private grow(cap: number): void {
    const old = this.capacity;
    const g = <T extends Int32Array | Uint8Array>(a: T, ctor: new (n: number) => T): T => {
      const n = new ctor(cap);
      n.set(a);
      return n;
    };
    this.guest = g(this.guest, Int32Array);
    this.vpage = g(this.vpage, Int32Array);
    this.checksum = g(this.checksum, Int32Array);
    this.state = g(this.state, Uint8Array);
    this.node = g(this.node, Int32Array);
    this.seq = g(this.seq, Int32Array);
    this.visited = g(this.visited, Int32Array);
    this.age = g(this.age, Uint8Array);
    this.skips = g(this.skips, Uint8Array);
    this.next = g(this.next, Int32Array);
    this.prev = g(this.prev, Int32Array);
    this.guest.fill(-1, old);
    this.capacity = cap;
  }
}

/** One guest's page → item index, in 4096-page chunks allocated on first use. */
export class PageIndex {
  private chunks: (Int32Array | undefined)[] = [];

  get(vpage: number): number {
    const c = this.chunks[vpage >>> CHUNK_SHIFT];
    return c ? c[vpage & (CHUNK - 1)]! : -1;
  }

  set(vpage: number, item: number): void {
    const ci = vpage >>> CHUNK_SHIFT;
    let c = this.chunks[ci];
    if (!c) {
      c = new Int32Array(CHUNK).fill(-1);
      this.chunks[ci] = c;
    }
    c[vpage & (CHUNK - 1)] = item;
  }

  /** Call `fn` for every item (in page order). */
  forEach(fn: (item: number, vpage: number) => void): void {
    this.chunks.forEach((c, ci) => {
      if (!c) return;
      for (let j = 0; j < CHUNK; j++) if (c[j]! >= 0) fn(c[j]!, (ci << CHUNK_SHIFT) + j);
    });
  }
}
