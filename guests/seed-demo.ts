// seed-demo.ts — the seed's C demo as a guest: three zero-filled pages marked MADV_MERGEABLE,
// print pages_sharing once ksmd has merged them, modify them, print it again after ksmd rescans.
// Run with KSM on: `ksmsim run guests/seed-demo.ts --ksm run=1 --ksm sleep_millisecs=0`.
import { KSM_DIR, MADV_MERGEABLE, type GuestSys } from '../src/guest/index.ts';

const PAGES = 3;

function counter(sys: GuestSys, name: string): number {
  return Number(sys.readFile(KSM_DIR + name).trim());
}

/** Wait until ksmd has completed `n` more full scans (the kernel selftests wait for two after setting run=1; a guest that registers while ksmd runs joins at the next pass, so three here). */
async function waitFullScans(sys: GuestSys, n: number, timeoutMs = 20_000): Promise<void> {
  const target = counter(sys, 'full_scans') + n;
  const deadline = Date.now() + timeoutMs;
  while (counter(sys, 'full_scans') < target) {
    if (Date.now() > deadline) throw new Error(`ksmd did not finish ${n} full scans (is run=1?)`);
    await sys.sleep(5);
  }
}

export default async function main(sys: GuestSys): Promise<number> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  const before = counter(sys, 'pages_sharing');
  sys.log(`pages_sharing after merging ${PAGES} zero-filled pages: ${before}`);
  for (let i = 0; i < PAGES; i++) sys.memset(addr + i * sys.pageSize, i + 1, 1);
  await waitFullScans(sys, 3);
  const after = counter(sys, 'pages_sharing');
  sys.log(`pages_sharing after modifying them: ${after}`);
  sys.munmap(addr, len);
  return before > 0 && after === 0 ? 0 : 1;
}
