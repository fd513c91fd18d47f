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

/**
 * Checksum of the page at word offset `base` of `words` (a bank's Int32Array view). Each step folds
 * two words into a lane: one through a multiply, one (rotated, so top bits of the two cannot cancel)
 * after it, so every word still passes through a multiply on the next step. ~0.65 µs per page here.
 */
export function pageChecksum(words: Int32Array, base: number): number {
  let a = P1;
  let b = P2;
  let c = P3;
  let d = P4;
  const end = base + PAGE_WORDS;
  for (let i = base; i < end; i += 8) {
    let x = words[i + 4]!;
    a = Math.imul(a ^ words[i]!, P2) ^ ((x << 16) | (x >>> 16));
    x = words[i + 5]!;
    b = Math.imul(b ^ words[i + 1]!, P3) ^ ((x << 16) | (x >>> 16));
    x = words[i + 6]!;
    c = Math.imul(c ^ words[i + 2]!, P4) ^ ((x << 16) | (x >>> 16));
    x = words[i + 7]!;
    d = Math.imul(d ^ words[i + 3]!, P1) ^ ((x << 16) | (x >>> 16));
  }
  let h = a + Math.imul(b, 3) + Math.imul(c, 5) + Math.imul(d, 7);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) | 0;
}
