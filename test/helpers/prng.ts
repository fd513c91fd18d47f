// prng.ts — a tiny seeded PRNG (mulberry32) for deterministic, replayable tests and guest fixtures.

/** mulberry32: a 32-bit state generator; `next()` returns a uint32, the same sequence for the same seed. */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next uint32. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** Fill `buf` with pseudo-random bytes. */
  fill(buf: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= buf.length; i += 4) {
      const x = this.next();
      buf[i] = x & 0xff;
      buf[i + 1] = (x >>> 8) & 0xff;
      buf[i + 2] = (x >>> 16) & 0xff;
      buf[i + 3] = x >>> 24;
    }
    for (; i < buf.length; i++) buf[i] = this.next() & 0xff;
    return buf;
  }
}

/** Mix several integers into one 32-bit seed (so (guest, page, round) gives an independent stream). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}
