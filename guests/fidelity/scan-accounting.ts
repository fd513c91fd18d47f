// scan-accounting.ts — fidelity scenario: pages_scanned grows by exactly the pages of one pass per
// full scan, whether a pass takes one wake-up (pages_to_scan 1000) or several (pages_to_scan 10).
// ksmd sleeps 250 ms between batches, so the guest reads each pass boundary before the next batch
// even on a loaded machine.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, counter, fillDistinct, waitUntil, writeKnob, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'pages_scanned per full scan with 64 pages: one batch (pages_to_scan 1000) or 7 (pages_to_scan 10)',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '250', smart_scan: '0', run: '1' },
  root: true,
};

export default async function main(sys: GuestSys): Promise<void> {
  const P = sys.pageSize;
  const addr = sys.mmap(64 * P);
  fillDistinct(sys, addr, 48, 17);
  sys.memset(addr + 48 * P, 0x61, 16 * P);
  sys.madvise(addr, 64 * P, MADV_MERGEABLE);
  let scans = counter(sys, 'full_scans');
  const nextScan = async (): Promise<number> => {
    const before = counter(sys, 'pages_scanned');
    await waitUntil(sys, () => counter(sys, 'full_scans') > scans, 'the next scan');
    scans = counter(sys, 'full_scans');
    return counter(sys, 'pages_scanned') - before;
  };
  await nextScan();
  await nextScan();
  await nextScan();
  for (let i = 1; i <= 2; i++) check(sys, `batch1000.scan${i}.pages_scanned_delta`, await nextScan());
  check(sys, 'batch1000.pages_shared', counter(sys, 'pages_shared'));
  check(sys, 'batch1000.pages_sharing', counter(sys, 'pages_sharing'));
  writeKnob(sys, 'pages_to_scan', '10');
  // Two passes to settle: the emulator's ksmd wakes on any knob write (see knob-wake), the kernel's not.
  await nextScan();
  await nextScan();
  for (let i = 1; i <= 2; i++) check(sys, `batch10.scan${i}.pages_scanned_delta`, await nextScan());
}
