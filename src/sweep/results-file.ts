// results-file.ts — owns DIR/results.jsonl (one PointRecord a line) and DIR/sweep.json (the sweep it
// belongs to): which points are finished, appending a point at most once, and resuming after a kill.

import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PointRecord } from './point-run.ts';
import type { SweepSpec } from './sweep-file.ts';

export const RESULTS_FILE = 'results.jsonl';
export const SWEEP_FILE = 'sweep.json';

/** What DIR/sweep.json holds: the sweep's id and content, so a resume (and the report) knows its axes. */
export interface SweepManifest {
  readonly sweep_id: string;
  readonly file: string;
  readonly base: Readonly<Record<string, unknown>>;
  readonly axes: SweepSpec['axes'];
  readonly points: number;
}

/**
 * The records of a results file. A line cut short by a kill mid-write (the last one, with no newline)
 * is not a record; `repair` cuts it off so the next append starts a fresh line.
 */
export function readResults(dir: string, repair = false): PointRecord[] {
  const path = join(dir, RESULTS_FILE);
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (repair && end < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, end)));
  return text.slice(0, end).split('\n').filter(Boolean).map((line, i) => {
    try {
      return JSON.parse(line) as PointRecord;
    } catch (e) {
      throw new Error(`${path}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
  });
}

export function readManifest(dir: string): SweepManifest {
  const path = join(dir, SWEEP_FILE);
  if (!existsSync(path)) throw new Error(`${dir}: no ${SWEEP_FILE} (not a sweep's output directory)`);
  return JSON.parse(readFileSync(path, 'utf8')) as SweepManifest;
}

export class ResultsFile {
  private readonly path: string;
  private readonly done = new Set<string>();

  /**
   * Open DIR for `manifest`'s sweep (nothing is written before begin()). Without `resume` the directory
   * must hold no results yet; with it, they must be this sweep's (same base and axes), and the finished
   * points are skipped.
   */
  constructor(readonly dir: string, private readonly manifest: SweepManifest, private readonly resume: boolean) {
    this.path = join(dir, RESULTS_FILE);
    if (existsSync(join(dir, SWEEP_FILE))) {
      const old = readManifest(dir);
      if (old.sweep_id !== manifest.sweep_id) {
        throw new Error(`${dir} holds the results of another sweep (${old.file}, id ${old.sweep_id}; this one is ${manifest.sweep_id}): use another --out`);
      }
    }
    const records = readResults(dir);
    if (records.length && !resume) throw new Error(`${this.path} already holds ${records.length} point${records.length === 1 ? '' : 's'}: pass --resume to finish the sweep, or another --out`);
    for (const r of records) this.done.add(r.key);
  }

  /** Create DIR and its sweep.json, and cut off a line a kill left half-written: after the checks, before the first point. */
  begin(): void {
    mkdirSync(this.dir, { recursive: true });
    if (this.resume) readResults(this.dir, true);
    writeFileSync(join(this.dir, SWEEP_FILE), JSON.stringify(this.manifest, null, 2) + '\n');
  }

  has(key: string): boolean {
    return this.done.has(key);
  }

  get size(): number {
    return this.done.size;
  }

  /**
   * Append a point's record unless the point is already recorded (returns false then). One process —
   * the sweep — writes the file, and it checks `done` and appends with no await in between, so two
   * deliveries of one point (a queue re-delivering it) cannot both land.
   */
  append(record: PointRecord): boolean {
    if (this.done.has(record.key)) return false;
    this.done.add(record.key);
    appendFileSync(this.path, JSON.stringify(record) + '\n');
    return true;
  }
}
