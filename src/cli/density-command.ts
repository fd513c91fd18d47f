// density-command.ts — owns `ksmsim density`: read the fleet, run the experiment, print the headline,
// and write the JSON, CSV and HTML reports.

import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CAPACITY_SECONDS_DEFAULT } from '../density/capacity-run.ts';
import { runDensity, type DensityOptions } from '../density/density-runner.ts';
import type { DensityResult, FleetEntry } from '../density/density-types.ts';
import { parseFleetSpec, readFleetFile } from '../density/fleet-spec.ts';
import { MAX_NUMA_NODES } from '../mem/physical-memory.ts';
import { writeDensityCsv } from '../report/csv-report.ts';
import { capacitySentence } from '../report/capacity-text.ts';
import { renderDensityHtml } from '../report/html-report.ts';
import { collectKnob } from './knob-flag.ts';
import { statusLine } from './status-line.ts';
import { DEFAULT_ENGINE, ENGINE_NAMES, parseEngineList, type EngineName } from '../engines/engine.ts';
import { compareEngines, comparisonLines } from '../density/engine-comparison.ts';
import { renderEngineComparisonHtml } from '../report/engines-html.ts';
import { formatBytes, parseCount, parseSize } from './parse-size.ts';

/**
 * The fleet `ksmsim density` (and so `npm start`) runs without --fleet: 36 guests of 16–24 MiB in the
 * proportions of a small virtualisation host — mostly guests booted from one OS image, some web and
 * idle guests, a few databases — 736 MiB without KSM on the default 1 GiB host. Sized so both phases
 * (KSM off, KSM on until converged) finish in about a minute on a 2-core machine.
 */
export const DEFAULT_FLEET = 'os-image:16:size=24MiB,web:8:size=16MiB,idle:8:size=16MiB,db:4:size=24MiB';
/** Default host memory: room for DEFAULT_FLEET without KSM. */
export const DEFAULT_DENSITY_MEMORY = 2 ** 30;

interface DensityFlags {
  fleet?: string;
  fleetFile?: string;
  memory: number;
  numaNodes: number;
  ksm: Array<[string, string]>;
  capacity?: boolean;
  mergeAcrossNodes: '0' | '1' | 'both';
  maxGuests?: number;
  maxSeconds: number;
  capacitySeconds: number;
  json?: string;
  csv?: string;
  html?: string;
  quiet?: boolean;
  engine: EngineName[];
}

/** "ksmd CPU 1.20 s (thread) in 9.80 s wall, 12.2 % of one core": thread CPU time and wall time side by side. */
export function ksmdCpuText(r: DensityResult): string {
  const wall = `${r.ksmd_wall_seconds.toFixed(2)} s wall`;
  if (r.engine === 'dksm') return `no ksmd under DKSM: merging ran inside the guests' madvise calls (${wall})`;
  if (r.engine === 'uksm') return `no ksmd under UKSM: its scanner ran on the host thread, bounded by max_cpu_percentage (${wall})`;
  if (r.ksmd_cpu_seconds === null) return `ksmd CPU s (thread) unavailable (no /proc/thread-self), ${wall}`;
  return `ksmd CPU ${r.ksmd_cpu_seconds.toFixed(2)} s (thread) in ${wall}, ${(100 * (r.ksmd_cpu_share ?? 0)).toFixed(1)} % of one core`;
}

export function headline(r: DensityResult): string {
  const fleet = r.fleet.map((e) => `${e.count}× ${e.workload}`).join(', ');
  const saved = r.memory_without_ksm_bytes > 0 ? (100 * r.saved_bytes) / r.memory_without_ksm_bytes : 0;
  let text = `Fleet ${fleet} on a ${formatBytes(r.host.memory_bytes)} host (${r.host.numa_nodes} node${r.host.numa_nodes > 1 ? 's' : ''}): ` +
    `memory ${formatBytes(r.memory_without_ksm_bytes)} without KSM and ${formatBytes(r.memory_with_ksm_bytes)} with it, ` +
    `${formatBytes(r.saved_bytes)} saved (${saved.toFixed(1)} %; pages_shared ${r.pages_shared}, pages_sharing ${r.pages_sharing}, general_profit ${formatBytes(r.general_profit)}). `;
  text += r.converge_seconds === null ? 'The saving had not converged when the run stopped. ' : `The saving converged within ${r.converge_seconds.toFixed(2)} s of the fleet being up. `;
  text += `${ksmdCpuText(r)}.`;
  if (r.capacity) text += ` ${capacitySentence(r.capacity)}`;
  for (const n of r.numa ?? []) {
    text += ` merge_across_nodes=${n.merge_across_nodes}: ${formatBytes(n.memory_with_ksm_bytes)} used, ${(100 * n.remote_access_share).toFixed(1)} % of mapped pages on a remote node.`;
  }
  return text;
}

