// smart-scan-off.ts — fidelity scenario: with smart_scan 0 no page is ever skipped.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkCounters, counter, fillDistinct, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'smart_scan 0: 12 scans of 32 unique pages skip none',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const len = 32 * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, 32, 13);
  sys.madvise(addr, len, MADV_MERGEABLE);
  const skipped = counter(sys, 'pages_skipped');
  await waitFullScans(sys, 12);
  check(sys, 'skipped_delta', counter(sys, 'pages_skipped') - skipped);
  checkCounters(sys, '', ['pages_unshared', 'pages_volatile', 'pages_shared', 'pages_sharing']);
}
