// fidelity-command.ts — owns `ksmsim fidelity [SCENARIO...] [--json FILE] [--write-table DOC]`: run the
// scenarios of guests/fidelity/ on the emulator and on the real kernel (one knob guard over the whole
// run, each scenario from the kernel's defaults), print the comparison, fail on any difference that
// is not a documented deviation; and write the docs table from a run's JSON.

import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { KERNEL_KNOB_DEFAULTS } from '../backend/linux/kernel-defaults.ts';
import { readKnobs, withKnobGuard } from '../backend/linux/knob-guard.ts';
import { writeRealFile } from '../backend/linux/real-files.ts';
import { KSM_DIR } from '../ksm/sysfs.ts';
import { observe } from '../fidelity/compare.ts';
import { renderFidelityTable, replaceTable } from '../fidelity/docs-table.ts';
import { parseRecordedRun } from '../fidelity/recorded.ts';
import { describeDifference, fidelityJson, fidelityMarkdown, fidelityTable, resultWord } from '../fidelity/report.ts';
import { runFidelity, type FidelityResult } from '../fidelity/run-fidelity.ts';
import { loadScenarios } from '../fidelity/scenarios.ts';

interface FidelityFlags {
  json?: string;
  list?: boolean;
  markdown?: boolean;
  verbose?: boolean;
  writeTable?: string;
  from?: string;
  startKnobs?: Array<[string, string]>;
}

export function addFidelityCommand(program: Command, out: (s: string) => void, setCode: (code: number) => void): void {
  program
    .command('fidelity')
    .description('run the fidelity scenarios (guests/fidelity/) on the emulator and on the real kernel and compare what they observed')
    .argument('[scenario...]', 'scenario names (default: all)')
    .option('--json <file>', 'write the comparison as JSON to FILE')
    .option('--list', 'list the scenarios and exit')
    .option('--markdown', 'print the table as Markdown')
    .option('--verbose', 'print every checkpoint of both backends')
    .option('--write-table <doc>', 'write the Markdown table between the fidelity-table markers of DOC (e.g. docs/fidelity.md)')
    .option('--from <json>', 'do not run: take the results from a JSON file written by --json (with --write-table)')
    .option('--start-knobs <list>', 'first leave the machine\'s knobs at these values (name=value,..., written in order under the lock), to show the run does not depend on them; restored afterwards', parseKnobList)
    .action(async (names: string[], flags: FidelityFlags) => {
      setCode(await fidelityCommand(names, flags, out));
    });
}

/** "use_zero_pages=1,max_page_sharing=16" → [[name, value], ...]; a name that is not a KSM knob is an error. */
export function parseKnobList(text: string): Array<[string, string]> {
  return text.split(',').filter((p) => p.trim() !== '').map((pair) => {
    const m = /^\s*([a-z_]+)=(\S+)\s*$/.exec(pair);
    if (!m) throw new Error(`--start-knobs: "${pair}" is not name=value`);
    if (!(m[1]! in KERNEL_KNOB_DEFAULTS)) throw new Error(`--start-knobs: ${m[1]} is not a writable KSM knob (known: ${Object.keys(KERNEL_KNOB_DEFAULTS).join(', ')})`);
    return [m[1]!, m[2]!];
  });
}