export function addDensityCommand(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('density')
    .description('measure the memory KSM saves for a fleet of guest workloads (what npm start runs)')
    .option('--fleet <spec>', 'workloads and counts, e.g. "idle:20,web:10,db:2" (name:count[:key=value;...])')
    .option('--fleet-file <file>', 'a JSON or YAML fleet file: [{workload, count, args}]')
    .option('--memory <size>', 'physical memory of the host', (v) => parseSize(v, '--memory'), DEFAULT_DENSITY_MEMORY)
    .option('--numa-nodes <n>', 'NUMA nodes', (v) => parseCount(v, '--numa-nodes', 1, MAX_NUMA_NODES), 1)
    .addOption(new Option('--ksm <key=value>', 'a /sys/kernel/mm/ksm knob for the KSM-on runs (repeatable)').argParser(collectKnob).default([]))
    .option('--capacity', 'also launch guests until memory is full, with and without KSM (density gain)')
    .addOption(new Option('--merge-across-nodes <mode>', 'merge_across_nodes for the KSM run, or both to compare').choices(['0', '1', 'both']).default('1'))
    .option('--max-guests <n>', 'capacity mode: stop after this many guests (default: derived from --memory and the fleet, see docs/density.md)', (v) => parseCount(v, '--max-guests', 1, 4096))
    .option('--capacity-seconds <s>', 'capacity mode: longest one capacity run may take', (v) => parseCount(v, '--capacity-seconds', 1, 86400), CAPACITY_SECONDS_DEFAULT)
    .option('--max-seconds <s>', 'longest wait for the saving to converge', (v) => parseCount(v, '--max-seconds', 1, 86400), 60)
    .option('--json <file>', 'write the full result as JSON (- for stdout; the headline then goes to stderr)')
    .option('--csv <dir>', 'write the time series and summaries as CSV files')
    .option('--html <file>', 'write a self-contained HTML report with charts')
    .option('--quiet', 'print nothing but errors (no headline, no progress line)')
    .option('--engine <list>', `merge engine, or a comma-separated list to compare (${ENGINE_NAMES.join(', ')}; docs/engines.md)`, (v) => parseEngineList(v), [DEFAULT_ENGINE])
    .action(async (flags: DensityFlags) => {
      setCode(await densityCommand(flags, out));
    });
}

async function densityCommand(flags: DensityFlags, out: (s: string) => void): Promise<number> {
  if (flags.fleet && flags.fleetFile) throw new Error('--fleet and --fleet-file: give one of them');
  if (flags.mergeAcrossNodes === 'both' && flags.numaNodes < 2) throw new Error('--merge-across-nodes both needs --numa-nodes 2 or more');
  let fleet: FleetEntry[];
  if (flags.fleetFile) fleet = readFleetFile(flags.fleetFile);
  else fleet = parseFleetSpec(flags.fleet ?? DEFAULT_FLEET);
  const quiet = !!flags.quiet;
  // `--json -` puts the JSON on stdout: everything for people then goes to stderr, so the JSON parses.
  const jsonToStdout = flags.json === '-';
  const say = jsonToStdout ? (line: string) => process.stderr.write(`${line}\n`) : out;
  const progress = statusLine(!quiet && !jsonToStdout);
  const o: DensityOptions = {
    memoryBytes: flags.memory, numaNodes: flags.numaNodes, knobs: flags.ksm, mergeAcrossNodes: flags.mergeAcrossNodes,
    capacity: !!flags.capacity, maxGuests: flags.maxGuests, capacitySeconds: flags.capacitySeconds, maxSeconds: flags.maxSeconds, sampleMs: 100,
    log: () => {}, status: progress.active ? (line) => progress.update(line) : undefined,
  };
  if (!quiet) say(`ksmsim density: ${fleet.map((e) => `${e.workload}:${e.count}`).join(',')} on ${formatBytes(flags.memory)}${flags.capacity ? ', with capacity runs' : ''}${flags.engine.length > 1 || flags.engine[0] !== DEFAULT_ENGINE ? `, engine ${flags.engine.join(', ')}` : ''}`);
  if (flags.engine.length > 1) return compareCommand(flags, o, fleet, say, progress, quiet, jsonToStdout);
  let result: DensityResult;
  try {
    result = await runDensity({ ...o, engine: flags.engine[0] }, fleet);
  } finally {
    progress.clear();
  }
  const json = JSON.stringify(result, null, 2) + '\n';
  if (jsonToStdout) process.stdout.write(json);
  else if (flags.json) writeFileSync(flags.json, json);
  if (flags.csv) {
    mkdirSync(flags.csv, { recursive: true });
    writeDensityCsv(result, flags.csv);
  }
  if (flags.html) writeFileSync(flags.html, renderDensityHtml(result));
  // The headline is the answer: printed whatever else was asked for, unless --quiet.
  if (!quiet) {
    say(headline(result));
    if (flags.json && !jsonToStdout) say(`JSON: ${resolve(flags.json)}`);
    if (flags.csv) say(`CSV: ${resolve(flags.csv)}`);
    if (flags.html) say(`HTML report: ${resolve(flags.html)}`);
  }
  return 0;
}

/** `--engine a,b,…`: the same fleet under each engine, one headline each, then the comparison table. */
async function compareCommand(
  flags: DensityFlags, o: DensityOptions, fleet: FleetEntry[], say: (s: string) => void,
  progress: ReturnType<typeof statusLine>, quiet: boolean, jsonToStdout: boolean,
): Promise<number> {
  if (flags.csv) throw new Error('--csv describes one engine\'s run: drop it with an --engine list (the JSON holds every run)');
  const runs: Array<[EngineName, DensityResult]> = [];
  try {
    for (const engine of flags.engine) runs.push([engine, await runDensity({ ...o, engine }, fleet)]);
  } finally {
    progress.clear();
  }
  const comparison = compareEngines(runs);
  const json = JSON.stringify(comparison, null, 2) + '\n';
  if (jsonToStdout) process.stdout.write(json);
  else if (flags.json) writeFileSync(flags.json, json);
  if (flags.html) writeFileSync(flags.html, renderEngineComparisonHtml(comparison, fleet.map((e) => `${e.count}× ${e.workload}`).join(', ')));
  if (!quiet) {
    for (const [engine, r] of runs) say(`[${engine}] ${headline(r)}`);
    for (const line of comparisonLines(comparison)) say(line);
    if (flags.json && !jsonToStdout) say(`JSON: ${resolve(flags.json)}`);
    if (flags.html) say(`HTML report: ${resolve(flags.html)}`);
  }
  return 0;
}
