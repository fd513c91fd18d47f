// thp-split-merge.ts — fidelity scenario: ksmd splits a huge page before merging any of its subpages
// (thp_split_page +1 per huge page), and AnonHugePages is 0 once they are merged.
import { type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, note, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';
import { HPAGE_BYTES, anonHugeKb, hugeArea, markPages, vmstat } from '../../src/fidelity/thp-checks.ts';

export const scenario: ScenarioMeta = {
  description: 'two huge pages of 200 contents: ksmd splits both to merge them, AnonHugePages drops to 0',
  knobs: { pages_to_scan: '4000', sleep_millisecs: '10', smart_scan: '0' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const len = 2 * HPAGE_BYTES;
  const addr = hugeArea(sys, 2);
  const splits = vmstat(sys, 'thp_split_page');
  markPages(sys, addr, len / sys.pageSize, (i) => 1 + (i % 512) % 200);
  check(sys, 'huge.anon_huge_kb', anonHugeKb(sys));
  // ksmd starts only now: on a loaded machine it could otherwise split the huge pages before the check.
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
  checkKsmStat(sys, 'merged.stat.', ['ksm_rmap_items', 'ksm_merging_pages', 'ksm_zero_pages']);
  check(sys, 'merged.anon_huge_kb', anonHugeKb(sys));
  // Host-wide on the kernel: another process may split huge pages meanwhile, so at least ours.
  const split = vmstat(sys, 'thp_split_page') - splits;
  note(sys, 'thp_split_page.delta', split);
  check(sys, 'merged.thp_split_page_at_least_2', split >= 2);
  checkContents(sys, 'contents', addr, len);
}
