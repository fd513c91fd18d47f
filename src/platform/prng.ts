// prng.ts — owns the seeded generators (of the stress tools, the workloads and UKSM's sampling): mulberry32 (32-bit state, fast) so every
// guest program, chaos schedule and simulated interleaving replays from its seed.

export class Prng {
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

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }

  fill(buf: Uint8Array): Uint8Array {
    for (let i = 0; i < buf.length; i += 4) {
      const x = this.next();
      buf[i] = x & 0xff;
      if (i + 1 < buf.length) buf[i + 1] = (x >>> 8) & 0xff;
      if (i + 2 < buf.length) buf[i + 2] = (x >>> 16) & 0xff;
      if (i + 3 < buf.length) buf[i + 3] = x >>> 24;
    }
    return buf;
  }
}

/** Mix integers into one 32-bit seed (independent streams per guest, per run, …). */
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
