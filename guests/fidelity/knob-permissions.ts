// knob-permissions.ts — fidelity scenario: a guest that is not root reads every KSM file but may
// write none of them (EACCES), and reads its own /proc files.
import { PROC_KSM_MERGING_PAGES, PROC_KSM_STAT, type GuestSys } from '../../src/guest/index.ts';
import { check, checkErrno, readKnob, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'a non-root guest: every knob readable with its default, no write allowed (EACCES)',
  root: false,
};

const KNOBS = [
  'run', 'pages_to_scan', 'sleep_millisecs', 'merge_across_nodes', 'use_zero_pages', 'max_page_sharing',
  'stable_node_chains_prune_millisecs', 'smart_scan', 'advisor_mode', 'advisor_max_cpu', 'advisor_min_pages_to_scan',
  'advisor_max_pages_to_scan', 'advisor_target_scan_time',
];

export default function main(sys: GuestSys): void {
  for (const k of KNOBS) {
    check(sys, `${k}.default`, readKnob(sys, k));
    checkErrno(sys, `${k}.write`, () => writeKnob(sys, k, readKnob(sys, k).replace(/^.*\[(.*)\].*$/, '$1')));
  }
  checkErrno(sys, 'readonly.pages_shared', () => writeKnob(sys, 'pages_shared', '0'));
  checkErrno(sys, 'proc.ksm_stat.write', () => sys.writeFile(PROC_KSM_STAT, '0'));
  check(sys, 'proc.ksm_merging_pages', sys.readFile(PROC_KSM_MERGING_PAGES));
}
