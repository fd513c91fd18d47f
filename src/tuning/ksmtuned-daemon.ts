// ksmtuned-daemon.ts — owns the ksmtuned service: the loop that sleeps KSM_MONITOR_INTERVAL and runs
// `adjust` against a TunedHost, the SIGUSR1 retune (which libvirt's guest start/stop stands for here),
// the KSMCTL knob writes, the debug log, and a record of every decision for the JSON time series.

import { ksmtunedAdjust, ksmtunedBoot, type AdjustStep, type KsmtunedBoot } from './ksmtuned-algorithm.ts';
import type { KsmtunedConf } from './ksmtuned-conf.ts';
import { debugSink, type DebugSink } from './ksmtuned-log.ts';
import { REAL_SCHEDULER, type Scheduler, type TunedHost } from './tuned-host.ts';

/** One `adjust` as it happened: what ksmtuned saw and decided, and any knob write that failed. */
export interface KsmtunedDecision {
  /** Seconds on the service clock since ksmtuned started. */
  readonly t: number;
  readonly trigger: 'interval' | 'retune';
  readonly committed_kb: number;
  readonly free_kb: number;
  readonly thres_kb: number;
  readonly total_kb: number;
  readonly decision: AdjustStep['decision'];
  readonly npages: number;
  readonly sleep_millisecs: number;
  readonly lines: readonly string[];
  /** `echo N > file` failures, as bash reports them (the script goes on regardless). */
  readonly errors: readonly string[];
}

export interface KsmtunedOptions {
  readonly scheduler?: Scheduler;
  /** Where debug lines go when LOGFILE is empty (the script's stdout). */
  readonly stdout?: (line: string) => void;
  /** Every decision, as it is made (for dashboards). */
  readonly onDecision?: (d: KsmtunedDecision) => void;
}

export interface KsmtunedStatus {
  readonly active: boolean;
  readonly npages: number;
  readonly boot: KsmtunedBoot | undefined;
  readonly adjusts: number;
  readonly last: KsmtunedDecision | undefined;
}

export class KsmtunedDaemon {
  readonly decisions: KsmtunedDecision[] = [];
  private readonly scheduler: Scheduler;
  private readonly debug: DebugSink;
  private boot: KsmtunedBoot | undefined;
  private npages = 0;
  private startedMs = 0;
  private cancelTimer: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private adjusting: Promise<void> | undefined;
  private active = false;

  constructor(private readonly host: TunedHost, readonly conf: KsmtunedConf, private readonly options: KsmtunedOptions = {}) {
    this.scheduler = options.scheduler ?? REAL_SCHEDULER;
    this.debug = debugSink(conf.DEBUG, conf.LOGFILE, options.stdout ?? ((l) => process.stdout.write(`${l}\n`)));
  }

  /** The script's start: total, sleep, thres, npages=0; the first adjust after one interval. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.startedMs = this.scheduler.now();
    this.boot = ksmtunedBoot(this.conf, this.host.meminfo().MemTotal);
    this.npages = 0;
    for (const l of this.boot.lines) this.debug(l, this.startedMs);
    this.unsubscribe = this.host.onGuestStartStop(() => this.retune());
    this.arm();
  }

  /**
   * SIGUSR1: the trap interrupts `wait` on the sleep, so adjust runs at once and a new interval
   * begins. A signal that arrives while adjust itself runs only ends a command early in bash and is
   * otherwise lost: the loop then sleeps a full interval. We keep that: a retune during an adjust is
   * dropped (returns false).
   */
  retune(): boolean {
    if (!this.active || this.adjusting) return false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    void this.runAdjust('retune');
    return true;
  }

  /** systemctl stop: the loop ends; KSM's knobs stay as ksmtuned last wrote them. */
  async stop(): Promise<void> {
    this.active = false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.adjusting;
  }

  status(): KsmtunedStatus {
    return { active: this.active, npages: this.npages, boot: this.boot, adjusts: this.decisions.length, last: this.decisions.at(-1) };
  }

  /** Wait for an adjust in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.adjusting;
  }

  private arm(): void {
    if (!this.active) return;
    this.cancelTimer = this.scheduler.after(this.conf.KSM_MONITOR_INTERVAL * 1000, () => {
      this.cancelTimer = undefined;
      void this.runAdjust('interval');
    });
  }

  private runAdjust(trigger: KsmtunedDecision['trigger']): Promise<void> {
    // A failed read of the host (it shut down under us) ends this adjust, as a failed awk would
    // leave the script's numbers empty; the loop goes on.
    const p = this.adjust(trigger).catch((e: Error) => (this.options.stdout ?? console.error)(`ksmtuned: adjust failed: ${e.message}`)).finally(() => {
      this.adjusting = undefined;
      this.arm();
    });
    this.adjusting = p;
    return p;
  }

  private async adjust(trigger: KsmtunedDecision['trigger']): Promise<void> {
    const boot = this.boot!;
    const m = this.host.meminfo();
    const free = m.MemFree + m.Buffers + m.Cached;
    const committed = this.host.committedKb();
    const step = ksmtunedAdjust(this.conf, boot, this.npages, free, committed);
    this.npages = step.npages;
    const at = this.scheduler.now();
    const errors: string[] = [];
    const write = async (name: string, value: number) => {
      try {
        await this.host.writeKnob(name, String(value));
      } catch (e) {
        errors.push(`echo ${value} > /sys/kernel/mm/ksm/${name}: ${(e as Error).message}`);
      }
    };
    // Lines are printed where the script prints them: the stop line after KSMCTL stop, the start
    // and boost/decay lines before KSMCTL start, its echo after.
    this.debug(step.lines[0]!, at);
    if (step.ksmctl.kind === 'stop') {
      await write('run', 0);
      this.debug(step.lines[1]!, at);
    } else {
      for (const l of step.lines.slice(1, 3)) this.debug(l, at);
      await write('pages_to_scan', step.ksmctl.npages);
      await write('sleep_millisecs', step.ksmctl.sleep);
      await write('run', 1);
      this.debug(step.lines[3]!, at);
    }
    const d: KsmtunedDecision = {
      t: (at - this.startedMs) / 1000, trigger, committed_kb: committed, free_kb: free, thres_kb: boot.thres, total_kb: boot.total,
      decision: step.decision, npages: step.npages, sleep_millisecs: boot.sleep, lines: step.lines, errors,
    };
    this.decisions.push(d);
    this.options.onDecision?.(d);
  }
}
