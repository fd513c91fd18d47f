// scripted-host.ts — a TunedHost whose meminfo and committed memory a test sets step by step, whose
// knobs are a plain map (with or without max_kernel_pages), and a clock the test advances by hand.

import { ErrnoError } from '../../src/mem/errno.ts';
import type { Meminfo, Scheduler, TunedHost } from '../../src/tuning/tuned-host.ts';

export class ScriptedHost implements TunedHost {
  mem: Meminfo;
  committed = 0;
  readonly knobs = new Map<string, string>([['run', '0'], ['pages_to_scan', '100'], ['sleep_millisecs', '20']]);
  /** Every knob write in order, as "name=value". */
  readonly writes: string[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(totalKb: number, withMaxKernelPages = false) {
    this.mem = { MemTotal: totalKb, MemFree: totalKb, Buffers: 0, Cached: 0 };
    if (withMaxKernelPages) this.knobs.set('max_kernel_pages', '2000');
  }

  /** The next adjust sees MemFree+Buffers+Cached = free (split over the three) and this RSS. */
  set(free: number, committed: number): void {
    const buffers = Math.floor(free / 4);
    const cached = Math.floor(free / 4);
    this.mem = { MemTotal: this.mem.MemTotal, MemFree: free - buffers - cached, Buffers: buffers, Cached: cached };
    this.committed = committed;
  }

  meminfo(): Meminfo { return this.mem; }
  committedKb(): number { return this.committed; }
  physPages(): number { return Math.floor(this.mem.MemTotal / 4); }
  hasKnob(name: string): boolean { return this.knobs.has(name); }
  readKnob(name: string): string {
    const v = this.knobs.get(name);
    if (v === undefined) throw new ErrnoError('ENOENT', 'open', `/sys/kernel/mm/ksm/${name}`);
    return v;
  }
  async writeKnob(name: string, value: string): Promise<void> {
    if (!this.knobs.has(name)) throw new ErrnoError('ENOENT', 'open', `/sys/kernel/mm/ksm/${name}`);
    this.writes.push(`${name}=${value}`);
    this.knobs.set(name, value);
  }
  onGuestStartStop(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  guestStarted(): void {
    for (const cb of this.listeners) cb();
  }
}

export class ManualClock implements Scheduler {
  private ms = Date.UTC(2026, 11, 6, 1, 36, 27);
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];

  now(): number { return this.ms; }
  after(ms: number, fn: () => void): () => void {
    const t = { at: this.ms + ms, fn, live: true };
    this.timers.push(t);
    return () => { t.live = false; };
  }
  /** Advance the clock, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.ms = due.at;
      due.fn();
    }
    this.ms = end;
    this.timers = this.timers.filter((t) => t.live);
  }
  pending(): number[] {
    return this.timers.filter((t) => t.live).map((t) => t.at - this.ms);
  }
}
