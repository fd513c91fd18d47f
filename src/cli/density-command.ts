// density-command.ts — owns `ksmsim density`: read the fleet, run the experiment, print the headline,
// and write the JSON, CSV and HTML reports.

import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compareDensity, comparisonTable, type DensityBothResult } from '../density/density-compare.ts';
import { runDensity, type DensityOptions } from '../density/density-runner.ts';
import { LINUX_REFUSED_EXIT, LinuxDensityRefused, runLinuxDensity } from '../density/linux-density.ts';
import type { DensityResult, FleetEntry } from '../density/density-types.ts';
import type { ScheduleEvent } from '../density/fleet-schedule.ts';
import { runTuners } from '../density/tuner-run.ts';
import { renderTunerHtml, tunerText } from '../report/tuner-report.ts';
import { csvLine, writeDensityCsv, writeEnginesCsv } from '../report/csv-report.ts';
import { capacitySentence } from '../report/capacity-text.ts';
import { renderComparisonHtml } from '../report/comparison-html.ts';
import { renderDensityHtml } from '../report/html-report.ts';
import { statusLine } from './status-line.ts';
import { DEFAULT_ENGINE, type EngineName } from '../engines/engine.ts';
import { compareEngines, comparisonLines } from '../density/engine-comparison.ts';
import { renderEngineComparisonHtml } from '../report/engines-html.ts';
import { formatBytes } from './parse-size.ts';
import { addDensityFlags, planDensity, type DensityFlags } from './density-flags.ts';
import { compareThp, thpSummary, thpTable, type ThpComparison } from '../density/thp-comparison.ts';

export { DEFAULT_DENSITY_MEMORY, DEFAULT_FLEET } from './density-flags.ts';

/** "ksmd CPU 1.20 s (thread) in 9.80 s wall, 12.2 % of one core": thread CPU time and wall time side by side. */
export function ksmdCpuText(r: DensityResult): string {
  const wall = `${r.ksmd_wall_seconds.toFixed(2)} s wall`;
  if (r.engine === 'dksm') return `no ksmd under DKSM: merging ran inside the guests' madvise calls (${wall})`;
  if (r.engine === 'uksm') return `no ksmd under UKSM: its scanner ran on the host thread, bounded by max_cpu_percentage (${wall})`;
  const thread = r.backend === 'linux' ? 'kernel thread' : 'thread';
  if (r.ksmd_cpu_seconds === null) return `ksmd CPU s (${thread}) unavailable (${r.backend === 'linux' ? 'no ksmd in /proc' : 'no /proc/thread-self'}), ${wall}`;
  return `ksmd CPU ${r.ksmd_cpu_seconds.toFixed(2)} s (${thread}) in ${wall}, ${(100 * (r.ksmd_cpu_share ?? 0)).toFixed(1)} % of one core`;
}

export function headline(r: DensityResult): string {
  const fleet = r.fleet.map((e) => `${e.count}× ${e.workload}`).join(', ');
  const saved = r.memory_without_ksm_bytes > 0 ? (100 * r.saved_bytes) / r.memory_without_ksm_bytes : 0;
  const where = r.backend === 'linux'
    ? `on the real kernel${r.kernel ? ` (Linux ${r.kernel.kernel})` : ''} of a ${formatBytes(r.host.memory_bytes)} machine`
    : `on a ${formatBytes(r.host.memory_bytes)} host`;
  let text = `Fleet ${fleet} ${where} (${r.host.numa_nodes} node${r.host.numa_nodes > 1 ? 's' : ''}): ` +
    `memory ${formatBytes(r.memory_without_ksm_bytes)} without KSM and ${formatBytes(r.memory_with_ksm_bytes)} with it, ` +
    `${formatBytes(r.saved_bytes)} saved (${saved.toFixed(1)} %; pages_shared ${r.pages_shared}, pages_sharing ${r.pages_sharing}, general_profit ${formatBytes(r.general_profit)}). `;
  text += r.converge_seconds === null ? 'The saving had not converged when the run stopped. '
    : `The saving converged within ${r.converge_seconds.toFixed(2)} s${r.converge_full_scans === null ? '' : ` (${r.converge_full_scans} full scan${r.converge_full_scans === 1 ? '' : 's'})`} of the fleet being up. `;
  text += `${ksmdCpuText(r)}.`;
  if (r.thp && (r.thp !== 'madvise' || (r.anon_huge_bytes_without_ksm ?? 0) > 0)) {
    text += ` THP ${r.thp}: AnonHugePages ${formatBytes(r.anon_huge_bytes_without_ksm ?? 0)} without KSM, ${formatBytes(r.anon_huge_bytes_with_ksm ?? 0)} with it (ksmd split ${r.thp_split_pages ?? 0} huge pages).`;
  }
  if (r.capacity) text += ` ${capacitySentence(r.capacity)}`;
  for (const n of r.numa ?? []) {
    text += ` merge_across_nodes=${n.merge_across_nodes}: ${formatBytes(n.memory_with_ksm_bytes)} used, ${(100 * n.remote_access_share).toFixed(1)} % of mapped pages on a remote node.`;
  }
  return text;
}

