// point-run.ts — owns one point of a sweep as a job (what crosses a process or Redis: the point, its
// density command line and the validated plan) and running it into the record results.jsonl keeps.

import { runDensity, type DensityRunOptions } from '../density/density-runner.ts';
import type { DensityResult, FleetEntry } from '../density/density-types.ts';
import { softwareVersion, type SoftwareVersion } from '../platform/software-version.ts';
import type { AxisValue } from './sweep-file.ts';

export interface PointJob {
  readonly sweep_id: string;
  readonly key: string;
  readonly point: Readonly<Record<string, AxisValue>>;
  /** The point as a `ksmsim density` command line: run it alone to reproduce the point. */
  readonly density_args: readonly string[];
  readonly fleet: readonly FleetEntry[];
  readonly options: DensityRunOptions;
}

/** One line of results.jsonl. */
export interface PointRecord {
  readonly sweep_id: string;
  readonly key: string;
  readonly point: Readonly<Record<string, AxisValue>>;
  readonly density_args: readonly string[];
  /** The software that ran the point (a queue worker may run another version than the sweep). */
  readonly version: SoftwareVersion;
  /** local: the sweep's own process; queue: a `ksmsim worker` (its pid on version.host). */
  readonly runner: { readonly via: 'local' | 'queue'; readonly pid: number | null };
  readonly started_at: string;
  readonly wall_seconds: number;
  /** The full density result (as `ksmsim density --json` writes it), or null when the point failed. */
  readonly result: DensityResult | null;
  readonly error: string | null;
}

/** Host memory a point asks for, and a per-guest allowance for its worker thread: what it costs this machine. */
export const GUEST_THREAD_BYTES = 16 * 2 ** 20;

export function pointCostBytes(job: PointJob): number {
  return job.options.memoryBytes + job.fleet.reduce((n, e) => n + e.count, 0) * GUEST_THREAD_BYTES;
}

/** Run the point on its own emulated host; a failure becomes the record's error (the sweep goes on). */
export async function runPoint(job: PointJob, via: 'local' | 'queue'): Promise<PointRecord> {
  const started = new Date();
  const t0 = performance.now();
  let result: DensityResult | null = null;
  let error: string | null = null;
  try {
    result = await runDensity({ ...job.options, log: () => {} }, job.fleet);
  } catch (e) {
    error = (e as Error).message;
  }
  return {
    sweep_id: job.sweep_id, key: job.key, point: job.point, density_args: job.density_args, version: softwareVersion(),
    runner: { via, pid: process.pid }, started_at: started.toISOString(), wall_seconds: (performance.now() - t0) / 1000, result, error,
  };
}
