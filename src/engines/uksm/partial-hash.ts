// partial-hash.ts — owns UKSM's adaptive partial hashing: a page's hash over `strength` of its 1024
// 32-bit words, taken at positions from a random permutation fixed at boot (init_random_sampling),
// and the controller that moves the strength: down while collisions cost nothing, up when their
// cost (a wasted full compare each) outweighs the hashing saved, with periodic probing downwards.
// A hash only chooses candidates: every match is confirmed by a full 4 KiB compare before a merge.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from '../../mem/constants.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import { Prng } from '../../platform/prng.ts';
import { HASH_STRENGTH_DEFAULT, HASH_STRENGTH_FULL } from './uksm-state.ts';

export const HASH_STRENGTH_MIN = 4;

/** The sampling order: a Fisher–Yates permutation of the 1024 word positions. */
export function samplingPermutation(seed: number): Int32Array {
  const perm = new Int32Array(HASH_STRENGTH_FULL);
  for (let i = 0; i < perm.length; i++) perm[i] = i;
  const rng = new Prng(seed);
  for (let i = 0; i < perm.length; i++) {
    const j = i + rng.below(perm.length - i);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

export class PartialHasher {
  readonly perm: Int32Array;
  private readonly banks: Int32Array[];

  constructor(mem: PhysicalMemory, perm: Int32Array) {
    this.perm = perm;
    this.banks = mem.bankI32;
  }

  /** The hash of a frame's words at perm[0..strength): a pure function of those words. */
  hash(frame: number, strength: number): number {
    const words = this.banks[frame >>> BANK_SHIFT]!;
    const base = ((frame & BANK_MASK) << PAGE_SHIFT) >>> 2;
    const perm = this.perm;
    let h = 0x9e3779b9 ^ strength;
    for (let i = 0; i < strength; i++) {
      h = Math.imul(h ^ words[base + perm[i]!]!, 0x85ebca6b);
      h ^= h >>> 13;
    }
    return (h ^ (h >>> 16)) | 0;
  }
}

/**
 * The strength controller, fed once per batch with what it saw: hash hits whose full compare failed
 * (collisions) and pages hashed. Collisions cost one full compare (`compareCost` word-reads each);
 * hashing costs `strength` word-reads per page. Doubling strength is worth it when collisions cost
 * more than the extra hashing; halving when a window saw no collision, and every `probeEvery`
 * windows a probe tries half anyway (UKSM's RSHASH_TRYDOWN).
 */
export class StrengthController {
  strength: number;
  private windows = 0;
  private readonly compareCost: number;
  private readonly probeEvery: number;

  constructor(strength = HASH_STRENGTH_DEFAULT, compareCost = HASH_STRENGTH_FULL, probeEvery = 16) {
    this.strength = strength;
    this.compareCost = compareCost;
    this.probeEvery = probeEvery;
  }

  /** Returns the new strength. */
  update(collisions: number, pagesHashed: number): number {
    if (pagesHashed === 0) return this.strength;
    this.windows++;
    const collisionCost = collisions * this.compareCost;
    const extraHashing = pagesHashed * this.strength; // what doubling would add
    if (collisions > 0 && collisionCost > extraHashing) this.strength = Math.min(HASH_STRENGTH_FULL, this.strength * 2);
    else if (collisions === 0 || this.windows % this.probeEvery === 0) this.strength = Math.max(HASH_STRENGTH_MIN, this.strength >> 1);
    return this.strength;
  }
}
