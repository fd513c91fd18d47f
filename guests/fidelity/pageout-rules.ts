// pageout-rules.ts — fidelity scenario: madvise(MADV_PAGEOUT) with swap on returns 0 and pages out
// private pages and a KSM page mapped once, but skips a KSM page mapped four times and zero-page
// mappings; ksmd then drops the paged-out KSM page's rmap item (pages_shared falls); every byte
// reads back intact, and the swap entries are gone once it has.
import { MADV_MERGEABLE, MADV_PAGEOUT, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, note, smapsRollupKb, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'MADV_PAGEOUT: private pages and a once-mapped KSM page go to swap, a 4-times-mapped KSM page and zero pages stay',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
  swapBytes: 16 * 2 ** 20,
};

// Pages 0–3: one content (a KSM page mapped 4 times); 4–5: another (a KSM page, mapped once after
// page 5 is written); 6–7: unique private pages; 8–9: only read (the zero page).
const PAGES = 10;


export default async function main(sys: GuestSys): Promise<void> {
  const page = sys.pageSize;
  const addr = sys.mmap(PAGES * page);
  sys.memset(addr, 0x41, 4 * page);
  sys.memset(addr + 4 * page, 0x42, 2 * page);
  sys.memset(addr + 6 * page, 0x43, page);
  sys.memset(addr + 7 * page, 0x44, page);
  sys.read(addr + 8 * page, 2 * page);
  sys.madvise(addr, PAGES * page, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'merged.', ['pages_shared', 'pages_sharing']);
  sys.memset(addr + 5 * page, 0x45, 1); // copy-on-write: the 0x42 KSM page keeps one mapping
  await waitFullScans(sys, 2);
  checkCounters(sys, 'cow.', ['pages_shared', 'pages_sharing']);
  const swapBefore = smapsRollupKb(sys, 'Swap');
  sys.madvise(addr, PAGES * page, MADV_PAGEOUT);
  check(sys, 'pageout.returned', 0);
  // Private pages 5, 6, 7 and the once-mapped KSM page 4: 16 kB of swap entries. The KSM page of
  // pages 0–3 (mapped 4 times) and the zero pages 8–9 stay.
  check(sys, 'pageout.swap_kb', smapsRollupKb(sys, 'Swap') - swapBefore);
  check(sys, 'pageout.ksm_kb', smapsRollupKb(sys, 'KSM'));
  await waitFullScans(sys, 2);
  checkCounters(sys, 'after_scan.', ['pages_shared', 'pages_sharing']);
  checkContents(sys, 'contents', addr, PAGES * page);
  check(sys, 'swapped_in.swap_kb', smapsRollupKb(sys, 'Swap') - swapBefore);
  note(sys, 'swap_before_kb', swapBefore);
}
