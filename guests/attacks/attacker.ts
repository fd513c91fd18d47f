// attacker.ts — the side-channel lab's attacker (docs/security.md), timing 1-byte writes with sys.now().
// probe: for each trial it writes all K candidate pages, waits for ksmd, times one write per candidate
// and names the slowest as the victim's secret (a merged page takes a copy-on-write fault).
// covert / zero: the receiver; each round it holds the agreed pages (covert) or one all-zero page
// (zero), and at the round's end reads a bit per page: slower than its calibrated threshold = 1.
// Waiting: polls the engine's full_scans (sysfs is world-readable), or with wait-ms=N sleeps N ms
// instead (probe). Under engine=dksm the probe does not wait and times no write: DKSM merges inside
// the attacker's own madvise of its read-only candidates (against the victim's pages, advised before
// it started), so it times that madvise, one candidate at a time.
// args: mode=probe|covert|zero seed=N trials=T candidates=K scans=S wait-ms=N bits=B period=P base=S engine=ksm|dksm|uksm
import { MADV_DONTNEED, PROT_READ, type GuestSys } from '../../src/guest/index.ts';
import {
  CONTENT, PAGE, ScanClock, advise, area, contentKey, engineArg, fillPages, intArg, median, parseArgs, report, timedAdvise, timedWrite,
} from './attack-kit.ts';
import type { EngineName } from '../../src/engines/engine.ts';

const CALIBRATION_PAIRS = 8;
const WARM_UP_PAGES = 8;

export default async function main(sys: GuestSys, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const mode = args.get('mode') ?? 'probe';
  const seed = intArg(args, 'seed', 1);
  const trials = intArg(args, 'trials', 20);
  const engine = engineArg(args);
  if (mode === 'probe') return probe(sys, args, engine, seed, trials);
  return receive(sys, args, new ScanClock(sys, engine), engine, mode, seed, trials);
}

async function probe(sys: GuestSys, args: Map<string, string>, engine: EngineName, seed: number, trials: number): Promise<number> {
  const k = intArg(args, 'candidates', 8);
  if (engine === 'dksm') return probeAdvice(sys, seed, trials, k);
  const clock = new ScanClock(sys, engine);
  const addr = area(sys, trials * k);
  fillPages(sys, addr, 0, trials * k, (i) => contentKey(seed, CONTENT.candidate, Math.floor(i / k), i % k));
  // Warm-up pages: pairs of its own that merge, and unique ones. The first writes after a sleep
  // cost several times a warm one (caches, JIT): they go to these, not to a candidate.
  const warm = area(sys, WARM_UP_PAGES);
  fillPages(sys, warm, 0, WARM_UP_PAGES, (i) => contentKey(seed, CONTENT.calibration, i < WARM_UP_PAGES / 2 ? i >> 1 : i));
  advise(sys, engine, addr, trials * k, true);
  advise(sys, engine, warm, WARM_UP_PAGES, true);
  sys.log('READY');
  const waitMs = args.get('wait-ms');
  if (waitMs !== undefined) await sys.sleep(Number(waitMs));
  else await clock.until(intArg(args, 'scans', 3));
  for (let i = 0; i < WARM_UP_PAGES; i += 2) timedWrite(sys, warm + i * PAGE, 0x5a);
  for (let i = 1; i < WARM_UP_PAGES; i += 2) timedWrite(sys, warm + i * PAGE, 0x5a);
  // No allocation while timing (a collection inside a timed write would look like a merge).
  const times = new Float64Array(trials * k);
  for (let i = 0; i < trials * k; i++) times[i] = timedWrite(sys, addr + i * PAGE, 0xa5);
  const ns = Array.from({ length: trials }, (_, t) => [...times.subarray(t * k, (t + 1) * k)]);
  const guesses = ns.map((row) => row.indexOf(Math.max(...row)));
  report(sys, 'RESULT', { guesses, ns });
  return 0;
}

/** Copies of each candidate the probe under DKSM advises, one round each (their median is its time). */
const ADVICE_ROUNDS = 21;

/**
 * The probe under DKSM: every advised page becomes a copy-on-write frame (merged or only filed), so a
 * write no longer tells them apart; the merge itself does, inside the attacker's madvise. Each
 * candidate is made read-only and advised on its own, timed; the slowest advice names the secret.
 * One timed advice is a few microseconds of signal under tens of microseconds of call, with rare
 * preemptions of hundreds: so each candidate is advised in ADVICE_ROUNDS fresh copies, and each
 * round's copies are dropped (MADV_DONTNEED) before the next, so a candidate's next copy does not
 * merge with the attacker's own filed one (DKSM drops the entry of a freed frame at its next lookup).
 */
