// tuner-run.ts — owns `ksmsim density --tuner`: the same fleet (and schedule) on a fresh host under
// each tuner — fixed knobs, ksmtuned (with the ksm service, as RHEL runs it), or the kernel's
// advisor_mode=scan-time — sampling the saving, ksmd's thread CPU time and the knobs each chose.

import type { GuestHandle, Host } from '../host/host.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { KSM_DIR } from '../ksm/sysfs.ts';
import { EmulatedTunedHost } from '../tuning/emulated-tuned-host.ts';
import { startServices, type RunningServices, type ServicesReport } from '../tuning/host-services.ts';
import { applyKnobs, DENSITY_DEFAULT_KNOBS, expand, startHost, usedBytes, type DensityOptions } from './density-host.ts';
import type { FleetEntry } from './density-types.ts';
import { describeEvent, type ScheduleEvent } from './fleet-schedule.ts';

export type TunerName = 'fixed' | 'ksmtuned' | 'advisor';
export const TUNER_NAMES: readonly TunerName[] = ['fixed', 'ksmtuned', 'advisor'];

export interface TunerSpec {
  readonly name: TunerName;
  /** ksmtuned only: its ksmtuned.conf (default: the script's defaults). */
  readonly conf?: string;
}

/** `fixed`, `ksmtuned[=CONF]`, `advisor`, or `all` (the three, ksmtuned with its defaults). */
export function parseTuner(value: string): TunerSpec[] {
  if (value === 'all') return TUNER_NAMES.map((name) => ({ name }));
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  if (!(TUNER_NAMES as readonly string[]).includes(name)) throw new Error(`--tuner ${JSON.stringify(value)}: expected fixed, ksmtuned[=CONF], advisor or all`);
  if (eq >= 0 && name !== 'ksmtuned') throw new Error(`--tuner ${value}: only ksmtuned takes a file`);
  if (eq >= 0 && value.slice(eq + 1) === '') throw new Error('--tuner ksmtuned=: empty file name');
  return [{ name: name as TunerName, conf: eq < 0 ? undefined : value.slice(eq + 1) }];
}

export function tunerLabel(t: TunerSpec): string {
  return t.conf ? `${t.name} (${t.conf.replace(/^.*\//, '')})` : t.name;
}

export interface TunerSample {
  /** Seconds after the starting fleet was up (negative while it boots). */
  readonly t: number;
  readonly guests: number;
  readonly memory_used_bytes: number;
  /** (pages_sharing + ksm_zero_pages) × page size. */
  readonly saved_bytes: number;
  readonly pages_shared: number;
  readonly pages_sharing: number;
  readonly full_scans: number;
  readonly run: number;
  readonly pages_to_scan: number;
  readonly sleep_millisecs: number;
  /** ksmd's thread CPU time since the fleet was up (null before, or without /proc/thread-self). */
  readonly ksmd_cpu_seconds: number | null;
}

export interface TunerRun {
  readonly tuner: TunerName;
  /** The tuner's name, with its conf file's base name when it has one ("ksmtuned (ksmtuned-10s.conf)"). */
  readonly label: string;
  readonly conf: string | null;
  /** Knobs written before the first guest (the tuner then changes them). */
  readonly knobs_at_start: Readonly<Record<string, string>>;
  readonly fleet_up_seconds: number;
  /** Schedule events as they happened, t after the fleet was up. */
  readonly events: ReadonlyArray<{ readonly t: number; readonly event: string }>;
  readonly series: readonly TunerSample[];
  readonly final_saved_bytes: number;
  /** Over the whole run after the fleet was up: time-weighted mean of saved_bytes. */
  readonly mean_saved_bytes: number;
  readonly ksmd_cpu_seconds: number | null;
  /** First t (after the fleet was up) with saved_bytes ≥ 95 % of final_saved_bytes; null if never or nothing saved. */
  readonly time_to_95_seconds: number | null;
  readonly seconds: number;
  readonly services?: ServicesReport;
}

export interface TunerComparison {
  readonly fleet: readonly FleetEntry[];
  readonly schedule: ReadonlyArray<{ readonly at: number; readonly event: string }>;
  readonly host: { readonly memory_bytes: number; readonly numa_nodes: number };
  /** Seconds each run lasted after the fleet was up: the last schedule event + settle seconds. */
  readonly run_seconds: number;
  readonly runs: readonly TunerRun[];
}

