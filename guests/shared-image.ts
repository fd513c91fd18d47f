// shared-image.ts — a guest whose memory is mostly an "OS image" shared with its siblings plus a
// private part: args `[imagePages=256] [privatePages=64] [seed=1]`. Pages of the image are a
// deterministic function of (seed, page), so every guest with the same seed holds the same image.
// It marks everything MADV_MERGEABLE, waits for ksmd to merge (3 full scans: a guest that registers mid-pass is first scanned in the next one), logs its ksm_stat,
// then holds its memory for a moment so the host can observe the saving.
import { KSM_DIR, MADV_MERGEABLE, PROC_KSM_STAT, type GuestSys } from '../src/guest/index.ts';

function fillPage(buf: Uint8Array, seed: number, page: number): void {
  let x = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(page + 1, 0x85ebca77)) >>> 0;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
    buf[i + 1] = (x >>> 8) & 0xff;
    buf[i + 2] = (x >>> 16) & 0xff;
    buf[i + 3] = x >>> 24;
  }
}

function fullScans(sys: GuestSys): number {
  return Number(sys.readFile(KSM_DIR + 'full_scans'));
}

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const imagePages = Number(args[0] ?? 256);
  const privatePages = Number(args[1] ?? 64);
  const seed = Number(args[2] ?? 1);
  const holdMs = Number(args[3] ?? 300);
  const total = imagePages + privatePages;
  const addr = sys.mmap(total * sys.pageSize);
  const page = new Uint8Array(sys.pageSize);
  for (let p = 0; p < imagePages; p++) {
    fillPage(page, seed, p);
    sys.write(addr + p * sys.pageSize, page);
  }
  for (let p = 0; p < privatePages; p++) {
    fillPage(page, seed * 1000003 + sys.pid, p);
    sys.write(addr + (imagePages + p) * sys.pageSize, page);
  }
  sys.madvise(addr, total * sys.pageSize, MADV_MERGEABLE);
  const target = fullScans(sys) + 3;
  const deadline = Date.now() + 30_000;
  while (fullScans(sys) < target && Date.now() < deadline) await sys.sleep(10);
  const stat = sys.readFile(PROC_KSM_STAT);
  const merging = /ksm_merging_pages (\d+)/.exec(stat)?.[1];
  sys.log(`${imagePages} image + ${privatePages} private pages; ksm_merging_pages ${merging}`);
  await sys.sleep(holdMs);
  return 0;
}
