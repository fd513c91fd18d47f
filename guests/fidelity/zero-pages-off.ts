// zero-pages-off.ts — fidelity scenario: with use_zero_pages 0, zero-filled pages merge like any
// equal pages into one KSM page; pages only read (mapped to the zero page) are not scanned.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import { check, checkCounters, checkKsmStat, fnv1a, waitFullScans, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'use_zero_pages 0: 32 zero-filled pages merge into one KSM page; 16 never-written pages are not scanned',
  knobs: { use_zero_pages: '0', pages_to_scan: '1000', sleep_millisecs: '20', smart_scan: '0', run: '1' },
};

const PAGES = 32;
const READ_ONLY = 16;

export default async function main(sys: GuestSys): Promise<void> {
  const len = PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  sys.memset(addr, 0, len);
  const untouched = sys.mmap(READ_ONLY * sys.pageSize);
  // Reading a never-written page maps the shared zero page; it is not an anonymous page of its own.
  check(sys, 'untouched.contents', fnv1a(sys.read(untouched, READ_ONLY * sys.pageSize)));
  sys.madvise(addr, len, MADV_MERGEABLE);
  sys.madvise(untouched, READ_ONLY * sys.pageSize, MADV_MERGEABLE);
  await waitFullScans(sys, 3);
  checkCounters(sys, '', ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit']);
  checkKsmStat(sys, 'stat.');
  sys.memset(addr, 1, 1);
  await waitFullScans(sys, 3);
  checkCounters(sys, 'written.', ['pages_shared', 'pages_sharing', 'pages_unshared', 'ksm_zero_pages']);
}
