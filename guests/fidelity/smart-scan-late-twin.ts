// smart-scan-late-twin.ts — fidelity scenario: with smart_scan 1, guest A's 128 unique pages have been
// scanned for 40 passes (old rmap items: examined once every 9 passes) when guest B maps a twin of 64 of
// them (X); later, at another phase of A's schedule, a twin of the other 64 (Y). A twin merges only in
// a pass where both pages are examined (the unstable tree lives one pass, and a skipped page leaves
// it), so whether and when it merges depends on the phase B arrives at.
//
// Guest 0 (A) drives ksmd one pass at a time: sleep_millisecs is 60 s, and each write that changes it
// wakes ksmd for exactly one batch (pages_to_scan 1000 covers a whole pass), so every checkpoint is at
// an exact pass number on both backends. Guest 1 (B) maps its twins when A signals.
import { MADV_MERGEABLE, type GuestSys } from '../../src/guest/index.ts';
import {
  check, counter, fillDistinct, guestIndex, mergingPages, raiseSignal, waitSignal, waitUntil, writeKnob, type ScenarioMeta,
} from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'smart_scan 1: twins of 40-pass-old pages merge or not by the phase they arrive at (B at A\'s pass 40: never; 72: after 14)',
  knobs: { pages_to_scan: '1000', sleep_millisecs: '60000', smart_scan: '1', run: '1' },
  guests: 2,
  root: true,
};

const PAGES = 64;
const SEED_X = 21;
const SEED_Y = 22;
/** A's passes before B maps X (A's items are old: each examined once every 9 passes by then). */
const X_AT = 40;
/** A's passes before B maps Y (another phase of A's 9-pass schedule). */
const Y_AT = 72;
/** Passes watched after each twin arrives, and the ones checkpointed in full. */
const WATCH = 30;
const CHECKPOINTS = [2, 10, 30];

const SLEEP = [60000, 60001];
let sleepToggle = 0;

/**
 * One more full scan and no more: ksmd sleeps 60 s between batches, and a write that changes
 * sleep_millisecs ends that sleep (ksm_iter_wait). Writing only once the pass is counted means ksmd
 * has finished it; if the write lands before ksmd reads sleep_millisecs for its next sleep, it sleeps
 * with the new value and no wake comes, so after 3 s the value is changed again (that wakes it; a
 * second write while it is still scanning changes only what it sleeps with, so never two passes).
 */
async function onePass(sys: GuestSys): Promise<void> {
  const before = counter(sys, 'full_scans');
  for (let attempt = 0; attempt < 5; attempt++) {
    writeKnob(sys, 'sleep_millisecs', String(SLEEP[sleepToggle++ & 1]));
    const deadline = Date.now() + 3000;
    while (counter(sys, 'full_scans') === before && Date.now() < deadline) await sys.sleep(1);
    if (counter(sys, 'full_scans') !== before) return;
  }
  throw new Error(`ksmd did not complete a pass after full_scans ${before}`);
}

/** Step WATCH passes after a twin arrived; checkpoint the counters at each CHECKPOINTS pass. */
async function watch(sys: GuestSys, name: string): Promise<void> {
  const skipped0 = counter(sys, 'pages_skipped');
  const sharing: number[] = [];
  const skipped: number[] = [];
  let prevSkipped = skipped0;
  for (let pass = 1; pass <= WATCH; pass++) {
    await onePass(sys);
    const sk = counter(sys, 'pages_skipped');
    sharing.push(counter(sys, 'pages_sharing'));
    skipped.push(sk - prevSkipped);
    prevSkipped = sk;
    if (CHECKPOINTS.includes(pass)) {
      check(sys, `${name}.pass${pass}.pages_shared`, counter(sys, 'pages_shared'));
      check(sys, `${name}.pass${pass}.pages_sharing`, counter(sys, 'pages_sharing'));
      check(sys, `${name}.pass${pass}.pages_skipped_since_twin`, sk - skipped0);
    }
  }
  check(sys, `${name}.pages_sharing_by_pass`, sharing.join(','));
  check(sys, `${name}.pages_skipped_by_pass`, skipped.join(','));
}

async function guestA(sys: GuestSys): Promise<void> {
  const len = 2 * PAGES * sys.pageSize;
  const addr = sys.mmap(len);
  fillDistinct(sys, addr, PAGES, SEED_X);
  fillDistinct(sys, addr + PAGES * sys.pageSize, PAGES, SEED_Y);
  // ksmd waits with no mm to scan: __ksm_enter wakes it for A's first pass.
  const f0 = counter(sys, 'full_scans');
  sys.madvise(addr, len, MADV_MERGEABLE);
  await waitUntil(sys, () => counter(sys, 'full_scans') > f0, 'A\'s first pass', 10_000).catch(() => onePass(sys));
  let passes = 1;
  for (; passes < X_AT; passes++) await onePass(sys);
  check(sys, 'before_twin.pages_shared', counter(sys, 'pages_shared'));
  check(sys, 'before_twin.pages_unshared', counter(sys, 'pages_unshared'));
  raiseSignal(sys, 1); // B: map X
  await waitSignal(sys, 2);
  await watch(sys, 'x');
  passes += WATCH;
  for (; passes < Y_AT; passes++) await onePass(sys);
  raiseSignal(sys, 3); // B: map Y
  await waitSignal(sys, 4);
  await watch(sys, 'y');
  check(sys, 'end.pages_unshared', counter(sys, 'pages_unshared'));
  check(sys, 'end.a_merging', mergingPages(sys));
  raiseSignal(sys, 5); // B: report and exit
}

async function guestB(sys: GuestSys): Promise<void> {
  await waitSignal(sys, 1, 60_000);
  const x = sys.mmap(PAGES * sys.pageSize);
  fillDistinct(sys, x, PAGES, SEED_X);
  sys.madvise(x, PAGES * sys.pageSize, MADV_MERGEABLE);
  raiseSignal(sys, 2);
  await waitSignal(sys, 3, 60_000);
  const y = sys.mmap(PAGES * sys.pageSize);
  fillDistinct(sys, y, PAGES, SEED_Y);
  sys.madvise(y, PAGES * sys.pageSize, MADV_MERGEABLE);
  raiseSignal(sys, 4);
  await waitSignal(sys, 5, 60_000);
  check(sys, 'end.b_merging', mergingPages(sys));
}

export default async function main(sys: GuestSys, args: string[]): Promise<void> {
  const { index } = guestIndex(args);
  if (index === 0) await guestA(sys);
  else await guestB(sys);
}
