// checksum.ts — owns the page checksum ksmd uses to skip volatile pages and to key its trees.
//
// The kernel uses xxhash truncated to 32 bits. Here a 4-lane multiply-rotate hash reads the frame's
// Int32 words straight from shared memory: about twice xxHash32's speed in JS (notes/node-workers.md)
// and good enough, since every match is confirmed by a full 4 KiB compare before any merge.

import { PAGE_WORDS } from '../mem/constants.ts';

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const QUARTER = PAGE_WORDS / 4;

/**
 * Checksum of the page at word offset `base` of `words` (a bank's Int32Array view).
 *
 * Each lane reads its own quarter of the page, so four cache-line streams are in flight at once: a
 * page that is not in cache (the common case for a full scan of a large area) hashes as fast as one
 * that is, where one sequential stream ran about 3x slower (1.9 vs 0.63 µs per page from memory on
 * this machine kind). Each step folds two words into a lane: one through a multiply, one (rotated,
 * so the top bits of the two cannot cancel) after it, so every word still passes through a multiply
 * on the next step. Every step is a bijection of the lane state and of each word, so changing any
 * one word always changes the checksum.
 */
export function pageChecksum(words: Int32Array, base: number): number {
  let a = P1;
  let b = P2;
  let c = P3;
  let d = P4;
  const end = base + QUARTER;
  for (let i = base; i < end; i += 2) {
    let x = words[i + 1]!;
    a = Math.imul(a ^ words[i]!, P2) ^ ((x << 16) | (x >>> 16));
    x = words[i + QUARTER + 1]!;
    b = Math.imul(b ^ words[i + QUARTER]!, P3) ^ ((x << 16) | (x >>> 16));
    x = words[i + 2 * QUARTER + 1]!;
    c = Math.imul(c ^ words[i + 2 * QUARTER]!, P4) ^ ((x << 16) | (x >>> 16));
    x = words[i + 3 * QUARTER + 1]!;
    d = Math.imul(d ^ words[i + 3 * QUARTER]!, P1) ^ ((x << 16) | (x >>> 16));
  }
  let h = a + Math.imul(b, 3) + Math.imul(c, 5) + Math.imul(d, 7);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) | 0;
}
