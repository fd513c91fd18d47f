// sweep-command.ts — owns `ksmsim sweep` (a grid of density runs, here or on a queue), `ksmsim worker`
// (runs queued points) and `ksmsim sweep-report` (the HTML page of a sweep's results).

import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { checkSweep } from '../sweep/sweep-check.ts';
import { pointLabel, readSweepFile, sweepId } from '../sweep/sweep-file.ts';
import { runLocalSweep } from '../sweep/local-sweep.ts';
import { MemoryGate } from '../sweep/memory-gate.ts';
import type { PointRecord } from '../sweep/point-run.ts';
import { readManifest, readResults, ResultsFile, RESULTS_FILE } from '../sweep/results-file.ts';
import { checkRedis, queueSweep, startQueueWorker } from '../sweep/sweep-queue.ts';
import { renderSweepHtml } from '../report/sweep-html.ts';
import { formatBytes, parseCount } from './parse-size.ts';
import { sweepJobs } from './sweep-points.ts';

interface SweepFlags {
  jobs: number;
  out: string;
  resume?: boolean;
  queue?: string;
}

interface WorkerFlags {
  queue: string;
  jobs: number;
  lockSeconds: number;
}

/** One line per finished point: its saving and ksmd's CPU, or its error. */
export function recordLine(r: PointRecord): string {
  if (!r.result) return `${pointLabel(r.point)}: FAILED: ${r.error}`;
  const x = r.result;
  const share = x.memory_without_ksm_bytes > 0 ? (100 * x.saved_bytes) / x.memory_without_ksm_bytes : 0;
  const cpu = x.ksmd_cpu_seconds === null ? 'ksmd CPU n/a' : `ksmd CPU ${x.ksmd_cpu_seconds.toFixed(2)} s`;
  return `${pointLabel(r.point)}: saved ${formatBytes(x.saved_bytes)} of ${formatBytes(x.memory_without_ksm_bytes)} (${share.toFixed(1)} %), ${cpu}, ${r.wall_seconds.toFixed(1)} s`;
}

