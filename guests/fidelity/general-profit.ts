// general-profit.ts — fidelity scenario: general_profit and ksm_process_profit with merged, unique
// and zero pages: (pages_sharing + ksm_zero_pages) × 4096 − rmap_items × 64.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkCounters, checkKsmStat, counter, fillDistinct, ksmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'general_profit arithmetic with 64 equal, 16 unique and 16 zero pages (use_zero_pages 1)',
  knobs: { use_zero_pages: '1', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const equal = sys.mmap(64 * P);
  sys.memset(equal, 0x21, 64 * P);
  const unique = sys.mmap(16 * P);
  fillDistinct(sys, unique, 16, 11);
  const zero = sys.mmap(16 * P);
  sys.memset(zero, 0, 16 * P);
  for (const [a, n] of [[equal, 64], [unique, 16], [zero, 16]] as const) sys.madvise(a, n * P, MADV_MERGEABLE);
  await waitFullScans(sys, 4);
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit']);
  checkKsmStat(sys, 'stat.');
  const stat = ksmStat(sys);
  const rmap = Number(stat.ksm_rmap_items);
  const profit = (counter(sys, 'pages_sharing') + counter(sys, 'ksm_zero_pages')) * P - rmap * 64;
  check(sys, 'general_profit_formula_holds', profit === counter(sys, 'general_profit'));
  const own = (Number(stat.ksm_merging_pages) + Number(stat.ksm_zero_pages)) * P - rmap * 64;
  check(sys, 'process_profit_formula_holds', own === Number(stat.ksm_process_profit));
}
