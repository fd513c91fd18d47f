// uksm-scanner.ts — owns UKSM's scanner thread: wake-ups (scan periods) on the host's own thread,
// each scanning the ladder's rungs up to their quotas (uksm-ladder.ts: cpu_ratios, eval_intervals,
// the areas moving between rungs), in chunks of at most 20 ms so the host's event loop keeps
// running; the merging of each page (uksm-merge.ts); and the per-round work (hash strength,
// pages_shared/sharing/unshared, full_scans). Its share of one core stays at or under the highest
// share among the rungs that have areas, itself at most max_cpu_percentage.

import type { GuestSpaceHandles } from '../../mem/guest-control.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import type { KsmState } from '../../ksm/ksm-state.ts';
import { ThreadCpuReader } from '../../ksm/thread-cpu.ts';
import { PartialHasher, StrengthController, samplingPermutation } from './partial-hash.ts';
import { UksmMerger, type GuestView } from './uksm-merge.ts';
import { PAGE_MERGED, PAGE_WAS_PRIVATE, ScanLadder, type LadderGuest, type LadderSlot } from './uksm-ladder.ts';
import { isPrivateFrame } from '../../mem/pte.ts';
import { TIME_RATIO_SCALE, type UksmState } from './uksm-state.ts';

/** The longest the scanner holds the host's thread at once. */
const MAX_CHUNK_MS = 20;
/** uksm_do_scan: "We have a 1 second up bound for responsiveness." */
const MAX_SLEEP_MS = 1000;

export interface UksmScannerOptions {
  /** The sampling permutation's and the ladder's seed. */
  readonly seed?: number;
  /** A fixed cost per page (ns) in place of the measured average: a repeatable ladder for tests. */
  readonly pageTimeNs?: number;
}

