// kernel-defaults.ts — owns the kernel's boot-time value of every writable KSM knob (mm/ksm.c, as
// Documentation/admin-guide/mm/ksm.rst states them) and the order of writes that puts a machine's
// knobs back to them from any state.

import { KSM_DIR } from '../../ksm/sysfs.ts';

/**
 * The values a freshly booted kernel shows (checked on Linux 6.18 and against ksm.rst): `run` 0,
 * `pages_to_scan` 100 (DEFAULT_PAGES_TO_SCAN), `sleep_millisecs` 20, `merge_across_nodes` 1,
 * `use_zero_pages` 0, `max_page_sharing` 256, `stable_node_chains_prune_millisecs` 2000,
 * `smart_scan` 1, `advisor_mode` none, and the advisor's 70 % CPU, 500 / 30000 pages, 200 s.
 * Kept apart from the emulator's KNOB_DEFAULTS on purpose: the kernel side must not be set to the
 * emulator's idea of a default, or a wrong emulator default would agree with itself.
 */
export const KERNEL_KNOB_DEFAULTS: Readonly<Record<string, string>> = {
  run: '0',
  pages_to_scan: '100',
  sleep_millisecs: '20',
  merge_across_nodes: '1',
  use_zero_pages: '0',
  max_page_sharing: '256',
  stable_node_chains_prune_millisecs: '2000',
  smart_scan: '1',
  advisor_mode: 'none',
  advisor_max_cpu: '70',
  advisor_min_pages_to_scan: '500',
  advisor_max_pages_to_scan: '30000',
  advisor_target_scan_time: '200',
};

export interface KnobWrite {
  readonly name: string;
  readonly value: string;
}

/**
 * The writes that take the knobs from any state to the defaults, in order:
 * 1. `run` 2: unmerges every KSM page, so `max_page_sharing` and `merge_across_nodes` (EBUSY while
 *    pages_shared ≠ 0) can change, and resets `full_scans`, as a scenario on a fresh host sees it;
 * 2. `advisor_mode` none: with scan-time, writing `pages_to_scan` is EINVAL (and the switch itself
 *    rewrites pages_to_scan, so it must come before it);
 * 3. every other knob, `pages_to_scan` included;
 * 4. `run` 0 last (after step 1 it reads 2, which no fresh kernel shows).
 * Knobs this kernel lacks (no CONFIG_NUMA: no merge_across_nodes; kernels before 6.7/6.8: no
 * smart_scan/advisor_*) are left out: `present` names the files that exist.
 */
export function defaultsResetWrites(present: ReadonlySet<string>): KnobWrite[] {
  const out: KnobWrite[] = [];
  const add = (name: string, value: string): void => {
    if (present.has(name)) out.push({ name, value });
  };
  add('run', '2');
  add('advisor_mode', KERNEL_KNOB_DEFAULTS['advisor_mode']!);
  for (const [name, value] of Object.entries(KERNEL_KNOB_DEFAULTS)) {
    if (name !== 'run' && name !== 'advisor_mode') add(name, value);
  }
  add('run', KERNEL_KNOB_DEFAULTS['run']!);
  return out;
}

/** A knob name → its path under /sys/kernel/mm/ksm. */
export function knobPath(name: string): string {
  return KSM_DIR + name;
}
