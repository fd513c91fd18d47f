// sweep-queue.ts — owns a sweep on a distributed queue (BullMQ on Redis): checking Redis is reachable,
// enqueueing the points (one job per point, its id derived from the sweep and the point, so enqueueing
// twice adds nothing), collecting finished points into results.jsonl, and the worker that runs them.
//
// Delivery: BullMQ gives a job to one worker at a time under a lock the worker renews; a worker that
// dies stops renewing, and after lockDuration another worker's stalled check puts the job back in the
// queue (up to MAX_STALLED times), so a killed worker's point runs again elsewhere. A worker that lost
// its lock cannot complete the job (BullMQ refuses the completion), so a job completes at most once;
// and the collector appends a point only if results.jsonl does not hold it (ResultsFile.append), so even
// a second completion could not record a point twice.

import { createHash } from 'node:crypto';
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { softwareVersion } from '../platform/software-version.ts';
import type { MemoryGate } from './memory-gate.ts';
import { pointCostBytes, runPoint, type PointJob, type PointRecord } from './point-run.ts';
import type { ResultsFile } from './results-file.ts';

export const QUEUE_NAME = 'ksmsim-sweep';
/** Attempts of a job whose processor throws (runPoint itself never throws: a failed density run is a record). */
const ATTEMPTS = 3;
/** How often a job may be recovered from a dead worker before it counts as failed. */
export const MAX_STALLED = 3;
const CONNECT_TIMEOUT_MS = 3000;

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** redis://[user:password@]host:port[/db] → where Redis is; throws naming the URL. */
export function redisOptions(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue ${JSON.stringify(url)}: not a URL (expected redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:') throw new Error(`--queue ${url}: expected a redis:// URL`);
  if (!u.hostname) throw new Error(`--queue ${url}: no host`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`--queue ${url}: bad database number ${JSON.stringify(u.pathname.slice(1))}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379, db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** Connect and PING once, with no retry; throws an Error naming the URL when Redis does not answer. */
export async function checkRedis(url: string): Promise<void> {
  const client = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // connect() rejects with "Connection is closed."; the socket's own error (ECONNREFUSED…) says why.
  let cause: Error | undefined;
  client.on('error', (e: Error) => (cause ??= e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new Error(`--queue ${url}: Redis is unreachable (${(cause ?? (e as Error)).message})`);
  } finally {
    client.disconnect();
  }
}

export function jobIdOf(job: Pick<PointJob, 'sweep_id' | 'key'>): string {
  return `${job.sweep_id}-${createHash('sha256').update(job.key).digest('hex').slice(0, 16)}`;
}

/** A record for a point the queue gave up on (the worker died more than MAX_STALLED times, or threw). */
function failedRecord(job: PointJob, reason: string): PointRecord {
  return {
    sweep_id: job.sweep_id, key: job.key, point: job.point, density_args: job.density_args, version: softwareVersion(),
    runner: { via: 'queue', pid: null }, started_at: new Date().toISOString(), wall_seconds: 0, result: null, error: `queue: ${reason}`,
  };
}

/**
 * Enqueue the points results.jsonl lacks and wait until each is recorded there. `onQueued` hears how
 * many were enqueued, `onRecord` of each point as it is recorded.
 */
export async function queueSweep(
  url: string, jobs: readonly PointJob[], results: ResultsFile, o: { onQueued: (n: number) => void; onRecord: (r: PointRecord) => void; pollMs?: number },
): Promise<void> {
  const queue = new Queue<PointJob, PointRecord, 'point'>(QUEUE_NAME, { connection: redisOptions(url) });
  try {
    // A killed sweep may have recorded a point and died before removing its job: remove it now.
    for (const j of jobs) if (results.has(j.key)) await queue.remove(jobIdOf(j)).catch(() => 0);
    const outstanding = new Map(jobs.filter((j) => !results.has(j.key)).map((j) => [jobIdOf(j), j]));
    const add = (list: Array<[string, PointJob]>) => queue.addBulk(list.map(([jobId, data]) => ({
      name: 'point' as const, data, opts: { jobId, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false },
    })));
    // A job of this id left by an interrupted run of the same sweep is kept (BullMQ ignores the add):
    // queued, running, or finished and waiting to be collected.
    await add([...outstanding]);
    o.onQueued(outstanding.size);
    while (outstanding.size) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
      const states = await Promise.all([...outstanding].map(async ([id, j]) => ({ id, j, job: await Job.fromId<PointJob, PointRecord>(queue, id) })));
      for (const { id, j, job } of states) {
        if (!job) {
          // Removed behind our back (an operator cleaning the queue): queue it again.
          await add([[id, j]]);
          continue;
        }
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') continue;
        const record = state === 'completed' && job.returnvalue ? job.returnvalue : failedRecord(j, job.failedReason || state);
        if (results.append(record)) o.onRecord(record);
        outstanding.delete(id);
        await job.remove().catch(() => {});
      }
    }
  } finally {
    await queue.close();
  }
}

export interface WorkerEvents {
  start(job: PointJob): void;
  done(record: PointRecord): void;
  error(e: Error): void;
}

/** Run points from the queue, `jobs` at a time and within `gate`'s memory, until close(). */
export function startQueueWorker(url: string, o: { jobs: number; lockSeconds: number; gate: MemoryGate; events: WorkerEvents }): { close(): Promise<void> } {
  const worker = new Worker<PointJob, PointRecord>(QUEUE_NAME, async (job) => {
    const release = await o.gate.acquire(pointCostBytes(job.data));
    try {
      o.events.start(job.data);
      const record = await runPoint(job.data, 'queue');
      o.events.done(record);
      return record;
    } finally {
      release();
    }
  }, {
    connection: { ...redisOptions(url), maxRetriesPerRequest: null },
    concurrency: o.jobs,
    lockDuration: o.lockSeconds * 1000,
    stalledInterval: o.lockSeconds * 1000,
    maxStalledCount: MAX_STALLED,
  });
  worker.on('error', (e) => o.events.error(e));
  return { close: () => worker.close() };
}