export class UksmScanner {
  readonly merger: UksmMerger;
  readonly ladder: ScanLadder;
  /** Wall time spent scanning (ms). */
  busyMs = 0;
  /** Thread CPU spent scanning (ms; null where /proc/thread-self is missing). */
  cpuMs: number | null = 0;
  private readonly cpu = new ThreadCpuReader();
  private readonly state: UksmState;
  private readonly guests: () => readonly GuestSpaceHandles[];
  private readonly fixedPageTime: number | undefined;
  private readonly views = new Map<number, GuestView>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(state: UksmState, mem: PhysicalMemory, ksm: KsmState, guests: () => readonly GuestSpaceHandles[], options: UksmScannerOptions = {}) {
    this.state = state;
    this.guests = guests;
    const seed = options.seed ?? 0x75b5;
    this.fixedPageTime = options.pageTimeNs;
    if (options.pageTimeNs !== undefined) state.set('ema_per_page_time', options.pageTimeNs);
    const strength = new StrengthController(state.get('hash_strength'));
    this.merger = new UksmMerger(mem, new PartialHasher(mem, samplingPermutation(seed)), strength, (d) => ksm.add('ksm_zero_pages', d));
    this.ladder = new ScanLadder(state, seed ^ 0x1add);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.cpu.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** One wake-up's scan, or what is left of it, for at most `budgetMs` (none: to its end); returns pages scanned. */
  period(budgetMs?: number): number {
    const cpu0 = this.cpu.ms();
    try {
      return this.periodTimed(budgetMs);
    } finally {
      const cpu1 = this.cpu.ms();
      this.cpuMs = cpu0 === null || cpu1 === null || this.cpuMs === null ? null : this.cpuMs + (cpu1 - cpu0);
    }
  }

  /** Scan periods until a round ends (every rung with areas has finished a pass), at most `maxPeriods`; returns pages scanned. */
  slice(maxPeriods = 100_000): number {
    const round = this.ladder.evalRound;
    let n = 0;
    for (let i = 0; i < maxPeriods; i++) {
      n += this.period();
      if (this.ladder.evalRound !== round || this.ladder.areas === 0) break;
    }
    return n;
  }

  private periodTimed(budgetMs?: number): number {
    const t0 = performance.now();
    const list = this.guests();
    for (const h of list) this.view(h);
    // Every chunk: guests that exited since the last one must not be scanned (their areas leave).
    this.ladder.sync(list.map((h): LadderGuest => ({ pid: h.pid, ctl: this.views.get(h.pid)!.ctl, vmas: new Int32Array(h.vmaTable) })));
    if (this.ladder.periodDone) this.ladder.startPeriod(this.fixedPageTime ?? this.state.get('ema_per_page_time'), this.fixedPageTime === undefined);
    // The cost per page is the rung loop's alone (uksm_do_scan's delta_exec / vpages), not the areas' bookkeeping.
    const t1 = performance.now();
    const scanned = this.ladder.scan((slot, i) => this.visit(slot, i), () => budgetMs === undefined || performance.now() - t0 < budgetMs);
    this.account(scanned, t1);
    if (this.ladder.periodDone) {
      if (this.ladder.endPeriod()) this.endRound();
      else if (this.ladder.areas === 0) this.publishSharing();
    }
    return scanned;
  }

  private visit(slot: LadderSlot, index: number): number {
    const g = this.views.get(slot.pid);
    if (!g) return 0;
    const p = slot.start + index;
    const was = isPrivateFrame(Atomics.load(g.pt, p)) ? PAGE_WAS_PRIVATE : 0;
    return this.merger.scanPage(g, p) ? was | PAGE_MERGED : was;
  }

  private account(scanned: number, t0: number): void {
    const ms = performance.now() - t0;
    this.busyMs += ms;
    this.state.add('pages_scanned', scanned);
    if (scanned > 0 && this.fixedPageTime === undefined) {
      const ns = Math.max(1, Math.round((ms * 1e6) / scanned));
      this.state.set('ema_per_page_time', this.ladder.nextPageTime(this.state.get('ema_per_page_time'), ns));
    }
    this.merger.processDeferred();
  }

  private endRound(): void {
    this.state.add('full_scans');
    const m = this.merger;
    const before = m.strength.strength;
    m.strength.update(m.stats.collisions, m.stats.hashed);
    m.stats.collisions = 0;
    m.stats.hashed = 0;
    if (m.strength.strength !== before) m.rehash();
    else m.endRound();
    this.state.set('hash_strength', m.strength.strength);
    this.publishSharing();
    const list = this.guests();
    for (const pid of [...this.views.keys()]) if (!list.some((h) => h.pid === pid)) this.views.delete(pid);
  }

  private publishSharing(): void {
    const s = this.merger.sharing();
    this.state.setCounter('pages_shared', s.shared);
    this.state.setCounter('pages_sharing', s.sharing);
    this.state.setCounter('pages_unshared', s.unshared);
  }

  private view(h: GuestSpaceHandles): GuestView {
    let v = this.views.get(h.pid);
    if (!v) {
      v = { pid: h.pid, pt: new Int32Array(h.pageTable), ctl: new Int32Array(h.control), homeNode: h.homeNode };
      this.views.set(h.pid, v);
    }
    return v;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      let sleep = Math.max(1, this.state.get('sleep_millisecs'));
      if (this.state.get('run') === 1) {
        const t0 = performance.now();
        // The host's event loop shares this thread: at most MAX_CHUNK_MS at once.
        this.period(MAX_CHUNK_MS);
        const took = performance.now() - t0;
        // uksm_do_scan's upper bound: sleep long enough that scanning stays within the highest
        // share among the rungs with areas (at most max_cpu_percentage).
        const r = this.ladder.maxRatio();
        const bound = r > 0 ? (took * (TIME_RATIO_SCALE - r)) / r : 0;
        // (At most 1 s either way: "a 1 second up bound for responsiveness" — a slow chunk, say one
        // that met a garbage collection, must not put the scanner to sleep for minutes.)
        if (!this.ladder.periodDone) sleep = Math.min(MAX_SLEEP_MS, Math.max(1, bound));
        else {
          sleep = Math.min(MAX_SLEEP_MS, Math.max(sleep, bound));
          this.state.add('sleep_times');
        }
      }
      this.schedule(sleep);
    }, ms);
  }
}
