// local-sweep.ts — owns running a sweep's points on this machine: up to `jobs` at once, each on its own
// emulated host in this process, within the memory gate; every finished point is appended to
// results.jsonl before the next one is taken, so a kill loses only the points that were running.

import type { MemoryGate } from './memory-gate.ts';
import { pointCostBytes, runPoint, type PointJob, type PointRecord } from './point-run.ts';
import type { ResultsFile } from './results-file.ts';

export async function runLocalSweep(
  jobs: readonly PointJob[], results: ResultsFile, o: { jobs: number; gate: MemoryGate; onStart?: (job: PointJob) => void; onRecord: (r: PointRecord) => void },
): Promise<void> {
  const todo = jobs.filter((j) => !results.has(j.key));
  let next = 0;
  // `jobs` lanes take points in order; taking one (next++) has no await before it, so no point is taken twice.
  const lane = async (): Promise<void> => {
    while (next < todo.length) {
      const job = todo[next++]!;
      const release = await o.gate.acquire(pointCostBytes(job));
      try {
        o.onStart?.(job);
        const record = await runPoint(job, 'local');
        if (results.append(record)) o.onRecord(record);
      } finally {
        release();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.jobs, todo.length)) }, lane));
}
