// mapping-table.ts — owns the linux backend's record of the mappings a guest made: address ranges,
// protections and the external ArrayBuffer each one is reached through, and which kernel mappings
// in a range belong to someone else (the Node runtime), from /proc/self/maps.

import { readFileSync } from 'node:fs';
import { PAGE_SIZE, PROT_NONE, PROT_WRITE } from '../../mem/constants.ts';

/** One mmap call's region: the ArrayBuffer stays valid until every piece of it is unmapped. */
export interface MappingBuffer {
  readonly base: number;
  readonly bytes: Uint8Array;
  pieces: number;
}

/** A run of pages with one protection, inside one MappingBuffer. Addresses in bytes, page-aligned. */
export interface Mapping {
  start: number;
  end: number;
  prot: number;
  readonly shared: boolean;
  readonly buffer: MappingBuffer;
}

/** Bytes [offset, offset+length) of one mapping's buffer, part of a read or a write. */
export interface ByteRun {
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly length: number;
}

export class MappingTable {
  private list: Mapping[] = [];

  get all(): readonly Mapping[] {
    return this.list;
  }

  add(address: number, length: number, prot: number, shared: boolean, buffer: ArrayBuffer): void {
    const buf: MappingBuffer = { base: address, bytes: new Uint8Array(buffer), pieces: 1 };
    const m: Mapping = { start: address, end: address + length, prot, shared, buffer: buf };
    const i = this.list.findIndex((x) => x.start > address);
    if (i < 0) this.list.push(m);
    else this.list.splice(i, 0, m);
  }

  /** The pieces overlapping [start, end), split at the range's edges so each lies wholly inside it. */
  split(start: number, end: number): Mapping[] {
    const out: Mapping[] = [];
    const next: Mapping[] = [];
    for (const m of this.list) {
      if (m.end <= start || m.start >= end) {
        next.push(m);
        continue;
      }
      if (m.start < start) next.push(this.piece(m, m.start, start));
      const inside = this.piece(m, Math.max(m.start, start), Math.min(m.end, end));
      next.push(inside);
      out.push(inside);
      if (m.end > end) next.push(this.piece(m, end, m.end));
      m.buffer.pieces--; // m itself is replaced by its pieces
    }
    this.list = next;
    return out;
  }

  /** Forget [start, end); returns the ArrayBuffers no piece refers to any more (to detach). */
  remove(start: number, end: number): MappingBuffer[] {
    const gone = this.split(start, end);
    this.list = this.list.filter((m) => !gone.includes(m));
    const freed: MappingBuffer[] = [];
    for (const m of gone) if (--m.buffer.pieces === 0) freed.push(m.buffer);
    return freed;
  }

  /** The leading pieces of [start, end) that follow each other without a hole from `start`. */
  contiguousFrom(start: number, end: number): Mapping[] {
    const out: Mapping[] = [];
    let cursor = start;
    for (let i = this.firstEndingAfter(start); i < this.list.length; i++) {
      const m = this.list[i];
      if (m.start > cursor || cursor >= end) break;
      out.push(m);
      cursor = m.end;
    }
    return out;
  }

  /** [start, end) of every piece overlapping the range, clipped to it, without splitting the table. */
  overlapping(start: number, end: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = this.firstEndingAfter(start); i < this.list.length && this.list[i].start < end; i++) {
      out.push([Math.max(this.list[i].start, start), Math.min(this.list[i].end, end)]);
    }
    return out;
  }

  /** True when [start, end) is mapped by this table with no hole. */
  covers(start: number, end: number): boolean {
    const run = this.contiguousFrom(start, end);
    return run.length > 0 && run[run.length - 1].end >= end;
  }

  /**
   * Check that [addr, addr+length) is reachable for a read or a write and return the byte runs to
   * copy; undefined means EFAULT (a hole, PROT_NONE, or a write to a mapping without PROT_WRITE).
   */
  access(addr: number, length: number, forWrite: boolean): ByteRun[] | undefined {
    const end = addr + length;
    const out: ByteRun[] = [];
    let cursor = addr;
    for (let i = this.firstEndingAfter(addr); i < this.list.length; i++) {
      const m = this.list[i];
      if (m.start > cursor || cursor >= end) break;
      if (forWrite ? !(m.prot & PROT_WRITE) : m.prot === PROT_NONE) return undefined;
      const stop = Math.min(m.end, end);
      out.push({ bytes: m.buffer.bytes, offset: cursor - m.buffer.base, length: stop - cursor });
      cursor = stop;
    }
    return cursor >= end ? out : undefined;
  }

  /**
   * True when some kernel mapping inside [start, end) is not one of ours (the Node runtime's).
   * Kernel VMAs may merge ours with a neighbour, so this compares addresses, not VMA boundaries.
   */
  hasForeignIn(start: number, end: number): boolean {
    for (const [s, e] of kernelMappings()) {
      const lo = Math.max(s, start);
      const hi = Math.min(e, end);
      if (lo >= hi) continue;
      let cursor = lo;
      for (const m of this.contiguousFrom(lo, hi)) cursor = m.end;
      if (cursor < hi) return true;
    }
    return false;
  }

  /** Index of the first piece whose end lies above `addr` (binary search: pieces are sorted, disjoint). */
  private firstEndingAfter(addr: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private piece(m: Mapping, start: number, end: number): Mapping {
    m.buffer.pieces++;
    return { start, end, prot: m.prot, shared: m.shared, buffer: m.buffer };
  }
}

/** [start, end) of every mapping of this process, from /proc/self/maps. */
function kernelMappings(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) out.push([parseInt(m[1], 16), parseInt(m[2], 16)]);
  }
  return out;
}

export function pageAlignUp(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}
