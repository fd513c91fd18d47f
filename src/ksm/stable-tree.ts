// stable-tree.ts — owns the stable tree: KSM pages (nodes) keyed by content checksum, each with the
// list of rmap items that map it, and the chains of duplicate KSM pages max_page_sharing creates.
//
// The kernel keeps an rbtree ordered by memcmp; this is a hash of checksum buckets whose entries are
// confirmed by a full memcmp, which finds an equal KSM page exactly when the rbtree would, in O(1).

import type { RmapItems } from './rmap-items.ts';

export class StableTree {
  capacity = 0;
  frame = new Int32Array(0);
  checksum = new Int32Array(0);
  nid = new Int32Array(0);
  /** Items listed from this node (rmap_hlist_len). */
  count = new Int32Array(0);
  head = new Int32Array(0);
  /** Chain id shared by duplicate KSM pages of the same content, or -1. */
  chain = new Int32Array(0);
  private bnext = new Int32Array(0);
  private live = new Uint8Array(0);
  private buckets = new Int32Array(0);
  private mask = 0;
  private freeHead = -1;
  size = 0;
  private nextChain = 1;
  private chainSizes = new Map<number, number>();
  /** Per chain, the dup merges currently go to (a hint: callers re-check it). */
  private hints = new Map<number, number>();
  private pruneTimes = new Map<number, number>();

  constructor() {
    this.grow(256);
    this.rehash(256);
  }

  get chains(): number {
    return this.chainSizes.size;
  }

  get dups(): number {
    let n = 0;
    for (const v of this.chainSizes.values()) n += v;
    return n;
  }

  /** First node in the bucket of `checksum` (callers then follow nextInBucket and check checksum). */
  first(checksum: number): number {
    return this.buckets[checksum & this.mask]!;
  }

  nextInBucket(i: number): number {
    return this.bnext[i]!;
  }

  isLive(i: number): boolean {
    return this.live[i] === 1;
  }

  insert(frame: number, checksum: number, nid: number): number {
    if (this.freeHead < 0) this.grow(this.capacity * 2);
    if (this.size + 1 > this.buckets.length) this.rehash(this.buckets.length * 2);
    const i = this.freeHead;
    this.freeHead = this.bnext[i]!;
    this.frame[i] = frame;
    this.checksum[i] = checksum;
    this.nid[i] = nid;
    this.count[i] = 0;
    this.head[i] = -1;
    this.chain[i] = -1;
    this.live[i] = 1;
    const b = checksum & this.mask;
    this.bnext[i] = this.buckets[b]!;
    this.buckets[b] = i;
    this.size++;
    return i;
  }

  chainHint(chain: number): number {
    return this.hints.get(chain) ?? -1;
  }

  setChainHint(chain: number, node: number): void {
    this.hints.set(chain, node);
  }

  /** Make `dup` a duplicate of `of` (same content, `of` full): both now belong to one chain. */
  joinChain(dup: number, of: number): void {
    let c = this.chain[of]!;
    if (c < 0) {
      c = this.nextChain++;
      this.chain[of] = c;
      this.chainSizes.set(c, 1);
    }
    this.chain[dup] = c;
    this.chainSizes.set(c, this.chainSizes.get(c)! + 1);
  }

  /** Remove a node whose item list is already empty. */
  remove(i: number): void {
    const b = this.checksum[i]! & this.mask;
    let p = -1;
    let n = this.buckets[b]!;
    while (n !== i) {
      p = n;
      n = this.bnext[n]!;
    }
    if (p < 0) this.buckets[b] = this.bnext[i]!;
    else this.bnext[p] = this.bnext[i]!;
    const c = this.chain[i]!;
    if (c >= 0) {
      const left = this.chainSizes.get(c)! - 1;
      if (left === 0) {
        this.chainSizes.delete(c);
        this.hints.delete(c);
      } else this.chainSizes.set(c, left);
    }
    this.live[i] = 0;
    this.bnext[i] = this.freeHead;
    this.freeHead = i;
    this.size--;
  }

  chainSize(chain: number): number {
    return this.chainSizes.get(chain) ?? 0;
  }

  /** When a chain was last pruned (ms), for stable_node_chains_prune_millisecs. */
  chainPruneTime(chain: number): number {
    return this.pruneTimes.get(chain) ?? 0;
  }

  setChainPruneTime(chain: number, ms: number): void {
    this.pruneTimes.set(chain, ms);
  }

  /** A chain left with one KSM page goes back to being a plain node (node `last`). */
  collapseChain(chain: number, last: number): void {
    if (last >= 0 && this.chain[last] === chain) this.chain[last] = -1;
    this.chainSizes.delete(chain);
    this.hints.delete(chain);
    this.pruneTimes.delete(chain);
  }

  /** Link item `it` into node `i`'s list. */
  addItem(i: number, items: RmapItems, it: number): void {
    const h = this.head[i]!;
    items.next[it] = h;
    items.prev[it] = -1;
    if (h >= 0) items.prev[h] = it;
    this.head[i] = it;
    this.count[i]!++;
  }

  removeItem(i: number, items: RmapItems, it: number): void {
    const p = items.prev[it]!;
    const n = items.next[it]!;
    if (p >= 0) items.next[p] = n;
    else this.head[i] = n;
    if (n >= 0) items.prev[n] = p;
    items.next[it] = -1;
    items.prev[it] = -1;
    this.count[i]!--;
  }

  forEachLive(fn: (i: number) => void): void {
    for (let i = 0; i < this.capacity; i++) if (this.live[i]) fn(i);
  }

  private grow(cap: number): void {
    const old = this.capacity;
    const g = <T extends Int32Array | Uint8Array>(a: T, ctor: new (n: number) => T): T => {
      const n = new ctor(cap);
      n.set(a);
      return n;
    };
    this.frame = g(this.frame, Int32Array);
    this.checksum = g(this.checksum, Int32Array);
    this.nid = g(this.nid, Int32Array);
    this.count = g(this.count, Int32Array);
    this.head = g(this.head, Int32Array);
    this.chain = g(this.chain, Int32Array);
    this.bnext = g(this.bnext, Int32Array);
    this.live = g(this.live, Uint8Array);
    for (let i = cap - 1; i >= old; i--) {
      this.bnext[i] = this.freeHead;
      this.freeHead = i;
    }
    this.capacity = cap;
  }

  private rehash(nb: number): void {
    this.buckets = new Int32Array(nb).fill(-1);
    this.mask = nb - 1;
    for (let i = 0; i < this.capacity; i++) {
      if (!this.live[i]) continue;
      const b = this.checksum[i]! & this.mask;
      this.bnext[i] = this.buckets[b]!;
      this.buckets[b] = i;
    }
  }
}
