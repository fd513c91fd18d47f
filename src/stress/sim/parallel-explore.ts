// parallel-explore.ts — owns spreading a deterministic exploration over a piscina pool: the seed
// range is cut into chunks, each chunk is explored in a pool thread, the results are merged. Every
// interleaving is still a pure function of its seed, so a failure replays the same as in one thread.

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerModule } from '../../platform/worker-module.ts';
import type { ExploreOptions, ExploreResult } from './explore.ts';

const WORKER = new URL('./sim-worker.ts', import.meta.url);

export interface ParallelExploreOptions extends Omit<ExploreOptions, 'progress' | 'steps'> {
  readonly interleavings: number;
  /** Pool threads (default: the machine's parallelism). */
  readonly jobs?: number;
  readonly progress?: (done: number) => void;
}

export async function exploreInParallel(o: ParallelExploreOptions): Promise<ExploreResult> {
  const jobs = Math.max(1, o.jobs ?? availableParallelism());
  // Chunks several times the thread count keep threads busy to the end; each reports when done.
  const chunks = Math.min(o.interleavings, jobs * 8);
  const per = Math.ceil(o.interleavings / chunks);
  const pool = new Piscina({
    filename: workerModule(WORKER).href,
    minThreads: jobs,
    maxThreads: jobs,
    // Plain JavaScript, like every other worker of ksmsim: no loader from the parent's command line.
    execArgv: [],
  });
  const started = performance.now();
  let done = 0;
  try {
    const { progress, jobs: _jobs, ...base } = o;
    void _jobs;
    const tasks: Promise<ExploreResult>[] = [];
    for (let start = 0; start < o.interleavings; start += per) {
      const count = Math.min(per, o.interleavings - start);
      tasks.push((pool.run({ ...base, seed: (o.seed + start) >>> 0, interleavings: count }) as Promise<ExploreResult>).then((r) => {
        done += r.interleavings;
        progress?.(done);
        return r;
      }));
    }
    const results = await Promise.all(tasks);
    return mergeResults(o.seed, results, (performance.now() - started) / 1000);
  } finally {
    await pool.destroy();
  }
}

/** Sum the chunks; the reported failure is the one with the lowest seed (what one thread finds first). */
export function mergeResults(seed: number, results: readonly ExploreResult[], seconds: number): ExploreResult {
  const sum = (f: (r: ExploreResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const steps = sum((r) => r.steps_total);
  const failures = results.filter((r) => r.failure).sort((a, b) => a.failure!.seed - b.failure!.seed);
  const residual = results.find((r) => r.residual_example);
  const hazard = results.find((r) => r.dksm_hazard_example);
  return {
    ...results[0]!,
    seed,
    dksm_hazards: sum((r) => r.dksm_hazards),
    dksm_hazard_example: hazard?.dksm_hazard_example,
    interleavings: sum((r) => r.interleavings),
    distinct_schedules: sum((r) => r.distinct_schedules),
    steps_total: steps,
    steps_per_second: Math.round(steps / Math.max(seconds, 1e-9)),
    seconds: Number(seconds.toFixed(3)),
    merges: sum((r) => r.merges),
    cows: sum((r) => r.cows),
    unmerges: sum((r) => r.unmerges),
    ksm_swap_outs: sum((r) => r.ksm_swap_outs),
    swap_cache_swap_ins: sum((r) => r.swap_cache_swap_ins),
    private_swap_outs: sum((r) => r.private_swap_outs),
    violations: sum((r) => r.violations),
    steps_by_kind: Object.fromEntries(Object.keys(results[0]!.steps_by_kind).map((k) => [k, sum((r) => r.steps_by_kind[k as keyof ExploreResult['steps_by_kind']])])) as ExploreResult['steps_by_kind'],
    residual_leaks: sum((r) => r.residual_leaks),
    residual_example: residual?.residual_example,
    failure: failures[0]?.failure,
  };
}