function probeAdvice(sys: GuestSys, seed: number, trials: number, k: number): number {
  const n = trials * k;
  const addr = area(sys, n * ADVICE_ROUNDS);
  const warm = area(sys, WARM_UP_PAGES);
  fillPages(sys, warm, 0, WARM_UP_PAGES, (i) => contentKey(seed, CONTENT.calibration, i < WARM_UP_PAGES / 2 ? i >> 1 : i));
  sys.mprotect(warm, WARM_UP_PAGES * PAGE, PROT_READ);
  sys.log('READY');
  // Warm both paths first: the pairs' second pages merge, the others are filed.
  for (let i = 0; i < WARM_UP_PAGES; i++) timedAdvise(sys, warm + i * PAGE);
  const times = new Float64Array(n * ADVICE_ROUNDS);
  for (let r = 0; r < ADVICE_ROUNDS; r++) {
    const round = addr + r * n * PAGE;
    fillPages(sys, round, 0, n, (i) => contentKey(seed, CONTENT.candidate, Math.floor(i / k), i % k));
    sys.mprotect(round, n * PAGE, PROT_READ);
    for (let i = 0; i < n; i++) times[r * n + i] = timedAdvise(sys, round + i * PAGE);
    sys.madvise(round, n * PAGE, MADV_DONTNEED);
  }
  const ns = Array.from({ length: trials }, (_, t) => Array.from({ length: k }, (_, c) => Math.min(...Array.from({ length: ADVICE_ROUNDS }, (_, r) => times[r * n + t * k + c]!))));
  const guesses = ns.map((row) => row.indexOf(Math.max(...row)));
  report(sys, 'RESULT', { guesses, ns });
  return 0;
}

/**
 * Calibration pages, written before READY: pairs of equal pages of its own (they merge with each
 * other whatever the victim does) and as many unique pages. Timed once at `base` full scans, they
 * warm the fault paths; each round then brings its own pair and unique page (see receive), because
 * a write after milliseconds of sleep costs more than one in a warm loop.
 */
async function calibrate(sys: GuestSys, clock: ScanClock, engine: EngineName, seed: number, base: number): Promise<{ mergedNs: number; privateNs: number }> {
  const addr = area(sys, CALIBRATION_PAIRS * 3);
  advise(sys, engine, addr, CALIBRATION_PAIRS * 3);
  fillPages(sys, addr, 0, CALIBRATION_PAIRS * 3, (i) => contentKey(seed, CONTENT.calibration, i < CALIBRATION_PAIRS * 2 ? i >> 1 : i));
  sys.log('READY');
  await clock.until(base);
  const merged = Array.from({ length: CALIBRATION_PAIRS }, (_, i) => timedWrite(sys, addr + 2 * i * PAGE, 0x5a));
  const unique = Array.from({ length: CALIBRATION_PAIRS }, (_, i) => timedWrite(sys, addr + (2 * CALIBRATION_PAIRS + i) * PAGE, 0x5a));
  return { mergedNs: median(merged), privateNs: median(unique) };
}

/**
 * Per round: two pairs of equal pages of its own (merged by the round's end) and one unique page.
 * The first pair and the first write to the unique page only warm the paths after the sleep.
 */
const REFERENCE_PAGES = 5;

async function receive(sys: GuestSys, args: Map<string, string>, clock: ScanClock, engine: EngineName, mode: string, seed: number, trials: number): Promise<number> {
  const bits = mode === 'zero' ? 1 : intArg(args, 'bits', 16);
  const period = intArg(args, 'period', 4);
  const base = intArg(args, 'base', 4);
  const addr = area(sys, trials * bits);
  advise(sys, engine, addr, trials * bits);
  const refs = area(sys, trials * REFERENCE_PAGES);
  advise(sys, engine, refs, trials * REFERENCE_PAGES);
  const cal = await calibrate(sys, clock, engine, seed, base);
  const received: number[] = [];
  const ns: number[] = [];
  const thresholds: number[] = [];
  const t0 = sys.now();
  for (let r = 0; r < trials; r++) {
    await clock.until(base + r * period);
    for (let b = 0; b < bits; b++) {
      const page = r * bits + b;
      if (mode === 'zero') sys.memset(addr + page * PAGE, 0, PAGE);
      else fillPages(sys, addr, page, 1, () => contentKey(seed, CONTENT.bit, page));
    }
    const ref = refs + r * REFERENCE_PAGES * PAGE;
    // The pairs hold all-0xff bytes, which merge under every mitigation but domains and vusion (zero-only
    // included) and never equal a probe page; the fifth page is unique.
    sys.memset(ref, 0xff, 4 * PAGE);
    fillPages(sys, ref, 4, 1, () => contentKey(seed, CONTENT.calibration, 1_000_000 + r));
    await clock.until(base + (r + 1) * period);
    timedWrite(sys, ref + 4 * PAGE, 0x5a);
    timedWrite(sys, ref, 0x5a);
    const threshold = Math.sqrt(timedWrite(sys, ref + 2 * PAGE, 0x5a) * timedWrite(sys, ref + 4 * PAGE, 0x5a));
    thresholds.push(threshold);
    for (let b = 0; b < bits; b++) {
      const t = timedWrite(sys, addr + (r * bits + b) * PAGE, 0xa5);
      ns.push(t);
      received.push(t > threshold ? 1 : 0);
    }
  }
  report(sys, 'RESULT', { received, ns, seconds: (sys.now() - t0) / 1000, thresholds, ...cal });
  return 0;
}
