// uksm-scanner.ts — owns UKSM's scanner: every private anonymous page of every running guest, in
// rounds, on the host's own thread, in slices whose length the governor bounds: per sleep_millisecs
// of sleep it scans at most sleep_millisecs × max_cpu_percentage / (100 − max_cpu_percentage) ms
// (in chunks of at most 20 ms with the sleep shortened in proportion, so the host's event loop
// keeps running), so its share of one core stays at or under max_cpu_percentage.
// (uksm.c spreads a round over its scan ladder by cpu_ratios and eval_intervals; the emulator keeps
// those knobs and bounds the total by max_cpu, which is what a user sees: docs/engines.md.)

import type { GuestSpaceHandles } from '../../mem/guest-control.ts';
import { CTL_VA_HIGH } from '../../mem/guest-control.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import type { KsmState } from '../../ksm/ksm-state.ts';
import { ThreadCpuReader } from '../../ksm/thread-cpu.ts';
import { PartialHasher, StrengthController, samplingPermutation } from './partial-hash.ts';
import { UksmMerger, type GuestView } from './uksm-merge.ts';
import type { UksmState } from './uksm-state.ts';

/** The longest the scanner holds the host's thread at once. */
const MAX_CHUNK_MS = 20;
/** Pages between clock reads inside a slice. */
const CHECK_EVERY = 64;

export class UksmScanner {
  readonly merger: UksmMerger;
  /** Wall time spent scanning (ms). */
  busyMs = 0;
  /** Thread CPU spent scanning (ms; null where /proc/thread-self is missing). */
  cpuMs: number | null = 0;
  private readonly cpu = new ThreadCpuReader();
  private readonly state: UksmState;
  private readonly guests: () => readonly GuestSpaceHandles[];
  private readonly views = new Map<number, GuestView>();
  private guestIndex = 0;
  private page = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(state: UksmState, mem: PhysicalMemory, ksm: KsmState, guests: () => readonly GuestSpaceHandles[], seed = 0x75b5) {
    this.state = state;
    this.guests = guests;
    const strength = new StrengthController(state.get('hash_strength'));
    this.merger = new UksmMerger(mem, new PartialHasher(mem, samplingPermutation(seed)), strength, (d) => ksm.add('ksm_zero_pages', d));
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.cpu.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Scan for at most `budgetMs`, or to the end of the current round (whichever is first; no budget: the round); returns pages scanned. */
  slice(budgetMs?: number): number {
    const cpu0 = this.cpu.ms();
    try {
      return this.sliceTimed(budgetMs);
    } finally {
      const cpu1 = this.cpu.ms();
      this.cpuMs = cpu0 === null || cpu1 === null || this.cpuMs === null ? null : this.cpuMs + (cpu1 - cpu0);
    }
  }

  private sliceTimed(budgetMs?: number): number {
    const t0 = performance.now();
    const list = this.guests();
    let scanned = 0;
    for (;;) {
      if (this.guestIndex >= list.length) {
        // A round boundary ends the slice: the next round starts after a sleep, so full_scans
        // counts rounds at most once per slice, however little memory the guests have.
        this.endRound();
        break;
      }
      const h = list[this.guestIndex];
      if (!h) break;
      const g = this.view(h);
      const high = Math.min(h.vaPages, Atomics.load(g.ctl, CTL_VA_HIGH));
      while (this.page < high) {
        this.merger.scanPage(g, this.page++);
        scanned++;
        if (budgetMs !== undefined && scanned % CHECK_EVERY === 0 && performance.now() - t0 >= budgetMs) {
          return this.account(scanned, t0);
        }
      }
      this.guestIndex++;
      this.page = 0;
    }
    return this.account(scanned, t0);
  }

  private account(scanned: number, t0: number): number {
    const ms = performance.now() - t0;
    this.busyMs += ms;
    this.state.add('pages_scanned', scanned);
    if (scanned > 0) {
      const ns = Math.round((ms * 1e6) / scanned);
      const ema = this.state.get('ema_per_page_time');
      this.state.set('ema_per_page_time', Math.round(ema + (ns - ema) / 8));
    }
    this.merger.processDeferred();
    return scanned;
  }

  private endRound(): void {
    this.guestIndex = 0;
    this.page = 0;
    this.state.add('full_scans');
    const m = this.merger;
    const before = m.strength.strength;
    m.strength.update(m.stats.collisions, m.stats.hashed);
    m.stats.collisions = 0;
    m.stats.hashed = 0;
    if (m.strength.strength !== before) m.rehash();
    else m.endRound();
    this.state.set('hash_strength', m.strength.strength);
    const s = m.sharing();
    this.state.setCounter('pages_shared', s.shared);
    this.state.setCounter('pages_sharing', s.sharing);
    this.state.setCounter('pages_unshared', s.unshared);
    for (const pid of [...this.views.keys()]) if (!this.guests().some((h) => h.pid === pid)) this.views.delete(pid);
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
        const pct = this.state.get('max_cpu_percentage');
        // The host's event loop shares this thread: run in chunks of at most MAX_CHUNK_MS and
        // shorten the sleep in proportion, so the duty cycle stays pct / 100.
        const budget = (sleep * pct) / (100 - pct);
        const chunk = Math.min(budget, MAX_CHUNK_MS);
        this.slice(chunk);
        sleep = Math.max(1, (sleep * chunk) / budget);
      }
      this.state.add('sleep_times');
      this.schedule(sleep);
    }, ms);
  }
}