const TUNER_SAMPLE_MS = 250;
const ms = (seconds: number) => Math.round(seconds * 1000) / 1000;

const ADVISOR_KNOBS: ReadonlyArray<readonly [string, string]> = [['advisor_mode', 'scan-time'], ['run', '1']];

export async function runTuners(o: DensityOptions, fleet: readonly FleetEntry[], schedule: readonly ScheduleEvent[], tuners: readonly TunerSpec[], settleSeconds: number): Promise<TunerComparison> {
  const lastAt = schedule.reduce((m, e) => Math.max(m, e.at), 0);
  const runSeconds = lastAt + settleSeconds;
  const runs: TunerRun[] = [];
  for (const t of tuners) runs.push(await runOne(o, fleet, schedule, t, runSeconds));
  return {
    fleet, schedule: schedule.map((e) => ({ at: e.at, event: describeEvent(e) })),
    host: { memory_bytes: o.memoryBytes, numa_nodes: o.numaNodes }, run_seconds: runSeconds, runs,
  };
}

interface Running { readonly name: string; readonly workload: string; readonly handle: GuestHandle; ended: boolean }

async function runOne(o: DensityOptions, fleet: readonly FleetEntry[], schedule: readonly ScheduleEvent[], tuner: TunerSpec, runSeconds: number): Promise<TunerRun> {
  const ready = new Set<string>();
  const host = await startHost(o, ready);
  const tuned = new EmulatedTunedHost(host);
  const guests: Running[] = [];
  let services: RunningServices | undefined;
  const label = `[tuner ${tunerLabel(tuner)}]`;
  try {
    const base: Array<readonly [string, string]> = [['merge_across_nodes', o.mergeAcrossNodes === '0' ? '0' : '1']];
    const knobs = await applyKnobs(host, [
      ...base,
      ...(tuner.name === 'fixed' ? DENSITY_DEFAULT_KNOBS : []),
      ...o.knobs,
      ...(tuner.name === 'advisor' ? ADVISOR_KNOBS : []),
    ]);
    const plans = [...expand(fleet), ...schedule.flatMap((e) => ('start' in e ? expand(e.start) : []))];
    for (const program of new Set(plans.map((g) => g.program))) host.prepare(program);
    // ksm.service then ksmtuned.service, before the first guest, as at boot.
    if (tuner.name === 'ksmtuned') services = await startServices(tuned, [{ name: 'ksm' }, { name: 'ksmtuned', file: tuner.conf }], { stdout: o.log });
    const nextIndex = new Map<string, number>();
    const launch = (entries: readonly FleetEntry[]) => {
      for (const g of expand(entries)) {
        const stem = g.name.replace(/\.\d+$/, '');
        const i = nextIndex.get(stem) ?? 0;
        nextIndex.set(stem, i + 1);
        const name = `${stem}.${i}`;
        const r: Running = { name, workload: g.entry.workload, handle: tuned.track(host.launch(g.program, { name, args: g.entry.args })), ended: false };
        void r.handle.done.finally(() => { r.ended = true; });
        guests.push(r);
      }
    };
    const t0 = performance.now();
    launch(fleet);
    const initial = [...guests];
    const series: TunerSample[] = [];
    let upAt: number | undefined;
    let cpuAtUp: number | null = null;
    let sampling = false;
    const sample = async () => {
      if (sampling) return;
      sampling = true;
      try {
        const stats = upAt === undefined ? undefined : await host.ksmd?.stats();
        series.push(takeSample(host, t0, upAt === undefined ? null : cpuSince(stats?.cpuMs, cpuAtUp), guests));
      } finally {
        sampling = false;
      }
      const s = series.at(-1)!;
      o.status?.(`${label} ${upAt === undefined ? `booting ${ready.size}/${initial.length}` : `t=${(s.t - (upAt - t0) / 1000).toFixed(0)}/${runSeconds} s`} · saved ${(s.saved_bytes / 2 ** 20).toFixed(1)} MiB · run ${s.run} pages_to_scan ${s.pages_to_scan} sleep ${s.sleep_millisecs}`);
    };
    // A sample every 250 ms at least: runs last minutes, and four knobs plus counters per sample add up.
    const timer = setInterval(() => void sample(), Math.max(o.sampleMs, TUNER_SAMPLE_MS));
    const events: Array<{ t: number; event: string }> = [];
    try {
      const deadline = Date.now() + 120_000;
      while (!initial.every((g) => ready.has(g.name))) {
        const dead = initial.find((g) => g.ended && !ready.has(g.name));
        if (dead) throw new Error(`${label} guest ${dead.name} ended before it was ready`);
        if (Date.now() > deadline) throw new Error(`${label} guests not ready after 120 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      cpuAtUp = (await host.ksmd?.stats())?.cpuMs ?? null;
      upAt = performance.now();
      for (const e of schedule) {
        const wait = upAt + e.at * 1000 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if ('start' in e) launch(e.start);
        else {
          const victims = guests.filter((g) => !g.ended && g.workload === e.destroy.workload).reverse().slice(0, e.destroy.count ?? Infinity);
          await Promise.all(victims.map((g) => g.handle.kill()));
        }
        events.push({ t: ms((performance.now() - upAt) / 1000), event: describeEvent(e) });
      }
      const end = upAt + runSeconds * 1000 - performance.now();
      if (end > 0) await new Promise((r) => setTimeout(r, end));
    } finally {
      clearInterval(timer);
    }
    while (sampling) await new Promise((r) => setTimeout(r, 5));
    await sample();
    await services?.stop();
    // Samples were timed from the first launch; the report times them from the fleet being up.
    const up = (upAt! - t0) / 1000;
    const shifted = series.map((s) => ({ ...s, t: ms(s.t - up), ksmd_cpu_seconds: s.ksmd_cpu_seconds === null ? null : ms(s.ksmd_cpu_seconds) }));
    const after = shifted.filter((s) => s.t >= 0);
    const final = shifted.at(-1)!.saved_bytes;
    const hit = final > 0 ? after.find((s) => s.saved_bytes >= 0.95 * final) : undefined;
    return {
      tuner: tuner.name, label: tunerLabel(tuner), conf: tuner.conf ?? null, knobs_at_start: knobs, fleet_up_seconds: up, events, series: shifted,
      final_saved_bytes: final, mean_saved_bytes: timeMean(after), ksmd_cpu_seconds: series.at(-1)!.ksmd_cpu_seconds,
      time_to_95_seconds: hit ? hit.t : null, seconds: (performance.now() - t0) / 1000,
      ...(services ? { services: services.report() } : {}),
    };
  } finally {
    await services?.stop();
    await Promise.all(guests.map((g) => g.handle.kill()));
    await host.shutdown();
  }
}

function cpuSince(now: number | null | undefined, from: number | null): number | null {
  return now == null || from == null ? null : (now - from) / 1000;
}

function takeSample(host: Host, from: number, cpu: number | null, guests: readonly Running[]): TunerSample {
  const c = host.files.counters();
  // t from the first launch here; runOne shifts it to the fleet being up.
  const knob = (k: string) => Number(host.readFile(KSM_DIR + k));
  return {
    t: (performance.now() - from) / 1000,
    guests: guests.filter((g) => !g.ended).length,
    memory_used_bytes: usedBytes(host),
    saved_bytes: (c.pages_sharing + c.ksm_zero_pages) * PAGE_SIZE,
    pages_shared: c.pages_shared, pages_sharing: c.pages_sharing, full_scans: c.full_scans,
    run: knob('run'), pages_to_scan: knob('pages_to_scan'), sleep_millisecs: knob('sleep_millisecs'),
    ksmd_cpu_seconds: cpu,
  };
}

/** Time-weighted mean of saved_bytes over the samples (step function between samples). */
function timeMean(s: readonly TunerSample[]): number {
  if (s.length < 2) return s[0]?.saved_bytes ?? 0;
  let area = 0;
  for (let i = 1; i < s.length; i++) area += s[i - 1]!.saved_bytes * (s[i]!.t - s[i - 1]!.t);
  return area / (s.at(-1)!.t - s[0]!.t);
}
