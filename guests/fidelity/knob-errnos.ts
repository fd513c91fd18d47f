// knob-errnos.ts — fidelity scenario: what writing every /sys/kernel/mm/ksm knob returns as root —
// bad values, edge values (kstrtouint/kstrtobool rules), read-only and unknown files — and what
// the knobs read back afterwards.
import { PROC_KSM_MERGING_PAGES, PROC_KSM_STAT, type GuestSys } from '../../src/guest/index.ts';
import { check, checkErrno, readKnob, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'the errno of every knob write as root: bad, edge and good values, read-only and unknown files',
  root: true,
};

/** knob → [value written, name of the checkpoint] (written in order; the knob is read back after each). */
const WRITES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['run', ['3', 'abc', '-1', ' 1', '0x1', '1 ', '', '0\n', '+0']],
  ['pages_to_scan', ['abc', '4294967296', '4294967295', '+5', '100\n', ' 7', '0x10', '-1', '0', '100']],
  ['sleep_millisecs', ['-1', '1.5', '4294967295', '20']],
  ['merge_across_nodes', ['2', '-1', 'y', '18446744073709551616', '18446744073709551615', '99999999999999999999x', '0', '1']],
  ['use_zero_pages', ['maybe', '2', '10', 'on', 'of', 'off', 'Y', 'N', 'yes', '']],
  ['max_page_sharing', ['1', '0', '-5', 'abc', '2147483648', '-2147483649', '+3', '-0', '2', '256']],
  ['stable_node_chains_prune_millisecs', ['-5', 'x', '0', '2000']],
  ['smart_scan', ['x', 'n', 't', '1']],
  ['advisor_target_scan_time', ['0', 'x', '5', '200']],
  ['advisor_max_cpu', ['abc', '-1', '101', '70']],
  ['advisor_min_pages_to_scan', ['x', '-1', '0', '500']],
  ['advisor_max_pages_to_scan', ['x', '18446744073709551616', '30000']],
];

export default function main(sys: GuestSys): void {
  for (const [knob, values] of WRITES) {
    values.forEach((v, i) => {
      checkErrno(sys, `${knob}.${i}.write`, () => writeKnob(sys, knob, v));
      check(sys, `${knob}.${i}.reads`, readKnob(sys, knob));
    });
  }
  // advisor_mode: choices, and a mode change resets pages_to_scan; pages_to_scan is refused meanwhile.
  checkErrno(sys, 'advisor_mode.foo', () => writeKnob(sys, 'advisor_mode', 'foo'));
  checkErrno(sys, 'advisor_mode.scan-time', () => writeKnob(sys, 'advisor_mode', 'scan-time'));
  check(sys, 'advisor_mode.reads', sys.readFile('/sys/kernel/mm/ksm/advisor_mode'));
  check(sys, 'advisor_mode.pages_to_scan', readKnob(sys, 'pages_to_scan'));
  checkErrno(sys, 'advisor_mode.write_pages_to_scan', () => writeKnob(sys, 'pages_to_scan', '1000'));
  checkErrno(sys, 'advisor_mode.none_nl', () => writeKnob(sys, 'advisor_mode', 'none\n'));
  check(sys, 'advisor_mode.reads_none', sys.readFile('/sys/kernel/mm/ksm/advisor_mode'));
  check(sys, 'advisor_mode.pages_to_scan_none', readKnob(sys, 'pages_to_scan'));
  // Read-only counters, an unknown file, the /proc files.
  for (const ro of ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'pages_scanned', 'pages_skipped', 'full_scans', 'general_profit', 'ksm_zero_pages', 'stable_node_chains', 'stable_node_dups']) {
    checkErrno(sys, `readonly.${ro}`, () => writeKnob(sys, ro, '0'));
  }
  checkErrno(sys, 'unknown.write', () => writeKnob(sys, 'no_such_knob', '1'));
  checkErrno(sys, 'unknown.read', () => sys.readFile('/sys/kernel/mm/ksm/no_such_knob'));
  checkErrno(sys, 'proc.ksm_stat.write', () => sys.writeFile(PROC_KSM_STAT, '0'));
  checkErrno(sys, 'proc.ksm_merging_pages.write', () => sys.writeFile(PROC_KSM_MERGING_PAGES, '0'));
  checkErrno(sys, 'thp.enabled.empty', () => sys.writeFile('/sys/kernel/mm/transparent_hugepage/enabled', ''));
  checkErrno(sys, 'thp.enabled.bogus', () => sys.writeFile('/sys/kernel/mm/transparent_hugepage/enabled', 'bogus'));
}