export function addDensityCommand(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  const cmd = program
    .command('density')
    .description('measure the memory KSM saves for a fleet of guest workloads (what npm start runs)');
  addDensityFlags(cmd)
    .action(async (flags: DensityFlags) => {
      setCode(await densityCommand(flags, out));
    });
}

async function densityCommand(flags: DensityFlags, out: (s: string) => void): Promise<number> {
  const { fleet, schedule, options } = planDensity(flags);
  const quiet = !!flags.quiet;
  // `--json -` puts the JSON on stdout: everything for people then goes to stderr, so the JSON parses.
  const jsonToStdout = flags.json === '-';
  const say = jsonToStdout ? (line: string) => process.stderr.write(`${line}\n`) : out;
  const progress = statusLine(!quiet && !jsonToStdout);
  const o: DensityOptions = {
    // engine: chosen per run below (an --engine list compares several; the kernel has its own).
    ...options, engine: undefined, log: () => {}, status: progress.active ? (line) => progress.update(line) : undefined,
  };
  if (flags.thp && flags.backend !== 'emulator') {
    process.stderr.write('ksmsim density: --thp runs on the emulator only (the linux backend keeps every mapping MADV_NOHUGEPAGE); drop --backend\n');
    return 2;
  }
  if (flags.thp === 'both') {
    if (flags.tuner.length || flags.engine.length > 1 || flags.capacity || flags.csv || flags.html || flags.mergeAcrossNodes === 'both') {
      throw new Error('--thp both: drop --tuner, an --engine list, --capacity, --csv, --html and --merge-across-nodes both (it compares two whole density runs; the JSON holds both)');
    }
    return thpCommand(flags, { ...o, engine: flags.engine[0] }, fleet, say, progress, quiet, jsonToStdout);
  }

  if (flags.tuner.length) {
    if (flags.backend !== 'emulator') {
      process.stderr.write('ksmsim density: --tuner runs on the emulator only; drop --backend\n');
      return 2;
    }
    return tunerCommand(flags, o, fleet, schedule, say, progress, quiet, jsonToStdout);
  }
  const engineNote = flags.engine.length > 1 || flags.engine[0] !== DEFAULT_ENGINE ? `, engine ${flags.engine.join(', ')}` : '';
  if ((flags.engine.length > 1 || flags.engine[0] !== DEFAULT_ENGINE) && flags.backend !== 'emulator') {
    process.stderr.write('ksmsim density: --engine dksm/uksm runs on the emulator only (the kernel has its own KSM); drop --backend\n');
    return 2;
  }
  const on = flags.backend === 'linux' ? 'the real kernel' : flags.backend === 'both' ? `the emulator (${formatBytes(flags.memory)}) and the real kernel` : formatBytes(flags.memory);
  if (!quiet) say(`ksmsim density: ${fleet.map((e) => `${e.workload}:${e.count}`).join(',')} on ${on}${flags.capacity ? `, with capacity runs${flags.swap ? ` (and again with ${formatBytes(flags.swap)} of swap)` : ''}` : ''}${engineNote}`);
  if (flags.engine.length > 1) return compareCommand(flags, o, fleet, say, progress, quiet, jsonToStdout);
  if (flags.backend !== 'emulator' && flags.capacity) {
    // Refused before anything runs, even the emulator half: capacity mode fills memory until the OOM killer.
    process.stderr.write('ksmsim density: --capacity runs on the emulator only (on the real kernel it would fill this machine\'s memory); use --backend emulator\n');
    return LINUX_REFUSED_EXIT.capacity;
  }
  const lo = { lockWaitMs: flags.lockWait * 1000 };
  const refusal = (e: unknown): LinuxDensityRefused | undefined => (e instanceof LinuxDensityRefused ? e : undefined);
  if (flags.backend === 'both') {
    let both: DensityBothResult;
    let code = 0;
    try {
      const emulator = await runDensity(o, fleet);
      try {
        const linux = await runLinuxDensity(o, fleet, lo);
        both = { emulator, linux, comparison: compareDensity(emulator, linux) };
      } catch (e) {
        // Refused (exit 2–5) or failed on the way (a guest crashed: exit 1): the emulator's result still stands.
        const r = refusal(e);
        const message = (e as Error).message;
        process.stderr.write(`ksmsim density: the kernel half ${r ? 'did not run' : 'failed'}: ${message}\n`);
        code = r ? LINUX_REFUSED_EXIT[r.kind] : 1;
        both = { emulator, linux: null, comparison: null, linux_error: message };
      }
    } finally {
      progress.clear();
    }
    writeOutputs(flags, both, jsonToStdout, (dir) => {
      writeDensityCsv(both.emulator, join(dir, 'emulator'));
      if (both.linux) writeDensityCsv(both.linux, join(dir, 'linux'));
      if (both.comparison) writeFileSync(join(dir, 'comparison.csv'), comparisonCsv(both));
    }, () => renderComparisonHtml(both));
    if (!quiet) {
      say(`Emulator: ${headline(both.emulator)}`);
      if (both.linux && both.comparison) {
        say(`Kernel: ${headline(both.linux)}`);
        for (const line of comparisonTable(both.emulator, both.linux, both.comparison)) say(line);
      }
      sayWritten(flags, jsonToStdout, say);
    }
    return code;
  }
  let result: DensityResult;
  try {
    result = flags.backend === 'linux' ? await runLinuxDensity(o, fleet, lo) : await runDensity({ ...o, engine: flags.engine[0] }, fleet);
  } catch (e) {
    const r = refusal(e);
    if (!r) throw e;
    process.stderr.write(`ksmsim density --backend linux: ${r.message}\n`);
    return LINUX_REFUSED_EXIT[r.kind];
  } finally {
    progress.clear();
  }
  writeOutputs(flags, result, jsonToStdout, (dir) => writeDensityCsv(result, dir), () => renderDensityHtml(result));
  // The headline is the answer: printed whatever else was asked for, unless --quiet.
  if (!quiet) {
    say(headline(result));
    sayWritten(flags, jsonToStdout, say);
  }
  return 0;
}

