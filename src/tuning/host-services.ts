// host-services.ts — owns the services a batch run starts on its host (`--service ksm[=SYSCONFIG]`,
// `--service ksmtuned[=CONF]`): parsing the flag, starting them in the units' order (ksm, then
// ksmtuned), stopping them, and what they report for the JSON (ksmtuned's decisions as a time series).

import { KsmService, readKsmSysconfig, type KsmServiceStatus } from './ksm-service.ts';
import { KSMTUNED_DEFAULTS, readKsmtunedConf, type KsmtunedConf } from './ksmtuned-conf.ts';
import { KsmtunedDaemon, type KsmtunedDecision } from './ksmtuned-daemon.ts';
import type { KsmtunedBoot } from './ksmtuned-algorithm.ts';
import type { TunedHost } from './tuned-host.ts';

export interface ServiceSpec {
  readonly name: 'ksm' | 'ksmtuned';
  /** ksm: the /etc/sysconfig/ksm file; ksmtuned: the ksmtuned.conf (default: none, the script's defaults). */
  readonly file?: string;
}

/** Commander collector for the repeatable `--service NAME[=FILE]`. */
export function collectService(value: string, previous: ServiceSpec[] = []): ServiceSpec[] {
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  const file = eq < 0 ? undefined : value.slice(eq + 1);
  if (name !== 'ksm' && name !== 'ksmtuned') throw new Error(`--service ${JSON.stringify(value)}: expected ksm[=SYSCONFIG] or ksmtuned[=CONF]`);
  if (file === '') throw new Error(`--service ${name}=: empty file name`);
  if (previous.some((s) => s.name === name)) throw new Error(`--service ${name} given twice`);
  return [...previous, { name, file }];
}

export interface ServicesReport {
  readonly ksm?: { readonly sysconfig: string | null; readonly status: KsmServiceStatus; readonly warnings: readonly string[] };
  readonly ksmtuned?: {
    readonly conf_file: string | null;
    readonly conf: KsmtunedConf;
    readonly boot: KsmtunedBoot | undefined;
    /** Every adjust: t (s since ksmtuned started), trigger, committed/free kB, decision, npages, debug lines. */
    readonly decisions: readonly KsmtunedDecision[];
  };
}

export interface RunningServices {
  readonly ksm?: KsmService;
  readonly ksmtuned?: KsmtunedDaemon;
  /** Stop ksmtuned (knobs stay); the ksm service is left as it is, as at shutdown of a batch host. */
  stop(): Promise<void>;
  report(): ServicesReport;
}

export interface StartServicesOptions {
  /** ksmtuned's stdout (its debug lines when LOGFILE is empty). */
  readonly stdout?: (line: string) => void;
  readonly onDecision?: (d: KsmtunedDecision) => void;
}

/** Read every file first (a bad conf stops the run before anything started), then start in order. */
export async function startServices(host: TunedHost, specs: readonly ServiceSpec[], options: StartServicesOptions = {}): Promise<RunningServices> {
  const ksmSpec = specs.find((s) => s.name === 'ksm');
  const tunedSpec = specs.find((s) => s.name === 'ksmtuned');
  const sysconfig = ksmSpec?.file ? readKsmSysconfig(ksmSpec.file) : {};
  const conf = tunedSpec?.file ? readKsmtunedConf(tunedSpec.file) : KSMTUNED_DEFAULTS;
  let ksm: KsmService | undefined;
  let warnings: string[] = [];
  if (ksmSpec) {
    ksm = new KsmService(host, sysconfig);
    warnings = (await ksm.start()).warnings;
  }
  let ksmtuned: KsmtunedDaemon | undefined;
  if (tunedSpec) {
    ksmtuned = new KsmtunedDaemon(host, conf, { stdout: options.stdout, onDecision: options.onDecision });
    ksmtuned.start();
  }
  return {
    ksm,
    ksmtuned,
    stop: async () => {
      await ksmtuned?.stop();
    },
    report: () => ({
      ...(ksm ? { ksm: { sysconfig: ksmSpec?.file ?? null, status: ksm.status(), warnings } } : {}),
      ...(ksmtuned ? { ksmtuned: { conf_file: tunedSpec?.file ?? null, conf, boot: ksmtuned.status().boot, decisions: [...ksmtuned.decisions] } } : {}),
    }),
  };
}
