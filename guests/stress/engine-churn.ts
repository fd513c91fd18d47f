// engine-churn.ts — the guest of the engines' concurrency check (`ksmsim stress --engine uksm`):
// private anonymous pages drawn from a few contents shared by every guest (so a whole-system scanner
// merges them constantly), then a seeded mix of reads checked against a shadow copy, small writes
// (copy-on-write of merged pages), zero-fills (zero-page merges) and MADV_UNMERGEABLE/MADV_DONTNEED,
// for `ms` milliseconds. Logs `@violation <json>` for a byte that differs; exits 3 if any did.
//
// args: seed pages contents content-seed ms

import { MADV_DONTNEED, MADV_UNMERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { Prng, mixSeed } from '../../src/platform/prng.ts';

const PAGE = 4096;

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const [seed, pages, contentsN, contentSeed, ms] = args.map(Number) as [number, number, number, number, number];
  const rng = new Prng(mixSeed(seed, sys.pid));
  const cr = new Prng(contentSeed);
  const contents = Array.from({ length: contentsN }, (_, i) => (i === 0 ? new Uint8Array(PAGE) : cr.fill(new Uint8Array(PAGE))));
  const addr = sys.mmap(pages * PAGE);
  const shadow = new Uint8Array(pages * PAGE);
  for (let p = 0; p < pages; p++) {
    const c = contents[rng.below(contents.length)]!;
    sys.write(addr + p * PAGE, c);
    shadow.set(c, p * PAGE);
  }
  let bad = 0;
  const end = performance.now() + ms;
  let ops = 0;
  while (performance.now() < end) {
    const p = rng.below(pages);
    const op = rng.below(20);
    if (op < 10) {
      const got = sys.read(addr + p * PAGE, PAGE);
      for (let i = 0; i < PAGE; i++) {
        if (got[i] !== shadow[p * PAGE + i]) {
          sys.log(`@violation ${JSON.stringify({ guest: sys.pid, address: addr + p * PAGE + i, expected: shadow[p * PAGE + i], actual: got[i] })}`);
          shadow.set(got, p * PAGE);
          bad++;
          break;
        }
      }
    } else if (op < 15) {
      const off = rng.below(PAGE - 16);
      const b = rng.fill(new Uint8Array(16));
      sys.write(addr + p * PAGE + off, b);
      shadow.set(b, p * PAGE + off);
    } else if (op < 18) {
      // Back to one of the shared contents (often the zero page): something to merge again.
      const c = contents[rng.below(contents.length)]!;
      sys.write(addr + p * PAGE, c);
      shadow.set(c, p * PAGE);
    } else if (op === 18) {
      sys.madvise(addr + p * PAGE, PAGE, MADV_DONTNEED);
      shadow.fill(0, p * PAGE, (p + 1) * PAGE);
    } else {
      sys.madvise(addr + p * PAGE, PAGE, MADV_UNMERGEABLE);
    }
    if (++ops % 256 === 0) await sys.sleep(0);
  }
  for (let p = 0; p < pages; p++) {
    const got = sys.read(addr + p * PAGE, PAGE);
    for (let i = 0; i < PAGE; i++) {
      if (got[i] !== shadow[p * PAGE + i]) {
        sys.log(`@violation ${JSON.stringify({ guest: sys.pid, address: addr + p * PAGE + i, expected: shadow[p * PAGE + i], actual: got[i] })}`);
        bad++;
        break;
      }
    }
  }
  sys.log(`ops ${ops}`);
  return bad ? 3 : 0;
}
