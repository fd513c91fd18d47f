// numa-one-node.ts — fidelity scenario: what a one-node machine can show of NUMA: mbind to node 0
// works and to a missing node fails, merge_across_nodes 0 still merges within the one node, and
// changing merge_across_nodes is EBUSY while KSM pages exist. (Placement across nodes is a documented
// deviation: the emulator models several nodes, this machine has one.)
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkCounters, checkErrno, readKnob, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'merge_across_nodes 0 on one node: mbind to node 0 (and a missing node), equal pages merge, EBUSY to change it',
  knobs: { merge_across_nodes: '0', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  check(sys, 'node', sys.node);
  const len = 16 * sys.pageSize;
  const addr = sys.mmap(len);
  checkErrno(sys, 'mbind.node0', () => sys.mbind(addr, len, 0));
  checkErrno(sys, 'mbind.node7', () => sys.mbind(addr, len, 7));
  sys.memset(addr, 0x3c, len);
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  check(sys, 'merge_across_nodes', readKnob(sys, 'merge_across_nodes'));
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared']);
  checkErrno(sys, 'set_merge_across_nodes_1', () => writeKnob(sys, 'merge_across_nodes', '1'));
  writeKnob(sys, 'run', '2');
  checkErrno(sys, 'after_run2.set_merge_across_nodes_1', () => writeKnob(sys, 'merge_across_nodes', '1'));
  check(sys, 'after_run2.merge_across_nodes', readKnob(sys, 'merge_across_nodes'));
}
