// map-shared.ts — fidelity scenario: MADV_MERGEABLE on a MAP_SHARED area succeeds but its pages are
// never merged; a private area beside it merges as usual.
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkContents, checkCounters, checkErrno, checkKsmStat, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'MAP_SHARED|MAP_ANONYMOUS: madvise(MADV_MERGEABLE) succeeds, 32 equal pages never merge',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

export default async function main(sys: GuestSys): Promise<void> {
  const shared = sys.mmap(32 * sys.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  sys.memset(shared, 0x88, 32 * sys.pageSize);
  checkErrno(sys, 'madvise_shared', () => sys.madvise(shared, 32 * sys.pageSize, MADV_MERGEABLE));
  checkKsmStat(sys, 'shared_only.stat.', ['ksm_mergeable']);
  const priv = sys.mmap(8 * sys.pageSize);
  sys.memset(priv, 0x88, 8 * sys.pageSize);
  sys.madvise(priv, 8 * sys.pageSize, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']);
  checkKsmStat(sys, 'stat.');
  checkContents(sys, 'shared.contents', shared, 32 * sys.pageSize);
  sys.memset(shared, 0x89, 1);
  check(sys, 'shared.byte1', sys.read(shared + sys.pageSize, 1)[0]!);
}
