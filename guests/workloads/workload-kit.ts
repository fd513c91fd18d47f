// workload-kit.ts — owns what the workload guests have in common: deterministic page content
// (a 32-bit hash of the content's identity seeds an xorshift32 stream; no Math.random), writing
// regions of pages, the mmap → fill → MADV_MERGEABLE → READY sequence, and the steady-state loop
// (page rewriters at a rate, sleeping between steps so a guest never spins a core).

import { MADV_MERGEABLE, PROT_READ, type GuestSys } from '../../src/guest/index.ts';
import type { CommonArgs } from '../../src/workloads/workload-args.ts';

export const PAGE = 4096;
const WORDS = PAGE / 4;

/** Which kind of content a page holds: part of its identity, so kinds never collide. */
export const KIND = {
  imageCommon: 0x11, imageVersion: 0x12, pageCache: 0x13,
  private: 0x21, code: 0x22, heap: 0x23, buffer: 0x24,
  dbShared: 0x31, dbRow: 0x32,
  classData: 0x41, strings: 0x42, objects: 0x43,
  random: 0x51, volatile: 0x61,
} as const;

/** murmur3's finaliser over a list of 32-bit parts: a well-mixed 32-bit key. */
export function mix(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    let k = Math.imul(p >>> 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fill one page (a 1024-word view) with the xorshift32 stream seeded by `key`. */
export function fillWords(words: Uint32Array, offset: number, key: number): void {
  let x = key >>> 0 || 0x9e3779b9;
  for (let i = offset, end = offset + WORDS; i < end; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
}

const BATCH = 16;

/** Writes pages of generated content into a guest's memory, 16 pages per write call. */
export class PageWriter {
  private readonly bytes = new Uint8Array(BATCH * PAGE);
  private readonly words = new Uint32Array(this.bytes.buffer);

  constructor(private readonly sys: GuestSys) {}

  /** Pages [first, first+count) of the mapping at `addr` get content `keyOf(i)` for i = 0..count-1. */
  fill(addr: number, first: number, count: number, keyOf: (i: number) => number): void {
    for (let done = 0; done < count; done += BATCH) {
      const n = Math.min(BATCH, count - done);
      for (let j = 0; j < n; j++) fillWords(this.words, j * WORDS, keyOf(done + j));
      this.sys.write(addr + (first + done) * PAGE, n === BATCH ? this.bytes : this.bytes.subarray(0, n * PAGE));
    }
  }

  /** Pages [first, first+count) written with zeros (they get frames, as a guest's memset does). */
  zero(addr: number, first: number, count: number): void {
    if (count > 0) this.sys.memset(addr + first * PAGE, 0, count * PAGE);
  }

  /** Raw bytes (a multiple of the page size, or padded with zeros) at page `first`. */
  raw(addr: number, first: number, data: Uint8Array): void {
    this.sys.write(addr + first * PAGE, data);
  }
}

/**
 * Rewrites pages [first, first+count) of a mapping round-robin at `rate` pages per second, each
 * time with new content `keyOf(page, generation)`.
 */
export class Rewriter {
  private cursor = 0;
  private generation = 1;
  private budget = 0;
  rewritten = 0;

  constructor(
    private readonly writer: PageWriter,
    private readonly addr: number,
    private readonly first: number,
    private readonly count: number,
    private readonly rate: number,
    private readonly keyOf: (page: number, generation: number) => number,
  ) {}

  /** Rewrite the pages due after `dtMs` more milliseconds; returns the milliseconds until the next one is due. */
  step(dtMs: number): number {
    if (this.count === 0 || this.rate <= 0) return Infinity;
    this.budget = Math.min(this.budget + (this.rate * dtMs) / 1000, this.count);
    let n = Math.floor(this.budget);
    this.budget -= n;
    while (n > 0) {
      const run = Math.min(n, this.count - this.cursor);
      const start = this.cursor;
      const gen = this.generation;
      this.writer.fill(this.addr, this.first + start, run, (i) => this.keyOf(start + i, gen));
      this.cursor += run;
      this.rewritten += run;
      n -= run;
      if (this.cursor === this.count) {
        this.cursor = 0;
        this.generation++;
      }
    }
    return ((1 - this.budget) / this.rate) * 1000;
  }
}

/** Map `pages` private anonymous pages. */
export function mapPages(sys: GuestSys, pages: number): number {
  return sys.mmap(pages * PAGE);
}

/**
 * With readonly=1, mprotect the first `imagePages` pages (the shared image, which the steady state
 * never writes) read-only and advise only those (DKSM's intended use: only read-only regions);
 * otherwise madvise(MADV_MERGEABLE) the whole mapping unless mergeable=0. Then log `READY <pages>`.
 */
export function ready(sys: GuestSys, a: CommonArgs, addr: number, layout: Record<string, number | string>, imagePages = 0): void {
  let advised = a.pages;
  if (a.readonly) {
    if (imagePages === 0) throw new Error(`readonly=1: this workload has no shared image to make read-only`);
    sys.mprotect(addr, imagePages * PAGE, PROT_READ);
    advised = imagePages;
  }
  if (a.mergeable) sys.madvise(addr, advised * PAGE, MADV_MERGEABLE);
  if (a.verbose) {
    sys.log(`layout: ${Object.entries(layout).map(([k, v]) => `${k} ${v}`).join(', ')} (seed ${a.seed}, instance ${a.instance}, mergeable ${a.mergeable ? 1 : 0})`);
  }
  sys.log(`READY ${a.pages}`);
}

/** How long to sleep after a step that says its next page is due in `nextMs` (or says nothing). */
export function steadyWait(nextMs: number | void, tick: number): number {
  return Math.min(1000, Math.max(1, tick, typeof nextMs === 'number' ? nextMs : 0));
}

/**
 * The steady state: call `step(dtMs)` until `hold` ms have passed, then return 0. Between steps it
 * sleeps `tick` ms, or longer when `step` says its next page is not due yet (up to 1 s): a fleet of
 * hundreds of slow-churning guests must not wake 50 times a second each for nothing, taking the CPU
 * ksmd needs. With nothing to do it just sleeps (in steps of at most 1 s).
 */
export async function steadyState(sys: GuestSys, a: CommonArgs, step?: (dtMs: number) => number | void): Promise<number> {
  const start = performance.now();
  const end = start + a.hold;
  let last = start;
  for (;;) {
    const now = performance.now();
    if (now >= end) return 0;
    let wait = 1000;
    if (step) {
      wait = steadyWait(step(now - last), a.tick);
      last = now;
    }
    await sys.sleep(Math.min(wait, Math.max(0, end - performance.now())));
  }
}