async function sweepCommand(file: string, flags: SweepFlags, out: (s: string) => void): Promise<number> {
  const spec = readSweepFile(file);
  const jobs = sweepJobs(spec);
  if (flags.queue) await checkRedis(flags.queue);
  const id = sweepId(spec);
  const results = new ResultsFile(flags.out, { sweep_id: id, file, base: spec.base, axes: spec.axes, points: jobs.length }, !!flags.resume);
  const todo = jobs.filter((j) => !results.has(j.key));
  const where = join(flags.out, RESULTS_FILE);
  out(`ksmsim sweep ${file}: ${jobs.length} points${results.size ? `, ${results.size} already in ${where}` : ''}; ${todo.length} to run ${flags.queue ? `on the queue ${flags.queue}` : `here, ${flags.jobs} at a time`}`);
  if (todo.length) {
    const t0 = performance.now();
    let checked;
    try {
      checked = await checkSweep(todo);
    } catch (e) {
      throw new Error(`sweep file ${file}, ${(e as Error).message}`);
    }
    out(`checked ${checked.setups} knob set${checked.setups === 1 ? '' : 's'} on ${checked.hosts} host${checked.hosts === 1 ? '' : 's'} and ${checked.entries} fleet entr${checked.entries === 1 ? 'y' : 'ies'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  results.begin();
  let n = results.size;
  const onRecord = (r: PointRecord) => out(`[${++n}/${jobs.length}] ${recordLine(r)}`);
  // Ctrl-C: every finished point is already on disk; say how to go on, and stop now (the running
  // points' hosts are threads of this process and end with it; queued points stay queued).
  const onInterrupt = () => {
    out(`interrupted: ${results.size} of ${jobs.length} points in ${where}; \`ksmsim sweep ${file} --out ${flags.out} --resume\` runs the rest`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  const t0 = performance.now();
  try {
    if (flags.queue) {
      const url = flags.queue;
      const onQueued = (q: number) => out(`queued ${q} point${q === 1 ? '' : 's'} on ${url}: \`ksmsim worker --queue ${url}\` on any machine runs them`);
      await queueSweep(url, todo, results, { onQueued, onRecord });
    } else {
      await runLocalSweep(todo, results, { jobs: flags.jobs, gate: new MemoryGate(), onRecord });
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  const all = readResults(flags.out);
  const failed = all.filter((r) => r.error !== null);
  out(`${all.length} points in ${where} (${((performance.now() - t0) / 1000).toFixed(1)} s for ${todo.length})${failed.length ? `; ${failed.length} failed: ${failed.map((r) => pointLabel(r.point)).join('; ')}` : ''}`);
  return failed.length ? 1 : 0;
}

async function workerCommand(flags: WorkerFlags, out: (s: string) => void): Promise<number> {
  await checkRedis(flags.queue);
  const gate = new MemoryGate();
  let stopping: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stopping = r));
  const worker = startQueueWorker(flags.queue, {
    jobs: flags.jobs, lockSeconds: flags.lockSeconds, gate,
    events: {
      start: (job) => out(`started ${pointLabel(job.point)}`),
      done: (r) => out(`finished ${recordLine(r)}`),
      error: (e) => process.stderr.write(`ksmsim worker: ${e.message}\n`),
    },
  });
  out(`ksmsim worker ${process.pid}: running points from ${flags.queue}, ${flags.jobs} at a time (memory budget ${formatBytes(gate.budgetBytes)}); SIGINT or SIGTERM stops it after the points it runs`);
  const onSignal = () => stopping?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await stopped;
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  out('ksmsim worker: stopping after the running points');
  await worker.close();
  return 0;
}

function sweepReportCommand(dir: string, flags: { html: string; x?: string; y?: string }, out: (s: string) => void): number {
  const manifest = readManifest(dir);
  const records = readResults(dir);
  writeFileSync(flags.html, renderSweepHtml(manifest, records, { x: flags.x, y: flags.y }));
  out(`HTML report: ${resolve(flags.html)} (${records.length} of ${manifest.points} points)`);
  return 0;
}

export function addSweepCommands(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('sweep')
    .description('run a grid of density experiments from a sweep file (YAML or JSON), here or on a Redis queue (docs/sweeps.md)')
    .argument('<file>', 'the sweep file: base (density flags) and axes (knobs, seed, fleet.NAME.count, fleet.NAME.args.KEY, density flags)')
    .option('--jobs <n>', 'points run at once here (also bounded by memory: each point\'s host memory counts)', (v) => parseCount(v, '--jobs', 1, 256), availableParallelism())
    .option('--out <dir>', 'where results.jsonl (one line per point) and sweep.json go', 'sweep-results')
    .option('--resume', 'finish an interrupted sweep: points already in DIR/results.jsonl are not run again')
    .option('--queue <url>', 'enqueue the points on Redis (redis://HOST:PORT) for `ksmsim worker`s and collect their results')
    .action(async (file: string, flags: SweepFlags) => setCode(await sweepCommand(file, flags, out)));
  program
    .command('worker')
    .description('run sweep points from a Redis queue until stopped (SIGINT/SIGTERM)')
    .requiredOption('--queue <url>', 'the queue: redis://HOST:PORT')
    .option('--jobs <n>', 'points run at once (also bounded by memory)', (v) => parseCount(v, '--jobs', 1, 256), 1)
    .option('--lock-seconds <s>', 'how long a point stays claimed after this worker stops renewing it (dies): then another worker runs it', (v) => parseCount(v, '--lock-seconds', 1, 3600), 30)
    .action(async (flags: WorkerFlags) => setCode(await workerCommand(flags, out)));
  program
    .command('sweep-report')
    .description('write the HTML report of a sweep: a table of all points, heatmaps over two axes, saving against ksmd CPU with the Pareto front')
    .argument('<dir>', 'the sweep\'s --out directory')
    .requiredOption('--html <file>', 'the HTML file to write')
    .option('--x <axis>', 'heatmap columns (default: the first axis)')
    .option('--y <axis>', 'heatmap rows (default: the second axis)')
    .action((dir: string, flags: { html: string; x?: string; y?: string }) => setCode(sweepReportCommand(dir, flags, out)));
}
