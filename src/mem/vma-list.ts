// vma-list.ts — owns a guest's list of virtual memory areas: lookup, gap search, split and merge,
// and the mirror of the list into the shared VMA table that ksmd reads (seqlock writer side).

import {
  readVmaTable, CTL_MERGEABLE_VMAS, CTL_VMA_COUNT, CTL_VMA_SEQ, MAX_VMAS, VM_MERGEABLE, VMA_FLAGS, VMA_NODE, VMA_PAGES,
  VMA_START, VMA_WORDS,
} from './guest-control.ts';
import { ErrnoError } from './errno.ts';

export interface Vma {
  start: number; // first page
  end: number; // one past the last page
  flags: number; // VM_* bits
  node: number; // bound node or -1
}

export class VmaList {
  private vmas: Vma[] = [];
  /** A copy of what the shared table holds: publish() falls back to it when a change would not fit. */
  private published: Vma[] = [];
  private readonly ctl: Int32Array;
  private readonly table: Int32Array;

  constructor(ctl: Int32Array, table: Int32Array) {
    this.ctl = ctl;
    this.table = table;
  }

  /** Rebuild the local list from the shared table (the host taking over a dead guest's memory). */
  loadFromShared(): void {
    this.vmas = readVmaTable(this.ctl, this.table, 0, []).map((v) => ({ start: v.start, end: v.start + v.pages, flags: v.flags, node: v.node }));
    this.published = this.vmas.map((m) => ({ ...m }));
  }

  get all(): readonly Vma[] {
    return this.vmas;
  }

  /** The VMA holding `page`, or undefined. Binary search: VMAs are sorted and disjoint. */
  find(page: number): Vma | undefined {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = v[mid]!;
      if (page < m.start) hi = mid - 1;
      else if (page >= m.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /** First gap of `pages` pages at or above `minPage` and below `limit`; -1 if none. */
  findGap(pages: number, minPage: number, limit: number): number {
    let cursor = minPage;
    for (const m of this.vmas) {
      if (m.end <= cursor) continue;
      if (m.start - cursor >= pages) return cursor;
      cursor = Math.max(cursor, m.end);
    }
    return limit - cursor >= pages ? cursor : -1;
  }

  /** True when every page of [start, end) lies in some VMA. */
  covers(start: number, end: number): boolean {
    let cursor = start;
    for (const m of this.vmas) {
      if (m.end <= cursor) continue;
      if (m.start > cursor) return false;
      cursor = m.end;
      if (cursor >= end) return true;
    }
    return cursor >= end;
  }

  /** Would splitting at start and end exceed MAX_VMAS? */
  wouldOverflow(extra: number): boolean {
    return this.vmas.length + extra > MAX_VMAS;
  }

  /** How many VMAs are left after removing [start, end) (a hole punched in one VMA splits it in two). */
  countAfterRemoving(start: number, end: number): number {
    let n = 0;
    for (const m of this.vmas) {
      if (m.end <= start || m.start >= end) n++;
      else n += (m.start < start ? 1 : 0) + (m.end > end ? 1 : 0);
    }
    return n;
  }

  insert(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }

  /**
   * Split VMAs so that `start` and `end` fall on VMA boundaries, then return the VMAs inside
   * [start, end) in order. Callers change their fields, then call publish() (which re-merges).
   */
  splitRange(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    const next: Vma[] = [];
    for (const m of this.vmas) {
      if (m.end <= start || m.start >= end) {
        next.push(m);
        continue;
      }
      if (m.start < start) next.push({ ...m, end: start });
      const inner: Vma = { ...m, start: Math.max(m.start, start), end: Math.min(m.end, end) };
      next.push(inner);
      out.push(inner);
      if (m.end > end) next.push({ ...m, start: end });
    }
    this.vmas = next;
    return out;
  }

  /** Remove [start, end) from the list (munmap). */
  removeRange(start: number, end: number): void {
    this.splitRange(start, end);
    this.vmas = this.vmas.filter((m) => m.end <= start || m.start >= end);
  }

  /**
   * Merge neighbours with equal attributes, as vma_merge does, and mirror into shared memory.
   * If the result has more than MAX_VMAS areas (splits beyond vm.max_map_count), the list goes back
   * to what was last published and this throws ENOMEM: the shared table must never overflow (a
   * throw half-way through would also leave the seqlock odd, and every reader would spin forever).
   */
  publish(syscall = 'mmap'): void {
    const merged: Vma[] = [];
    for (const m of this.vmas) {
      const last = merged[merged.length - 1];
      if (last && last.end === m.start && last.flags === m.flags && last.node === m.node) last.end = m.end;
      else merged.push(m);
    }
    if (merged.length > MAX_VMAS) {
      this.vmas = this.published.map((m) => ({ ...m }));
      throw new ErrnoError('ENOMEM', syscall, `more than ${MAX_VMAS} mappings`);
    }
    this.vmas = merged;
    this.published = merged.map((m) => ({ ...m }));
    const ctl = this.ctl;
    const t = this.table;
    Atomics.add(ctl, CTL_VMA_SEQ, 1); // odd: readers retry
    let mergeable = 0;
    merged.forEach((m, i) => {
      const b = i * VMA_WORDS;
      Atomics.store(t, b + VMA_START, m.start);
      Atomics.store(t, b + VMA_PAGES, m.end - m.start);
      Atomics.store(t, b + VMA_FLAGS, m.flags);
      Atomics.store(t, b + VMA_NODE, m.node);
      if (m.flags & VM_MERGEABLE) mergeable++;
    });
    Atomics.store(ctl, CTL_VMA_COUNT, merged.length);
    Atomics.store(ctl, CTL_MERGEABLE_VMAS, mergeable);
    Atomics.add(ctl, CTL_VMA_SEQ, 1); // even again
  }
}
