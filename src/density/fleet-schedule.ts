// fleet-schedule.ts — owns a fleet that changes over time: schedule entries in a fleet file
// (`- at: 30s` / `start: web:4` and `- at: 90s` / `destroy: web`), their times, and reading a fleet
// file into its starting fleet and its schedule.

import type { FleetEntry } from './density-types.ts';
import { fleetEntriesOf, isScheduleEntry, loadFleetDocument, parseFleetSpec } from './fleet-spec.ts';

/** Seconds after the starting fleet is up (every guest READY). */
export type ScheduleEvent =
  | { readonly at: number; readonly start: readonly FleetEntry[] }
  /** Destroy the `count` most recently started running guests of `workload` (all of them when undefined). */
  | { readonly at: number; readonly destroy: { readonly workload: string; readonly count?: number } };

export interface FleetPlan {
  readonly fleet: FleetEntry[];
  readonly schedule: ScheduleEvent[];
}

/** `30`, `30s`, `1.5m`, `2m30s`, `500ms` → seconds. */
export function parseAt(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const text = String(value).trim();
  if (text === '' || !/^(\d+(\.\d+)?(ms|s|m|h)?)+$/.test(text)) throw new Error(`${where}: bad time ${JSON.stringify(value)} (e.g. 30s, 1m30s, 90)`);
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)?/g)) {
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    total += Number(m[1]) * unit;
  }
  return total;
}

/** One schedule item of a fleet file: `{at, start: "web:4[:args]"}` or `{at, destroy: "web[:N]"}`. */
export function parseScheduleItem(item: unknown, where: string): ScheduleEvent {
  const e = item as { at?: unknown; start?: unknown; destroy?: unknown };
  if (e.at === undefined) throw new Error(`${where}: a schedule entry needs at:`);
  const at = parseAt(e.at, where);
  if ((e.start === undefined) === (e.destroy === undefined)) throw new Error(`${where}: give one of start: or destroy:`);
  if (e.start !== undefined) {
    try {
      return { at, start: parseFleetSpec(String(e.start)) };
    } catch (err) {
      throw new Error(`${where}: start: ${(err as Error).message.replace(/^--fleet: /, '')}`);
    }
  }
  const m = /^([\w./-]+)(?::(\d+))?$/.exec(String(e.destroy).trim());
  if (!m) throw new Error(`${where}: destroy: expected WORKLOAD or WORKLOAD:COUNT, found ${JSON.stringify(e.destroy)}`);
  const count = m[2] === undefined ? undefined : Number(m[2]);
  if (count !== undefined && count < 1) throw new Error(`${where}: destroy: count must be at least 1`);
  return { at, destroy: { workload: m[1]!, count } };
}

/**
 * A fleet file with a schedule: either a list mixing fleet entries and `at:` entries, or
 * `{fleet: [...], schedule: [...]}`. Events are returned in time order.
 */
export function readFleetPlan(path: string): FleetPlan {
  // Read and parsed once: the schedule and the fleet come from the same document.
  const doc = loadFleetDocument(path);
  const items: Array<[unknown, string]> = [];
  if (Array.isArray(doc)) {
    doc.forEach((e, i) => { if (isScheduleEntry(e)) items.push([e, `fleet file ${path}: entry ${i}`]); });
  } else {
    const sched = (doc as { schedule?: unknown })?.schedule;
    if (sched !== undefined && !Array.isArray(sched)) throw new Error(`fleet file ${path}: schedule must be a list`);
    (sched ?? []).forEach((e: unknown, i: number) => items.push([e, `fleet file ${path}: schedule entry ${i}`]));
  }
  const schedule = items.map(([e, where]) => parseScheduleItem(e, where)).sort((a, b) => a.at - b.at);
  return { fleet: fleetEntriesOf(doc, path), schedule };
}

export function describeEvent(e: ScheduleEvent): string {
  return 'start' in e
    ? `start ${e.start.map((s) => `${s.workload}:${s.count}`).join(',')}`
    : `destroy ${e.destroy.workload}${e.destroy.count === undefined ? '' : `:${e.destroy.count}`}`;
}
