// unstable-tree.ts — owns the unstable tree: rmap items of pages whose checksum held still for a
// full scan, keyed by checksum, emptied at the start of every full scan (as the kernel resets its
// root). Entries are not write-protected, so every match is re-checked after write-protection.

import type { RmapItems } from './rmap-items.ts';

export class UnstableTree {
  private buckets = new Int32Array(1024).fill(-1);
  private mask = 1023;
  size = 0;

  /** Forget everything (start of a full scan). */
  reset(expectedItems: number): void {
    let nb = 1024;
    while (nb < expectedItems) nb <<= 1;
    if (nb !== this.buckets.length) {
      this.buckets = new Int32Array(nb);
      this.mask = nb - 1;
    }
    this.buckets.fill(-1);
    this.size = 0;
  }

  first(checksum: number): number {
    return this.buckets[checksum & this.mask]!;
  }

  insert(items: RmapItems, it: number): void {
    const b = items.checksum[it]! & this.mask;
    items.next[it] = this.buckets[b]!;
    this.buckets[b] = it;
    this.size++;
  }

  /** Unlink `it` from its bucket (a merge took it out, or the page went away). */
  remove(items: RmapItems, it: number): void {
    const b = items.checksum[it]! & this.mask;
    let p = -1;
    let n = this.buckets[b]!;
    while (n >= 0 && n !== it) {
      p = n;
      n = items.next[n]!;
    }
    if (n < 0) return; // already dropped by a reset
    if (p < 0) this.buckets[b] = items.next[it]!;
    else items.next[p] = items.next[it]!;
    items.next[it] = -1;
    this.size--;
  }
}
