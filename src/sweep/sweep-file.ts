// sweep-file.ts — owns a sweep file (YAML or JSON): its base experiment and its axes as data, the
// points of the grid (every combination of the axes' values, first axis slowest) and their keys.
// What the keys of `base` and the axis names mean is the command line's business (cli/sweep-points.ts).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export type AxisValue = string | number | boolean;

export interface SweepAxis {
  readonly name: string;
  readonly values: readonly AxisValue[];
}

export interface SweepSpec {
  /** The file it was read from (error messages, relative fleet files). */
  readonly file: string;
  /** The base experiment: keys mirror the flags of `ksmsim density`. */
  readonly base: Readonly<Record<string, unknown>>;
  readonly axes: readonly SweepAxis[];
}

/** One point of the grid: a value for every axis, in axis order. */
export interface SweepPoint {
  /** Canonical JSON of `values` (axis order): what results.jsonl and the queue know the point by. */
  readonly key: string;
  readonly values: Readonly<Record<string, AxisValue>>;
}

/** The most points one sweep may have: a typo like `seed: [1..1000]` × 3 axes should not queue a million runs. */
export const MAX_POINTS = 10_000;

function isScalar(v: unknown): v is AxisValue {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** Read and check the shape of a sweep file; throws an Error naming the file and the bad part. */
export function readSweepFile(path: string): SweepSpec {
  let doc: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new Error(`sweep file ${path}: ${(e as Error).message}`);
  }
  return sweepSpecOf(doc, path);
}

export function sweepSpecOf(doc: unknown, file: string): SweepSpec {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`sweep file ${file}: expected a map with base: and axes:`);
  for (const k of Object.keys(doc)) if (k !== 'base' && k !== 'axes') throw new Error(`sweep file ${file}: unknown top-level key ${JSON.stringify(k)} (expected base and axes)`);
  const { base = {}, axes } = doc as { base?: unknown; axes?: unknown };
  if (!base || typeof base !== 'object' || Array.isArray(base)) throw new Error(`sweep file ${file}: base must be a map of density flags`);
  if (!axes || typeof axes !== 'object' || Array.isArray(axes) || Object.keys(axes).length === 0) {
    throw new Error(`sweep file ${file}: axes must be a non-empty map, e.g. {pages_to_scan: [100, 4000], seed: [1, 2]}`);
  }
  const list: SweepAxis[] = Object.entries(axes).map(([name, values]) => {
    if (!Array.isArray(values) || values.length === 0) throw new Error(`sweep file ${file}: axis ${name} must be a non-empty list of values`);
    for (const v of values) if (!isScalar(v)) throw new Error(`sweep file ${file}: axis ${name} has a value that is not a number, string or boolean: ${JSON.stringify(v)}`);
    const seen = new Set(values.map((v) => JSON.stringify(v)));
    if (seen.size !== values.length) throw new Error(`sweep file ${file}: axis ${name} lists a value twice`);
    return { name, values };
  });
  const points = list.reduce((n, a) => n * a.values.length, 1);
  if (points > MAX_POINTS) throw new Error(`sweep file ${file}: ${points} points, more than ${MAX_POINTS}`);
  return { file, base: base as Record<string, unknown>, axes: list };
}

/** Every point of the grid, the first axis varying slowest. */
export function sweepPoints(spec: SweepSpec): SweepPoint[] {
  let rows: Array<Record<string, AxisValue>> = [{}];
  for (const axis of spec.axes) rows = rows.flatMap((r) => axis.values.map((v) => ({ ...r, [axis.name]: v })));
  return rows.map((values) => ({ key: JSON.stringify(values), values }));
}

/** A short digest of the sweep's content (base and axes): results.jsonl and queued jobs belong to one sweep. */
export function sweepId(spec: SweepSpec): string {
  return createHash('sha256').update(JSON.stringify({ base: spec.base, axes: spec.axes })).digest('hex').slice(0, 16);
}

/** `pages_to_scan=100 seed=1`: a point for people. */
export function pointLabel(values: Readonly<Record<string, AxisValue>>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${String(v)}`).join(' ');
}
