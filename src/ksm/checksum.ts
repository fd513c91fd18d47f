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

/** Checksum of the page at word offset `base` of `words` (a bank's Int32Array view). */
export function pageChecksum(words: Int32Array, base: number): number {
  let a = P1;
  let b = P2;
  let c = P3;
  let d = P4;
  const end = base + PAGE_WORDS;
  for (let i = base; i < end; i += 4) {
    a = Math.imul(a ^ words[i]!, P2);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b ^ words[i + 1]!, P3);
    b = (b << 13) | (b >>> 19);
    c = Math.imul(c ^ words[i + 2]!, P4);
    c = (c << 13) | (c >>> 19);
    d = Math.imul(d ^ words[i + 3]!, P1);
    d = (d << 13) | (d >>> 19);
  }
  let h = ((a << 1) | (a >>> 31)) + ((b << 7) | (b >>> 25)) + ((c << 12) | (c >>> 20)) + ((d << 18) | (d >>> 14));
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) | 0;
}