function writeOutputs(flags: DensityFlags, value: unknown, jsonToStdout: boolean, csv: (dir: string) => void, html: () => string): void {
  const json = JSON.stringify(value, null, 2) + '\n';
  if (jsonToStdout) process.stdout.write(json);
  else if (flags.json) writeFileSync(flags.json, json);
  if (flags.csv) {
    mkdirSync(flags.csv, { recursive: true });
    csv(flags.csv);
  }
  if (flags.html) writeFileSync(flags.html, html());
}

function sayWritten(flags: DensityFlags, jsonToStdout: boolean, say: (line: string) => void): void {
  if (flags.json && !jsonToStdout) say(`JSON: ${resolve(flags.json)}`);
  if (flags.csv) say(`CSV: ${resolve(flags.csv)}`);
  if (flags.html) say(`HTML report: ${resolve(flags.html)}`);
}

/** comparison.csv of --backend both: figure, emulator, linux, ratio. */
function comparisonCsv(b: DensityBothResult): string {
  const lines = [csvLine(['figure', 'emulator', 'linux', 'ratio'])];
  for (const [k, f] of Object.entries(b.comparison ?? {})) lines.push(csvLine([k, f.emulator, f.linux, f.ratio]));
  return lines.join('');
}

async function tunerCommand(
  flags: DensityFlags, o: DensityOptions, fleet: FleetEntry[], schedule: ScheduleEvent[], say: (s: string) => void,
  progress: ReturnType<typeof statusLine>, quiet: boolean, jsonToStdout: boolean,
): Promise<number> {
  if (!quiet) say(`ksmsim density --tuner ${flags.tuner.map((t) => t.name).join(',')}: ${fleet.map((e) => `${e.workload}:${e.count}`).join(',')} on ${formatBytes(flags.memory)}, ${schedule.length} schedule event${schedule.length === 1 ? '' : 's'}`);
  let result;
  try {
    result = await runTuners(o, fleet, schedule, flags.tuner, flags.maxSeconds);
  } finally {
    progress.clear();
  }
  // One sample per line: thousands of samples stay readable and a fraction of the indented size.
  const json = JSON.stringify(result, (k, v) => (k === 'series' ? (v as unknown[]).map((x) => JSON.stringify(x)) : v), 2)
    .replace(/^(\s*)"(\{.*\})"(,?)$/gm, (_m, sp: string, obj: string, comma: string) => `${sp}${JSON.parse(`"${obj}"`)}${comma}`) + '\n';
  if (jsonToStdout) process.stdout.write(json);
  else if (flags.json) writeFileSync(flags.json, json);
  if (flags.html) writeFileSync(flags.html, renderTunerHtml(result));
  if (!quiet) {
    for (const line of tunerText(result)) say(line);
    if (flags.json && !jsonToStdout) say(`JSON: ${resolve(flags.json)}`);
    if (flags.html) say(`HTML report: ${resolve(flags.html)}`);
  }
  return 0;
}

