// sweep-points.ts — owns what a sweep file's names mean: `base` keys are `ksmsim density` flags
// (max_seconds → --max-seconds, knobs: {k: v} → --ksm k=v), and an axis sets a density flag, a KSM
// knob, `seed` (every fleet entry's seed= argument), `fleet.NAME.count` or `fleet.NAME.args.KEY`.
// Each point becomes a density command line, parsed and checked by the density command's own
// functions (density-flags.ts), so a sweep refuses exactly what `ksmsim density` refuses.

import { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import type { FleetEntry } from '../density/density-types.ts';
import { fleetEntriesOf, parseFleetSpec } from '../density/fleet-spec.ts';
import { readFleetPlan } from '../density/fleet-schedule.ts';
import { KNOBS } from '../ksm/ksm-state.ts';
import { ksmFileNames } from '../ksm/sysfs.ts';
import { pointLabel, sweepId, sweepPoints, type AxisValue, type SweepSpec } from '../sweep/sweep-file.ts';
import type { PointJob } from '../sweep/point-run.ts';
import { addDensityFlags, DEFAULT_FLEET, parseDensityArgs, planDensity } from './density-flags.ts';

/** Density flags a sweep does not take, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  json: 'a sweep writes every result to DIR/results.jsonl',
  csv: 'a sweep writes every result to DIR/results.jsonl',
  html: 'a sweep\'s report is `ksmsim sweep-report DIR --html FILE`',
  quiet: 'a sweep prints one line per point',
  tuner: 'a point is one density run (the tuner comparison has its own result)',
  'lock-wait': 'points run on the emulator only',
  ksm: 'give knobs as base.knobs: {name: value}, or as an axis named after the knob',
};

/** How an axis acts on a point. */
type AxisKind =
  | { readonly kind: 'flag'; readonly flag: string }
  | { readonly kind: 'knob'; readonly knob: string }
  | { readonly kind: 'seed' }
  | { readonly kind: 'count'; readonly workload: string }
  | { readonly kind: 'arg'; readonly workload: string; readonly key: string };

function densityFlagNames(): string[] {
  return addDensityFlags(new Command('density')).options.map((o) => o.long!.slice(2));
}

const kebab = (name: string): string => name.replace(/_/g, '-');

function axisKind(name: string, flags: readonly string[], fleet: readonly FleetEntry[], where: string): AxisKind {
  if (name === 'seed') return { kind: 'seed' };
  const count = /^fleet\.(.+)\.count$/.exec(name);
  const arg = /^fleet\.(.+)\.args\.([^.]+)$/.exec(name);
  if (count || arg) {
    const workload = (count ?? arg)![1]!;
    const matches = fleet.filter((e) => e.workload === workload).length;
    if (matches !== 1) {
      throw new Error(`${where}: axis ${name}: ${matches ? `${matches} fleet entries are ${workload}` : `no fleet entry ${workload}`} (the fleet has ${fleet.map((e) => e.workload).join(', ')})`);
    }
    return count ? { kind: 'count', workload } : { kind: 'arg', workload, key: arg![2]! };
  }
  const flag = kebab(name);
  if (flags.includes(flag) && !['fleet', 'fleet-file', 'ksm'].includes(flag)) {
    if (REFUSED[flag]) throw new Error(`${where}: axis ${name}: --${flag} is not for sweeps (${REFUSED[flag]})`);
    return { kind: 'flag', flag };
  }
  if (ksmFileNames().includes(name)) return { kind: 'knob', knob: name };
  throw new Error(`${where}: unknown axis ${JSON.stringify(name)}: not a density flag, a KSM knob (${KNOBS.join(', ')}), seed, fleet.NAME.count or fleet.NAME.args.KEY`);
}

/** The base fleet: `fleet` as a spec string or a list of {workload, count, args}, `fleet_file`, or density's default. */
function baseFleet(spec: SweepSpec, where: string): FleetEntry[] {
  const { fleet, fleet_file: file } = spec.base as { fleet?: unknown; fleet_file?: unknown };
  if (fleet !== undefined && file !== undefined) throw new Error(`${where}: base.fleet and base.fleet_file: give one of them`);
  try {
    if (typeof file === 'string') {
      const plan = readFleetPlan(resolve(dirname(spec.file), file));
      if (plan.schedule.length) throw new Error(`fleet file ${file}: a schedule (at: entries) runs only with --tuner, which sweeps do not take`);
      return plan.fleet;
    }
    if (file !== undefined) throw new Error('base.fleet_file must be a path');
    if (Array.isArray(fleet)) return fleetEntriesOf(fleet, 'base.fleet');
    if (fleet !== undefined && typeof fleet !== 'string') throw new Error('base.fleet must be a spec like "web:4:size=8MiB" or a list of {workload, count, args}');
    return parseFleetSpec(fleet ?? DEFAULT_FLEET);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

/** The fleet as a --fleet spec, so density's own parser checks it. */
function fleetSpec(fleet: readonly FleetEntry[], where: string): string {
  return fleet.map((e) => {
    for (const a of e.args) if (/[,;]/.test(a)) throw new Error(`${where}: argument ${JSON.stringify(a)} of ${e.workload} holds , or ; and cannot be written as a --fleet spec`);
    return `${e.workload}:${e.count}${e.args.length ? `:${e.args.join(';')}` : ''}`;
  }).join(',');
}

function setArg(args: readonly string[], key: string, value: AxisValue): string[] {
  return [...args.filter((a) => !a.startsWith(`${key}=`)), `${key}=${String(value)}`];
}

/** A flag's value as command-line words: true → the bare flag, false → nothing, a list → the flag repeated. */
function flagWords(flag: string, value: unknown): string[] {
  if (value === true) return [`--${flag}`];
  if (value === false || value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((v) => flagWords(flag, v));
  return [`--${flag}`, String(value)];
}

/** Every point of the sweep as a checked density job; throws naming the base key, axis or value density refuses. */
export function sweepJobs(spec: SweepSpec): PointJob[] {
  const where = `sweep file ${spec.file}`;
  const names = densityFlagNames();
  const fleet = baseFleet(spec, where);
  const baseFlags = new Map<string, unknown>();
  let knobs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(spec.base)) {
    if (key === 'fleet' || key === 'fleet_file') continue;
    if (key === 'knobs') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: base.knobs must be a map like {sleep_millisecs: 10}`);
      knobs = Object.entries(value).map(([k, v]) => [k, String(v)]);
      continue;
    }
    const flag = kebab(key);
    if (REFUSED[flag]) throw new Error(`${where}: base.${key}: --${flag} is not for sweeps (${REFUSED[flag]})`);
    if (!names.includes(flag)) throw new Error(`${where}: base.${key} is not a density flag (known: knobs, ${names.filter((n) => !REFUSED[n]).map((n) => n.replace(/-/g, '_')).join(', ')})`);
    baseFlags.set(flag, value);
  }
  const kinds = new Map(spec.axes.map((a) => [a.name, axisKind(a.name, names, fleet, where)]));
  const argsOf = (values: Readonly<Record<string, AxisValue>>, at: string): string[] => {
    const flags = new Map(baseFlags);
    const ksm = [...knobs];
    let entries = fleet;
    for (const [name, value] of Object.entries(values)) {
      const k = kinds.get(name)!;
      if (k.kind === 'flag') flags.set(k.flag, value);
      else if (k.kind === 'knob') ksm.push([k.knob, String(value)]);
      else if (k.kind === 'seed') entries = entries.map((e) => ({ ...e, args: setArg(e.args, 'seed', value) }));
      // The count goes into the --fleet spec as text, where density's parser checks it (a whole number, 1 to 4096).
      else if (k.kind === 'count') entries = entries.map((e) => (e.workload === k.workload ? { ...e, count: value as number } : e));
      else entries = entries.map((e) => (e.workload === k.workload ? { ...e, args: setArg(e.args, k.key, value) } : e));
    }
    return [
      '--fleet', fleetSpec(entries, at),
      ...[...flags].flatMap(([f, v]) => flagWords(f, v)),
      ...ksm.flatMap(([k, v]) => ['--ksm', `${k}=${v}`]),
    ];
  };
  const check = (args: string[], at: string) => {
    try {
      const flags = parseDensityArgs(args);
      if (flags.backend !== 'emulator') throw new Error(`--backend ${flags.backend}: sweep points run on the emulator, each on its own emulated host`);
      if (flags.engine.length > 1) throw new Error(`--engine ${flags.engine.join(',')}: one engine a point; make engine an axis to compare them`);
      return planDensity(flags);
    } catch (e) {
      throw new Error(`${at}: ${(e as Error).message}`);
    }
  };
  check(argsOf({}, `${where}, base`), `${where}, base`);
  const id = sweepId(spec);
  return sweepPoints(spec).map((p) => {
    const at = `${where}, point ${pointLabel(p.values)}`;
    const args = argsOf(p.values, at);
    const plan = check(args, at);
    return { sweep_id: id, key: p.key, point: p.values, density_args: args, fleet: plan.fleet, options: plan.options };
  });
}
