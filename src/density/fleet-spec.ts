// fleet-spec.ts — owns reading a fleet: "idle:20,web:10,db:2" on the command line, or a JSON/YAML
// file (`[{workload, count, args}]` or `{fleet: [...]}`), resolved to guest programs.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WORKLOAD_NAMES, workloadPath } from '../workloads/workload-catalog.ts';
import type { FleetEntry } from './density-types.ts';

/** Parse `name:count[:key=value;key=value]` entries separated by commas. */
export function parseFleetSpec(spec: string): FleetEntry[] {
  const text = spec.trim();
  if (!text) throw new Error('--fleet: empty fleet spec (expected e.g. "idle:20,web:10,db:2")');
  return text.split(',').map((part) => {
    const [name, count, ...rest] = part.trim().split(':');
    if (!name || !/^[\w./-]+$/.test(name)) throw new Error(`--fleet: bad workload name in ${JSON.stringify(part)}`);
    const n = count === undefined ? 1 : Number(count);
    if (!Number.isInteger(n) || n < 1 || n > 4096) throw new Error(`--fleet: bad guest count ${JSON.stringify(count)} for ${name} (a whole number from 1 to 4096)`);
    const args = rest.join(':').split(';').map((a) => a.trim()).filter(Boolean);
    for (const a of args) if (!a.includes('=')) throw new Error(`--fleet: bad argument ${JSON.stringify(a)} for ${name} (expected key=value)`);
    return { workload: name, count: n, args };
  });
}

/** A fleet file's document (JSON or YAML), or an error naming the file. */
export function loadFleetDocument(path: string): unknown {
  try {
    const text = readFileSync(path, 'utf8');
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new Error(`fleet file ${path}: ${(e as Error).message}`);
  }
}

/** An entry with `at:` is part of the fleet's schedule (fleet-schedule.ts), not a guest to start at once. */
export function isScheduleEntry(e: unknown): boolean {
  return !!e && typeof e === 'object' && 'at' in e;
}

/** Read a fleet file (JSON or YAML). */
export function readFleetFile(path: string): FleetEntry[] {
  return fleetEntriesOf(loadFleetDocument(path), path);
}

/** The guests of a fleet file's document: a list, or `{fleet: [...]}`, less its schedule entries. */
export function fleetEntriesOf(doc: unknown, path: string): FleetEntry[] {
  const all = Array.isArray(doc) ? doc : (doc as { fleet?: unknown })?.fleet;
  const list = Array.isArray(all) ? all.filter((e) => !isScheduleEntry(e)) : all;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`fleet file ${path}: expected a non-empty list of {workload, count, args}`);
  return list.map((e, i) => {
    const entry = e as { workload?: unknown; count?: unknown; args?: unknown };
    if (typeof entry.workload !== 'string' || !entry.workload) throw new Error(`fleet file ${path}: entry ${i} has no workload name`);
    const count = entry.count ?? 1;
    if (!Number.isInteger(count) || (count as number) < 1) throw new Error(`fleet file ${path}: entry ${i} (${entry.workload}) has bad count ${JSON.stringify(count)}`);
    const args = entry.args ?? [];
    let list: string[];
    if (Array.isArray(args)) list = args.map(String);
    else if (typeof args === 'object' && args) list = Object.entries(args).map(([k, v]) => `${k}=${String(v)}`);
    else throw new Error(`fleet file ${path}: entry ${i} (${entry.workload}) has bad args`);
    return { workload: entry.workload, count: count as number, args: list };
  });
}

/** The guest program for a workload name (guests/workloads/<name>.ts) or an explicit path. */
export function workloadProgram(workload: string): string {
  if ((WORKLOAD_NAMES as readonly string[]).includes(workload)) return workloadPath(workload);
  const path = resolve(workload);
  if (/[./]/.test(workload) && existsSync(path)) return path;
  throw new Error(`unknown workload ${JSON.stringify(workload)}: not one of ${WORKLOAD_NAMES.join(', ')}, and no such program file`);
}
