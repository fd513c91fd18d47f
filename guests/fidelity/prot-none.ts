// prot-none.ts — fidelity scenario: pages of an area made PROT_NONE after being written still merge
// (ksm_functional_tests test_prot_none), and read back intact once the area is readable again.
import { MADV_MERGEABLE, PROT_NONE, PROT_READ, PROT_WRITE, type GuestSys } from '../../src/guest/index.ts';
import { checkContents, checkCounters, checkErrno, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: '16 equal pages in a PROT_NONE area merge; readable again, their contents are intact',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const len = 16 * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0x6e, len);
  sys.mprotect(addr, len, PROT_NONE);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared']);
  checkKsmStat(sys, 'stat.', ['ksm_rmap_items', 'ksm_merging_pages']);
  checkErrno(sys, 'read.prot_none', () => sys.read(addr, 1));
  sys.mprotect(addr, len, PROT_READ | PROT_WRITE);
  checkContents(sys, 'contents', addr, len);
}
