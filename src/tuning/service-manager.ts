// service-manager.ts — owns the `service NAME ACTION` verbs of a host with the RHEL services:
// ksm start|stop|status and ksmtuned start|stop|status|retune [conf], with LSB exit codes (status:
// 0 running, 3 stopped) and the lines a command prints. A live host keeps one ServiceManager over
// its TunedHost and hands each `ksmsim service …` request to command().

import { KsmService, readKsmSysconfig } from './ksm-service.ts';
import { KSMTUNED_DEFAULTS, readKsmtunedConf } from './ksmtuned-conf.ts';
import { KsmtunedDaemon, type KsmtunedDecision } from './ksmtuned-daemon.ts';
import type { Scheduler, TunedHost } from './tuned-host.ts';

export interface ServiceCommandResult {
  readonly code: number;
  readonly lines: readonly string[];
}

export interface ServiceManagerOptions {
  readonly scheduler?: Scheduler;
  /** ksmtuned's stdout (debug lines when LOGFILE is empty). */
  readonly stdout?: (line: string) => void;
  readonly onDecision?: (d: KsmtunedDecision) => void;
}

export class ServiceManager {
  private ksm: KsmService | undefined;
  private ksmtuned: KsmtunedDaemon | undefined;
  private ksmtunedConf: string | null = null;

  constructor(private readonly host: TunedHost, private readonly options: ServiceManagerOptions = {}) {}

  get tuned(): KsmtunedDaemon | undefined {
    return this.ksmtuned;
  }

  /** `service ksm ACTION [--sysconfig FILE]` / `service ksmtuned ACTION [--conf FILE]`. Bad files throw (the error names the line). */
  async command(service: string, action: string, file?: string): Promise<ServiceCommandResult> {
    if (service === 'ksm') return this.ksmCommand(action, file);
    if (service === 'ksmtuned') return this.ksmtunedCommand(action, file);
    return { code: 1, lines: [`service: unknown service ${JSON.stringify(service)} (ksm, ksmtuned)`] };
  }

  async shutdown(): Promise<void> {
    await this.ksmtuned?.stop();
  }

  private async ksmCommand(action: string, sysconfig?: string): Promise<ServiceCommandResult> {
    switch (action) {
      case 'start': {
        this.ksm = new KsmService(this.host, sysconfig ? readKsmSysconfig(sysconfig) : {});
        const { warnings } = await this.ksm.start();
        return { code: 0, lines: warnings.map((w) => `ksmctl: ${w}`) };
      }
      case 'stop':
        await (this.ksm ?? new KsmService(this.host)).stop();
        return { code: 0, lines: [] };
      case 'status': {
        const s = (this.ksm ?? new KsmService(this.host)).status();
        const lines = [`ksm.service - Kernel Samepage Merging: ${s.active ? 'active (exited)' : 'inactive (dead)'}`, `  run ${s.run}`];
        if (s.max_kernel_pages !== undefined) lines.push(`  max_kernel_pages ${s.max_kernel_pages}`);
        return { code: s.active ? 0 : 3, lines };
      }
      default:
        return { code: 1, lines: ['Usage: ksmctl {start|stop}'] };
    }
  }

  private async ksmtunedCommand(action: string, conf?: string): Promise<ServiceCommandResult> {
    const running = this.ksmtuned?.status().active ?? false;
    switch (action) {
      case 'start': {
        if (running) return { code: 0, lines: [] };
        const c = conf ? readKsmtunedConf(conf) : KSMTUNED_DEFAULTS;
        this.ksmtunedConf = conf ?? null;
        this.ksmtuned = new KsmtunedDaemon(this.host, c, { scheduler: this.options.scheduler, stdout: this.options.stdout, onDecision: this.options.onDecision });
        this.ksmtuned.start();
        return { code: 0, lines: [] };
      }
      case 'stop':
        await this.ksmtuned?.stop();
        return { code: 0, lines: [] };
      case 'retune':
        // The unit's reload (SysV: `retune`) sends SIGUSR1; with no daemon there is nothing to signal.
        if (!running) return { code: 7, lines: ['ksmtuned is not running'] };
        this.ksmtuned!.retune();
        await this.ksmtuned!.idle();
        return { code: 0, lines: [] };
      case 'status': {
        if (!running) return { code: 3, lines: ['ksmtuned.service - Kernel Samepage Merging (KSM) Tuning Daemon: inactive (dead)'] };
        const s = this.ksmtuned!.status();
        const last = s.last;
        return {
          code: 0,
          lines: [
            `ksmtuned.service - Kernel Samepage Merging (KSM) Tuning Daemon: active (running)${this.ksmtunedConf ? `, conf ${this.ksmtunedConf}` : ''}`,
            `  total ${s.boot!.total} kB, sleep ${s.boot!.sleep} ms, thres ${s.boot!.thres} kB, npages ${s.npages}, ${s.adjusts} adjusts`,
            ...(last ? [`  last adjust at ${last.t.toFixed(1)} s (${last.trigger}): committed ${last.committed_kb} free ${last.free_kb} → ${last.decision}`] : []),
          ],
        };
      }
      default:
        return { code: 1, lines: ['Usage: ksmtuned {start|stop|status|retune}'] };
    }
  }
}
