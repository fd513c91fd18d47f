// os-image.ts — a booted operating system: the OS image (kernel, libraries, binaries loaded into
// memory), the page cache, and free memory the guest zeroed.
//  - image pages: identical in every guest of one distro version (distro=N, same seed); the first
//    `common` fraction of them is identical across all versions (the parts that did not change
//    between releases), the rest is per-version. With image=PATH (or --image PATH) the image is read
//    from real files instead: a file or a directory of them (recursively, in sorted order, each
//    file starting on a page boundary, its last page padded with zeros, symlinks and unreadable
//    files skipped); image pages the files do not fill are generated as above.
//  - page cache: file data this guest happened to read, unique per guest; churns at rate= pages/s.
//  - zero pages: freed memory the guest zeroed.
// Args (besides those of src/workloads/workload-args.ts): distro=1, common=0.6, cache=0.3, zero=0.2 (the image
// gets the rest), rate=5, image=PATH. Expected sharing: see README.md.
import { closeSync, lstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestSys } from '../../src/guest/index.ts';
import { fraction, int, num, parseWorkloadArgs, splitPages, str } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PAGE, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

/** Regular files under `root` (or `root` itself), sorted, skipping symlinks and unreadable dirs. */
function listFiles(root: string): string[] {
  const st = statSync(root);
  if (st.isFile()) return [root];
  if (!st.isDirectory()) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      let s;
      try {
        s = lstatSync(p);
      } catch {
        continue;
      }
      if (s.isDirectory()) walk(p);
      else if (s.isFile() && s.size > 0) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** Read files into pages [0, maxPages) of the mapping at `addr`; returns pages and files loaded. */
function loadImage(w: PageWriter, addr: number, root: string, maxPages: number): { pages: number; files: number } {
  const chunk = new Uint8Array(64 * PAGE);
  let pages = 0;
  let files = 0;
  for (const file of listFiles(root)) {
    if (pages >= maxPages) break;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      continue;
    }
    try {
      let pos = 0;
      let loadedAny = false;
      while (pages < maxPages) {
        const want = Math.min(chunk.length, (maxPages - pages) * PAGE);
        let n: number;
        try {
          n = readSync(fd, chunk, 0, want, pos);
        } catch {
          break;
        }
        if (n <= 0) break;
        pos += n;
        const filePages = Math.ceil(n / PAGE);
        chunk.fill(0, n, filePages * PAGE);
        w.raw(addr, pages, chunk.subarray(0, filePages * PAGE));
        pages += filePages;
        loadedAny = true;
        if (n < want) break;
      }
      if (loadedAny) files++;
    } finally {
      closeSync(fd);
    }
  }
  return { pages, files };
}

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('os-image', args, {
    distro: int(1, 'distro version: guests of one version share their whole image', 0, 2 ** 32 - 1),
    common: fraction(0.6, 'fraction of the image common to all distro versions'),
    cache: fraction(0.3, 'fraction of pages in page cache (unique per guest)'),
    zero: fraction(0.2, 'fraction of zero pages'),
    rate: num(5, 'page-cache pages replaced per second'),
    image: str('load the image from this file or directory of real files'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['os-image'], pid: sys.pid });
  const r = splitPages('os-image', a.pages, { cache: a.cache, zero: a.zero }, 'image');
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  let loaded = { pages: 0, files: 0 };
  if (a.image !== undefined) {
    try {
      loaded = loadImage(w, addr, a.image, r.image);
    } catch (e) {
      throw new Error(`os-image: bad value for image: ${JSON.stringify(a.image)} (${(e as Error).message})`);
    }
    if (loaded.pages === 0) throw new Error(`os-image: bad value for image: ${JSON.stringify(a.image)} (no readable, non-empty files)`);
  }
  const commonPages = Math.round(a.common * r.image);
  const imageKey = (i: number) =>
    i < commonPages ? mix(KIND.imageCommon, a.seed, i) : mix(KIND.imageVersion, a.seed, a.distro, i - commonPages);
  w.fill(addr, loaded.pages, r.image - loaded.pages, (i) => imageKey(loaded.pages + i));
  const cacheKey = (i: number, gen: number) => mix(KIND.pageCache, a.seed, a.instance, i, gen);
  w.fill(addr, r.image, r.cache, (i) => cacheKey(i, 0));
  w.zero(addr, r.image + r.cache, r.zero);
  ready(sys, a, addr, {
    image: r.image, ...(a.image !== undefined ? { 'from files': `${loaded.pages} pages of ${loaded.files} files` } : {}),
    'common to all versions': a.image !== undefined ? Math.max(0, commonPages - loaded.pages) : commonPages,
    cache: r.cache, zero: r.zero, distro: a.distro,
  }, r.image);
  const cache = new Rewriter(w, addr, r.image, r.cache, a.rate, cacheKey);
  return steadyState(sys, a, a.rate > 0 && r.cache > 0 ? (dt) => cache.step(dt) : undefined);
}
