// host-session.ts — owns one command-line experiment on a host: start it, apply --ksm knobs, launch
// guests, sample memory and counters while they run (with a status line on a terminal), and report.

import { Host, type GuestReport, type HostOptions, type NodeMemory } from '../host/host.ts';
import type { KernelCompat } from '../ksm/ksm-state.ts';
import { EmulatedTunedHost } from '../tuning/emulated-tuned-host.ts';
import { startServices, type ServiceSpec, type ServicesReport } from '../tuning/host-services.ts';
import { DEFAULT_ENGINE, engineDir, type EngineName } from '../engines/engine.ts';
import { formatBytes } from './parse-size.ts';
import { statusLine } from './status-line.ts';

export interface SessionOptions {
  readonly memoryBytes: number;
  readonly numaNodes: number;
  readonly swapBytes?: number;
  readonly knobs: ReadonlyArray<readonly [string, string]>;
  readonly quiet: boolean;
  readonly log: (line: string) => void;
  /** --kernel-compat: '2.6.32' gives the host max_kernel_pages. */
  readonly kernelCompat?: KernelCompat;
  /** --service: the ksm service and/or ksmtuned, started after the knobs, before the guests. */
  readonly services?: readonly ServiceSpec[];
  /** The merge engine (default ksm). Knobs go to its directory: /sys/kernel/mm/ksm, dksm or uksm. */
  readonly engine?: EngineName;
  /** --mitigation and --ksm-domains (docs/security.md). */
  readonly mitigation?: HostOptions['mitigation'];
  readonly ksmDomains?: HostOptions['ksmDomains'];
}

export interface GuestPlan {
  readonly program: string;
  readonly count: number;
  readonly args: readonly string[];
  readonly root: boolean;
}

/** The moment the guests together held the most memory, as the host saw it. */
export interface PeakSample {
  readonly atSeconds: number;
  readonly nodes: NodeMemory[];
  readonly counters: Record<string, number>;
}

export interface SessionResult {
  readonly host: { memoryBytes: number; numaNodes: number; engine: EngineName };
  /** The engine's own files (dksm, uksm) at the end, name → value; absent for ksm (see final.ksm). */
  readonly engineFiles?: Record<string, string>;
  readonly knobs: Record<string, string>;
  readonly guests: GuestReport[];
  /** When pages_sharing peaked (or memory use, if nothing merged). */
  readonly peak: PeakSample;
  readonly final: { nodes: NodeMemory[]; ksm: Record<string, string>; swap?: ReturnType<Host['swapUsage']> };
  readonly seconds: number;
  /** --service only: each service's status, and ksmtuned's decisions over time. */
  readonly services?: ServicesReport;
}

export async function runSession(options: SessionOptions, plans: readonly GuestPlan[]): Promise<SessionResult> {
  const host = await Host.start({ memoryBytes: options.memoryBytes, numaNodes: options.numaNodes, swapBytes: options.swapBytes, kernelCompat: options.kernelCompat, onLog: options.log, engine: options.engine, mitigation: options.mitigation, ksmDomains: options.ksmDomains });
  const knobDir = engineDir(options.engine ?? DEFAULT_ENGINE);
  const tuned = new EmulatedTunedHost(host);
  let services: Awaited<ReturnType<typeof startServices>> | undefined;
  const started = performance.now();
  const status = statusLine(!options.quiet);
  try {
    for (const [key, value] of options.knobs) {
      try {
        await host.writeFile(knobDir + key, value);
      } catch (e) {
        throw new Error(`--ksm ${key}=${value}: ${(e as Error).message}`);
      }
    }
    // Every program compiles before the first guest starts: a syntax error stops the run with nothing half-started.
    for (const plan of plans) host.prepare(plan.program);
    if (options.services?.length) services = await startServices(tuned, options.services, { stdout: options.log });
    const handles = plans.flatMap((plan) => {
      const base = plan.program.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
      return Array.from({ length: plan.count }, (_, i) =>
        tuned.track(host.launch(plan.program, { args: plan.args, root: plan.root, name: plan.count > 1 ? `${base}.${i}` : base })));
    });
    let finished = 0;
    let peak = sample(host, started);
    const timer = setInterval(() => {
      const s = sample(host, started);
      if (betterPeak(s, peak)) peak = s;
      status.update(`[ksmsim] guests ${finished}/${handles.length} done · memory used ${formatBytes(used(s.nodes))} · pages_sharing ${s.counters.pages_sharing} · full_scans ${s.counters.full_scans}`);
    }, 25);
    const guests = await Promise.all(handles.map((h) => h.done.finally(() => finished++)));
    clearInterval(timer);
    status.clear();
    const knobs: Record<string, string> = {};
    for (const [k] of options.knobs) knobs[k] = host.readFile(knobDir + k).trim();
    await services?.stop();
    return {
      host: { memoryBytes: host.memory.bytes, numaNodes: host.memory.nodes.length, engine: host.engine.name },
      engineFiles: host.engine.snapshot?.(),
      knobs,
      guests,
      peak,
      final: { nodes: host.nodeMemory(), ksm: host.files.snapshot(), swap: host.swapUsage() },
      seconds: (performance.now() - started) / 1000,
      ...(services ? { services: services.report() } : {}),
    };
  } finally {
    await services?.stop();
    await host.shutdown();
  }
}

