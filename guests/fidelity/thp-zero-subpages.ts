// thp-zero-subpages.ts — fidelity scenario: splitting a huge page to merge it maps its all-zero
// subpages to the shared zero page, and no KSM counter moves for them (ksm_zero_pages stays 0, no
// rmap items), whatever use_zero_pages says.
import { type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';
import { HPAGE_BYTES, anonHugeKb, hugeArea, markPages } from '../../src/fidelity/thp-checks.ts';

export const scenario: ScenarioMeta = {
  description: 'a huge page of 64 pages in 8 contents and 448 zero pages: the zero subpages go to the zero page uncounted',
  knobs: { pages_to_scan: '4000', sleep_millisecs: '10', smart_scan: '0', use_zero_pages: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const addr = hugeArea(sys, 1);
  markPages(sys, addr, 64, (i) => 1 + (i % 8));
  check(sys, 'huge.anon_huge_kb', anonHugeKb(sys));
  // ksmd starts only now: on a loaded machine it could otherwise split the huge pages before the check.
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 4);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing', 'ksm_zero_pages']);
  checkKsmStat(sys, 'merged.stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_zero_pages']);
  check(sys, 'merged.anon_huge_kb', anonHugeKb(sys));
  checkContents(sys, 'contents', addr, HPAGE_BYTES);
}
