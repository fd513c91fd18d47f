// merge-speed.ts — bench guest, the `ksm_tests -P` method: SIZE MiB of identical pages ('*'), the
// time from madvise(MADV_MERGEABLE) until ksmd has finished two more full scans and every page is
// merged. Repeated ROUNDS times in one process: the first round is a warm-up (on the emulator it
// includes compiling ksmd's hot code), the others are timed. Between rounds the area is unmapped and
// the guest waits until ksmd has dropped every rmap item of it, so each round starts as the first
// did. Logs `BENCH merge_mib_s` (median of the timed rounds), `BENCH merge_first_mib_s` (the warm-up
// round alone) and `BENCH merge_rounds`. args: [index, count, sizeMiB=100, rounds=6]
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { counter, ksmStat, median, mergingPages, waitUntil, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'merge speed (ksm_tests -P): identical pages, pages_to_scan 100000, sleep_millisecs 0',
  knobs: { pages_to_scan: '100000', sleep_millisecs: '0', run: '1' },
  timeoutMs: 300_000,
};

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const mib = Number(args[2] ?? 100);
  const rounds = Number(args[3] ?? 6);
  if (!(mib > 0) || !Number.isInteger(rounds) || rounds < 2) throw new Error(`merge-speed: want SIZE > 0 MiB and rounds >= 2, got ${args.slice(2).join(' ')}`);
  const len = mib * 2 ** 20;
  const pages = len / sys.pageSize;
  const rates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const addr = sys.mmap(len);
    sys.memset(addr, 0x2a, len);
    const start = performance.now();
    const scans = counter(sys, 'full_scans');
    sys.madvise(addr, len, MADV_MERGEABLE);
    await waitUntil(sys, () => counter(sys, 'full_scans') >= scans + 2 && mergingPages(sys) === pages, `${pages} pages merged`, 60_000);
    rates.push(mib / ((performance.now() - start) / 1000));
    sys.log(`NOTE round ${round} pages_shared ${counter(sys, 'pages_shared')} pages_sharing ${counter(sys, 'pages_sharing')}`);
    sys.munmap(addr, len);
    await waitUntil(sys, () => Number(ksmStat(sys)['ksm_rmap_items']) === 0, 'ksmd to drop the unmapped area', 60_000);
  }
  sys.log(`BENCH merge_mib_s ${median(rates.slice(1))}`);
  sys.log(`BENCH merge_first_mib_s ${rates[0]}`);
  sys.log(`BENCH merge_rounds ${rounds}`);
  return 0;
}