/** `--thp both`: the fleet with THP always and never, one headline each, then the table. */
async function thpCommand(
  flags: DensityFlags, o: DensityOptions, fleet: FleetEntry[], say: (s: string) => void,
  progress: ReturnType<typeof statusLine>, quiet: boolean, jsonToStdout: boolean,
): Promise<number> {
  if (!quiet) say(`ksmsim density --thp both: ${fleet.map((e) => `${e.workload}:${e.count}`).join(',')} on ${formatBytes(flags.memory)}, THP always then never`);
  let comparison: ThpComparison;
  try {
    comparison = await compareThp(o, fleet);
  } finally {
    progress.clear();
  }
  writeOutputs(flags, comparison, jsonToStdout, () => {}, () => '');
  if (!quiet) {
    for (const r of comparison.runs) say(`[thp ${r.thp}] ${headline(r)}`);
    for (const line of thpTable(comparison.rows)) say(line);
    say(thpSummary(comparison.rows));
    sayWritten(flags, jsonToStdout, say);
  }
  return 0;
}

/** `--engine a,b,…`: the same fleet under each engine, one headline each, then the comparison table. */
async function compareCommand(
  flags: DensityFlags, o: DensityOptions, fleet: FleetEntry[], say: (s: string) => void,
  progress: ReturnType<typeof statusLine>, quiet: boolean, jsonToStdout: boolean,
): Promise<number> {
  const runs: Array<[EngineName, DensityResult]> = [];
  try {
    for (const engine of flags.engine) runs.push([engine, await runDensity({ ...o, engine }, fleet)]);
  } finally {
    progress.clear();
  }
  const comparison = compareEngines(runs);
  // The CSV files carry an engine column: every sample of every engine's run.
  writeOutputs(flags, comparison, jsonToStdout, (dir) => writeEnginesCsv(runs, dir), () => renderEngineComparisonHtml(comparison, fleet.map((e) => `${e.count}× ${e.workload}`).join(', ')));
  if (!quiet) {
    for (const [engine, r] of runs) say(`[${engine}] ${headline(r)}`);
    for (const line of comparisonLines(comparison)) say(line);
    sayWritten(flags, jsonToStdout, say);
  }
  return 0;
}