function sample(host: Host, started: number): PeakSample {
  return { atSeconds: (performance.now() - started) / 1000, nodes: host.nodeMemory(), counters: host.files.counters() };
}

function used(nodes: readonly NodeMemory[]): number {
  return nodes.reduce((n, x) => n + x.usedBytes, 0);
}

function betterPeak(s: PeakSample, best: PeakSample): boolean {
  const a = s.counters.pages_sharing ?? 0;
  const b = best.counters.pages_sharing ?? 0;
  return a > b || (a === b && used(s.nodes) > used(best.nodes));
}

/** Human-readable summary lines of a session. */
export function describeSession(r: SessionResult): string[] {
  const lines: string[] = [];
  for (const g of r.guests) {
    const st = g.status === 'exited' ? 'ok' : `${g.status.toUpperCase()}${g.error ? `: ${g.error}` : ''}`;
    lines.push(`guest ${g.name} (pid ${g.pid}, node ${g.node}): ${st} in ${g.seconds.toFixed(2)} s`);
  }
  lines.push(`memory at peak sharing (t=${r.peak.atSeconds.toFixed(2)} s):`);
  for (const n of r.peak.nodes) lines.push(`  node ${n.node}: ${formatBytes(n.usedBytes)} used of ${formatBytes(n.totalBytes)}`);
  const c = r.peak.counters;
  lines.push(`  KSM: pages_shared ${c.pages_shared}, pages_sharing ${c.pages_sharing}, pages_unshared ${c.pages_unshared}, pages_volatile ${c.pages_volatile}, ksm_zero_pages ${c.ksm_zero_pages}, general_profit ${c.general_profit} (${formatBytes(c.general_profit ?? 0)})`);
  const e = r.engineFiles;
  if (e) lines.push(`${r.host.engine.toUpperCase()}: ${Object.entries(e).filter(([k]) => k !== 'run').map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const sw = r.final.swap;
  if (sw) lines.push(`swap: ${sw.swappedOut} pages swapped out, ${sw.swappedIn} swapped in (${formatBytes(sw.totalBytes)} of swap)`);
  const svc = r.services;
  if (svc?.ksm) lines.push(`ksm service: ${svc.ksm.status.active ? 'active' : 'inactive'}, run ${svc.ksm.status.run}${svc.ksm.status.max_kernel_pages !== undefined ? `, max_kernel_pages ${svc.ksm.status.max_kernel_pages}` : ''}`);
  if (svc?.ksmtuned) {
    const last = svc.ksmtuned.decisions.at(-1);
    lines.push(`ksmtuned: ${svc.ksmtuned.decisions.length} adjusts${last ? `, last at ${last.t.toFixed(1)} s (${last.trigger}): ${last.decision}, npages ${last.npages}` : ''}`);
  }
  lines.push(`after all guests exited: full_scans ${r.final.ksm.full_scans}, pages_scanned ${r.final.ksm.pages_scanned}, memory used ${formatBytes(used(r.final.nodes))}`);
  return lines;
}
