// thp-collapse-merged.ts — fidelity scenario: merged ranges stay split (khugepaged refuses their
// shared pages), but MADV_COLLAPSE returns 0 and collapses one whose KSM pages are each mapped once
// in it; ksmd then splits it and merges the pages again within a few scans. A range mapping one KSM
// page twice is EAGAIN (the kernel isolates each folio once).
import { MADV_COLLAPSE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkErrno, checkKsmStat, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';
import { HPAGE_BYTES, anonHugeKb, hugeArea, markPages } from '../../src/fidelity/thp-checks.ts';

export const scenario: ScenarioMeta = {
  description: 'MADV_COLLAPSE of merged huge pages: 0 and collapsed, then split and merged again; EAGAIN where a KSM page repeats',
  knobs: { pages_to_scan: '4000', sleep_millisecs: '10', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  // Blocks 0 and 1 hold the same 512 contents (each KSM page mapped once per block); block 2 repeats 4.
  const addr = hugeArea(sys, 3);
  const pages = HPAGE_BYTES / sys.pageSize;
  markPages(sys, addr, 2 * pages, (i) => i & 0xff);
  for (let i = 0; i < 2 * pages; i++) sys.write(addr + i * sys.pageSize + 1, Uint8Array.of(1 + ((i % pages) >> 8)));
  markPages(sys, addr + 2 * HPAGE_BYTES, pages, (i) => 1 + (i % 4));
  await waitFullScans(sys, 3);
  checkKsmStat(sys, 'merged.stat.', ['ksm_merging_pages']);
  check(sys, 'merged.anon_huge_kb', anonHugeKb(sys));
  // ksmd held still while the collapses are looked at: it would split the collapsed block again
  // within milliseconds, before the next checkpoint on one backend and after it on the other.
  writeKnob(sys, 'run', '0');
  checkErrno(sys, 'collapse.errno', () => sys.madvise(addr, HPAGE_BYTES, MADV_COLLAPSE));
  check(sys, 'collapse.anon_huge_kb', anonHugeKb(sys));
  checkErrno(sys, 'collapse_repeated.errno', () => sys.madvise(addr + 2 * HPAGE_BYTES, HPAGE_BYTES, MADV_COLLAPSE));
  check(sys, 'collapse_repeated.anon_huge_kb', anonHugeKb(sys));
  checkContents(sys, 'collapse.contents', addr, 3 * HPAGE_BYTES);
  writeKnob(sys, 'run', '1');
  await waitFullScans(sys, 4);
  checkKsmStat(sys, 'remerged.stat.', ['ksm_merging_pages']);
  check(sys, 'remerged.anon_huge_kb', anonHugeKb(sys));
  checkContents(sys, 'remerged.contents', addr, 3 * HPAGE_BYTES);
}