async function fidelityCommand(names: string[], flags: FidelityFlags, out: (s: string) => void): Promise<number> {
  if (flags.from) {
    if (!flags.writeTable) throw new Error('fidelity --from needs --write-table (it only renders a recorded run)');
    writeTable(flags.writeTable, readFileSync(flags.from, 'utf8'), flags.from);
    out(`wrote the fidelity table of ${flags.from} into ${flags.writeTable}`);
    return 0;
  }
  const scenarios = await loadScenarios(names);
  if (flags.list) {
    const w = Math.max(...scenarios.map((s) => s.name.length));
    for (const s of scenarios) out(`${s.name.padEnd(w)}  ${s.meta.guests > 1 ? `[${s.meta.guests} guests] ` : ''}${s.meta.description}`);
    return 0;
  }
  const avail = linuxBackendAvailable();
  if (!avail.ok) throw new Error(`fidelity needs the linux backend, which is not available here: ${avail.reason}`);
  const quiet = !!flags.json;
  const progress = !quiet && process.stderr.isTTY;
  let i = 0;
  // One guard over the whole run: no other run's knobs can come between two scenarios.
  const { results, nonDefaultKnobsBefore } = await withKnobGuard(async (guard) => {
    for (const [k, v] of flags.startKnobs ?? []) {
      try {
        writeRealFile(KSM_DIR + k, v);
      } catch (e) {
        throw new Error(`--start-knobs ${k}=${v}: ${(e as Error).message}`);
      }
    }
    const before = nonDefaultKnobs();
    const results: FidelityResult[] = await runFidelity(scenarios, {
      guard,
      onScenario: (r, runs) => {
        i++;
        if (progress) process.stderr.write(`\r\x1b[2K[ksmsim] ${i}/${scenarios.length} ${r.name}: ${resultWord(r)}`);
        if (flags.verbose && !quiet) {
          const e = observe(runs.emulator.guests).checks;
          const l = observe(runs.linux.guests).checks;
          if (progress) process.stderr.write('\r\x1b[2K');
          out(`${r.name} (${r.description}; emulator ${r.seconds.emulator} s, linux ${r.seconds.linux} s)`);
          for (const k of new Set([...e.keys(), ...l.keys()])) out(`  ${k}: ${e.get(k) ?? '(missing)'}${e.get(k) === l.get(k) ? '' : `  ≠ linux ${l.get(k) ?? '(missing)'}`}`);
          for (const [side, notes] of Object.entries(r.notes ?? {})) for (const [k, v] of Object.entries(notes)) out(`  note ${side} ${k}: ${v}`);
        }
      },
    });
    return { results, nonDefaultKnobsBefore: before };
  }, { waitMs: 10 * 60_000 });
  if (progress) process.stderr.write('\r\x1b[2K');
  const meta = { date: new Date().toISOString(), kernel: release(), nonDefaultKnobsBefore };
  const json = fidelityJson(results, meta);
  if (flags.json) writeFileSync(flags.json, json);
  if (flags.writeTable) writeTable(flags.writeTable, json, 'this run');
  if (!quiet) {
    out(`fidelity against the kernel (${meta.date.slice(0, 10)}, Linux ${meta.kernel}); every scenario started from the kernel's default knobs`);
    const left = Object.entries(nonDefaultKnobsBefore).map(([k, v]) => `${k}=${v}`).join(', ');
    if (left) out(`the machine's knobs not at their defaults before the run (restored afterwards): ${left}`);
    for (const line of flags.markdown ? fidelityMarkdown(results) : fidelityTable(results)) out(line);
  }
  const failed = results.filter((r) => !r.passed);
  for (const r of failed) {
    process.stderr.write(`ksmsim: fidelity scenario ${r.name} differs: ${r.differences.filter((d) => !d.deviation).map(describeDifference).join('; ')}\n`);
  }
  return failed.length ? 1 : 0;
}

/** The machine's KSM knobs that are not at the kernel's default, as name → value. */
function nonDefaultKnobs(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, value] of readKnobs()) {
    const name = path.slice(KSM_DIR.length);
    if (path.startsWith(KSM_DIR) && KERNEL_KNOB_DEFAULTS[name] !== undefined && KERNEL_KNOB_DEFAULTS[name] !== value) out[name] = value;
  }
  return out;
}

function writeTable(doc: string, json: string, source: string): void {
  const run = parseRecordedRun(json, source);
  writeFileSync(doc, replaceTable(readFileSync(doc, 'utf8'), renderFidelityTable(run)));
}
