// thp-cow-after-split.ts — fidelity scenario: a huge page of one repeated content is split and merged;
// writing one page afterwards copies it at once (contents), the counters follow at the next scans,
// and the range is not collapsed back into a huge page.
import { type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';
import { HPAGE_BYTES, anonHugeKb, hugeArea, markPages } from '../../src/fidelity/thp-checks.ts';

export const scenario: ScenarioMeta = {
  description: 'copy-on-write of one page of a huge page merged into one KSM page',
  knobs: { pages_to_scan: '4000', sleep_millisecs: '10', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const addr = hugeArea(sys, 1);
  markPages(sys, addr, HPAGE_BYTES / sys.pageSize, () => 0x42);
  await waitFullScans(sys, 3);
  checkKsmStat(sys, 'merged.stat.', ['ksm_merging_pages']);
  sys.write(addr + 3 * sys.pageSize + 1, Uint8Array.of(0x43));
  check(sys, 'cow.byte', sys.read(addr + 3 * sys.pageSize + 1, 1)[0]!);
  check(sys, 'cow.neighbour', sys.read(addr + 4 * sys.pageSize, 1)[0]!);
  checkContents(sys, 'cow.contents', addr, HPAGE_BYTES);
  await waitFullScans(sys, 3);
  checkKsmStat(sys, 'after.stat.', ['ksm_rmap_items', 'ksm_merging_pages']);
  checkCounters(sys, 'after.', ['pages_unshared']);
  check(sys, 'after.anon_huge_kb', anonHugeKb(sys));
}
