// harness.ts — owns what every bench suite shares: tinybench statistics in plain numbers, the
// JSON result file under bench/results/, the printed table, and "run this suite alone" detection.

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Bench, Task } from 'tinybench';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** One tinybench task reduced to what the tables and JSON need. */
export interface TaskStats {
  readonly name: string;
  /** Mean milliseconds per task call (one call runs `opsPerCall` operations). */
  readonly meanMs: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Relative margin of error of the mean, in percent. */
  readonly rmePct: number;
  readonly samples: number;
}

export function taskStats(task: Task): TaskStats {
  const r = task.result;
  if (r.state !== 'completed') {
    const why = 'error' in r && r.error ? `: ${(r.error as Error).message ?? String(r.error)}` : '';
    throw new Error(`bench task "${task.name}" did not complete (state ${r.state})${why}`);
  }
  return {
    name: task.name,
    meanMs: r.latency.mean,
    minMs: r.latency.min,
    p50Ms: r.latency.p50 ?? r.latency.mean,
    p99Ms: r.latency.p99 ?? r.latency.mean,
    rmePct: r.latency.rme,
    samples: r.latency.samplesCount,
  };
}

/** Stats of the task called `name` in a finished bench. */
export function statsOf(bench: Bench, name: string): TaskStats {
  const t = bench.getTask(name);
  if (!t) throw new Error(`no bench task "${name}"`);
  return taskStats(t);
}

/**
 * This process's CPU time in milliseconds, as a tinybench `now`. The machine is shared (other
 * engineers' tests and builds run beside the benches), and wall-clock samples then swing with their
 * load; CPU time leaves out the time this thread was not running. Used for single-threaded,
 * CPU-bound tasks only. Each call costs ~2 µs (getrusage), under 1 % of every sample taken with it.
 */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The machine the numbers came from: the ratios matter more than the absolute values. */
export function machineInfo(): Record<string, unknown> {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    loadavg1: Number(loadavg()[0]!.toFixed(2)),
    date: new Date().toISOString(),
  };
}

/** Write bench/results/<suite>.json and return its path. */
export function writeResults(suite: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${suite}.json`;
  writeFileSync(path, JSON.stringify({ suite, machine: machineInfo(), ...data }, null, 2) + '\n');
  return path;
}

/** Print a titled table of rows (console.table keeps column order of the first row). */
export function printTable(title: string, rows: readonly object[]): void {
  console.log(`\n${title}`);
  console.table(rows);
}

/** True when the module at `moduleUrl` is the process entry point (the suite was run alone). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const self = fileURLToPath(moduleUrl);
  return entry === self || entry === self.replace(/\.ts$/, '') || `${entry}.ts` === self;
}

/** `--quick` (or BENCH_QUICK=1): tiny sizes and time budgets, for a smoke run. */
export function quickMode(): boolean {
  return process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
}

/** Round to `digits` significant digits for tables and JSON. */
export function sig(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

export const MB = 1e6;
export const MiB = 2 ** 20;
