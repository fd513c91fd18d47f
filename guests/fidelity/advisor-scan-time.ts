// advisor-scan-time.ts — fidelity scenario: advisor_mode scan-time starts pages_to_scan at
// advisor_min_pages_to_scan, refuses pages_to_scan writes, and keeps pages_to_scan within
// [advisor_min_pages_to_scan, advisor_max_pages_to_scan] as it retunes after full scans.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkErrno, counter, fillDistinct, readKnob, waitFullScans, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'advisor_mode scan-time: pages_to_scan starts at the minimum and stays within the bounds after scans',
  knobs: { sleep_millisecs: '20', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const addr = sys.mmap(256 * P);
  fillDistinct(sys, addr, 256, 31);
  sys.madvise(addr, 256 * P, MADV_MERGEABLE);
  writeKnob(sys, 'advisor_min_pages_to_scan', '200');
  writeKnob(sys, 'advisor_max_pages_to_scan', '3000');
  writeKnob(sys, 'advisor_mode', 'scan-time');
  check(sys, 'start.pages_to_scan', readKnob(sys, 'pages_to_scan'));
  checkErrno(sys, 'write_pages_to_scan', () => writeKnob(sys, 'pages_to_scan', '100'));
  await waitFullScans(sys, 6);
  const pts = counter(sys, 'pages_to_scan');
  check(sys, 'after.within_bounds', pts >= 200 && pts <= 3000);
  check(sys, 'after.pages_to_scan', pts);
  writeKnob(sys, 'advisor_mode', 'none');
  check(sys, 'none.pages_to_scan', readKnob(sys, 'pages_to_scan'));
}
