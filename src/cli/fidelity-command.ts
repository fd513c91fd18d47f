// fidelity-command.ts — owns `ksmsim fidelity [SCENARIO...] [--json FILE]`: run the scenarios of
// guests/fidelity/ on the emulator and on the real kernel, print the comparison, and fail on any
// difference that is not a documented deviation.

import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { observe } from '../fidelity/compare.ts';
import { describeDifference, fidelityJson, fidelityMarkdown, fidelityTable, resultWord } from '../fidelity/report.ts';
import { runFidelity } from '../fidelity/run-fidelity.ts';
import { loadScenarios } from '../fidelity/scenarios.ts';

interface FidelityFlags {
  json?: string;
  list?: boolean;
  markdown?: boolean;
  verbose?: boolean;
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
    .action(async (names: string[], flags: FidelityFlags) => {
      setCode(await fidelityCommand(names, flags, out));
    });
}

async function fidelityCommand(names: string[], flags: FidelityFlags, out: (s: string) => void): Promise<number> {
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
  const results = await runFidelity(scenarios, {
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
  if (progress) process.stderr.write('\r\x1b[2K');
  const meta = { date: new Date().toISOString(), kernel: release() };
  if (flags.json) writeFileSync(flags.json, fidelityJson(results, meta));
  if (!quiet) {
    out(`fidelity against the kernel (${meta.date.slice(0, 10)}, Linux ${meta.kernel})`);
    for (const line of flags.markdown ? fidelityMarkdown(results) : fidelityTable(results)) out(line);
  }
  const failed = results.filter((r) => !r.passed);
  for (const r of failed) {
    process.stderr.write(`ksmsim: fidelity scenario ${r.name} differs: ${r.differences.filter((d) => !d.deviation).map(describeDifference).join('; ')}\n`);
  }
  return failed.length ? 1 : 0;
}
