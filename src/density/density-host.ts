// density-host.ts — owns what every density run shares: its options, starting a host whose READY
// lines are collected, applying knobs, and expanding a fleet into named guests.

import { Host } from '../host/host.ts';
import { KSM_DIR } from '../ksm/sysfs.ts';
import type { KernelCompat } from '../ksm/ksm-state.ts';
import type { ServiceSpec } from '../tuning/host-services.ts';
import type { Convergence } from './convergence.ts';
import type { DensitySample, FleetEntry, GuestProfit } from './density-types.ts';
import { engineDir, type EngineName } from '../engines/engine.ts';
import type { ThpMode } from '../mem/thp.ts';

import { workloadProgram } from './fleet-spec.ts';

export interface DensityOptions {
  readonly memoryBytes: number;
  readonly numaNodes: number;
  /** Knobs for the KSM-on phases, applied after the defaults below. */
  readonly knobs: ReadonlyArray<readonly [string, string]>;
  readonly mergeAcrossNodes: '0' | '1' | 'both';
  readonly capacity: boolean;
  /** Capacity mode: the most guests to launch; undefined derives it (capacity-cap.ts). */
  readonly maxGuests?: number;
  /** Capacity mode: the longest one capacity run (KSM off, or on) may take, in seconds (default 300). */
  readonly capacitySeconds?: number;
  /** Upper bound on the KSM-on phase waiting for convergence. */
  readonly maxSeconds: number;
  readonly sampleMs: number;
  readonly log: (line: string) => void;
  /** Progress line on a terminal (undefined: quiet). */
  readonly status?: (line: string) => void;
  /** '2.6.32': the hosts have max_kernel_pages (docs/tuning.md). */
  readonly kernelCompat?: KernelCompat;
  /** --service: the KSM-on runs start these instead of DENSITY_DEFAULT_KNOBS (docs/tuning.md). */
  readonly services?: readonly ServiceSpec[];
  /** The merge engine (default ksm); knobs then go to its directory (docs/engines.md). */
  readonly engine?: EngineName;
  /** Capacity mode: run the capacity pair again on hosts with this much swap (--swap). */
  readonly swapBytes?: number;
  /** transparent_hugepage/enabled of the hosts (default madvise). */
  readonly thp?: ThpMode;
}

/** A density run's options without its callbacks: the experiment as data (it crosses processes and Redis as JSON). */
export type DensityRunOptions = Omit<DensityOptions, 'log' | 'status'>;

/** Faster than the kernel's defaults (100 pages / 20 ms) so a demo converges in seconds. */
export const DENSITY_DEFAULT_KNOBS: ReadonlyArray<readonly [string, string]> = [
  ['run', '1'], ['pages_to_scan', '4000'], ['sleep_millisecs', '10'],
];

export const READY = /^\[([^\]]+)\] READY\b/;

export function usedBytes(host: Host): number {
  return host.nodeMemory().reduce((n, x) => n + x.usedBytes, 0);
}

export function freeBytes(host: Host): number {
  return host.nodeMemory().reduce((n, x) => n + x.freeBytes, 0);
}

export async function applyKnobs(host: Host, knobs: ReadonlyArray<readonly [string, string]>, dir: string = KSM_DIR): Promise<Record<string, string>> {
  const applied: Record<string, string> = {};
  for (const [k, v] of knobs) {
    try {
      await host.writeFile(dir + k, v);
    } catch (e) {
      throw new Error(`--ksm ${k}=${v}: ${(e as Error).message}`);
    }
    applied[k] = host.readFile(dir + k).trim();
  }
  return applied;
}

export interface ExpandedGuest {
  readonly entry: FleetEntry;
  readonly name: string;
  readonly program: string;
}

export function expand(fleet: readonly FleetEntry[]): ExpandedGuest[] {
  return fleet.flatMap((entry) => {
    const program = workloadProgram(entry.workload);
    const base = entry.workload.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
    return Array.from({ length: entry.count }, (_, i) => ({ entry, name: `${base}.${i}`, program }));
  });
}

/** Start a host (with `swapBytes` of swap) whose log routes READY lines to `ready` and everything else to `log`. */
export async function startHost(o: DensityOptions, ready: Set<string>, swapBytes?: number): Promise<Host> {
  return Host.start({
    memoryBytes: o.memoryBytes,
    numaNodes: o.numaNodes,
    swapBytes: swapBytes || undefined,
    kernelCompat: o.kernelCompat,
    engine: o.engine,
    thp: o.thp,
    onLog: (line) => {
      const m = READY.exec(line);
      if (m) ready.add(m[1]!);
      else o.log(line);
    },
  });
}

/** The KSM-off phase's knobs: only UKSM runs by default (run=1 at boot), so it is turned off. */
export function engineOffKnobs(o: DensityRunOptions): { dir: string; knobs: ReadonlyArray<readonly [string, string]> } {
  const engine = o.engine ?? 'ksm';
  return { dir: engineDir(engine), knobs: engine === 'uksm' ? [['run', '0']] : [] };
}

/** The KSM-on phase's knobs for `engine`: ksm's defaults and merge_across_nodes, or the engine's run=1 (before any guest advises). */
export function engineOnKnobs(o: DensityRunOptions, mergeAcross: '0' | '1'): { dir: string; knobs: ReadonlyArray<readonly [string, string]> } {
  const engine = o.engine ?? 'ksm';
  // With --service the services decide run and the scan rate, from the kernel's defaults.
  if (engine === 'ksm') return { dir: engineDir(engine), knobs: [['merge_across_nodes', mergeAcross], ...(o.services?.length ? [] : DENSITY_DEFAULT_KNOBS), ...o.knobs] };
  return { dir: engineDir(engine), knobs: [['run', '1'], ...o.knobs] };
}

/** What one fixed-fleet phase measured, on either backend (each adds its own CPU and engine figures). */
export interface MeasuredPhase {
  series: DensitySample[];
  memoryUsed: number;
  counters: Record<string, number>;
  perGuest: GuestProfit[];
  convergence: Convergence | null;
  fleetUpSeconds: number;
  wallMs: number;
  knobs: Record<string, string>;
}
