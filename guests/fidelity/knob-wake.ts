// knob-wake.ts — fidelity scenario: which knob writes cut ksmd's sleep short. The kernel's ksmd
// sleeps in wait_event_freezable_timeout(ksm_iter_wait, sleep_ms != ksm_thread_sleep_millisecs, …):
// writing sleep_millisecs wakes it only when the value changes; pages_to_scan, smart_scan,
// use_zero_pages or the same sleep_millisecs do not. ksmd sleeps 1 s between scans here.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, fillDistinct, waitUntil, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'knob writes during ksmd\'s 1 s sleep: only a changed sleep_millisecs wakes it',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '1000', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const addr = sys.mmap(16 * sys.pageSize);
  fillDistinct(sys, addr, 16, 29);
  sys.madvise(addr, 16 * sys.pageSize, MADV_MERGEABLE);
  let scans = counter(sys, 'full_scans');
  await waitUntil(sys, () => counter(sys, 'full_scans') > scans, 'a pass boundary');
  scans = counter(sys, 'full_scans');
  const delta = (): number => counter(sys, 'full_scans') - scans;
  // Just after a pass ksmd sleeps for 1 s: these writes must not wake it.
  writeKnob(sys, 'pages_to_scan', '1000');
  writeKnob(sys, 'smart_scan', '0');
  writeKnob(sys, 'use_zero_pages', '0');
  writeKnob(sys, 'stable_node_chains_prune_millisecs', '2000');
  await sys.sleep(200);
  check(sys, 'other_knobs.passes', delta());
  writeKnob(sys, 'sleep_millisecs', '1000');
  await sys.sleep(200);
  check(sys, 'same_sleep.passes', delta());
  writeKnob(sys, 'sleep_millisecs', '999');
  await sys.sleep(200);
  check(sys, 'changed_sleep.passes', delta());
}
