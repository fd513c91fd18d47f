// attack-command.ts — owns `ksmsim attack`: run side-channel scenarios under mitigations and merge
// engines (src/security/attack-run.ts), measure what the same fleet saves under each mitigation and
// engine (attack-savings.ts), and print one table of the trade-off (JSON with --json).

import { Option, type Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { parseFleetSpec } from '../density/fleet-spec.ts';
import { MITIGATIONS, parseMitigation, type Mitigation } from '../ksm/merge-policy.ts';
import { SCENARIOS, attackRefusal, runAttack, type AttackScore, type Scenario } from '../security/attack-run.ts';
import { DEFAULT_ENGINE, ENGINE_NAMES, parseEngineList, type EngineName } from '../engines/engine.ts';
import { ATTACK_FLEET, ATTACK_FLEET_MEMORY, fleetSavings } from '../security/attack-savings.ts';
import { formatBytes, parseCount, parseSize } from './parse-size.ts';
import { statusLine } from './status-line.ts';

/** One row of the table and of the JSON (the issue's fields first). */
export interface AttackRow extends AttackScore {
  readonly scenario: Scenario;
  readonly mitigation: Mitigation;
  /** The merge engine (absent in rows written before engines could be chosen: ksm). */
  readonly engine?: EngineName;
  readonly trials: number;
  readonly candidates: number;
  /** Bytes the fleet saves under this mitigation; null with --no-savings. */
  readonly saved_bytes: number | null;
  readonly seed: number;
  readonly use_zero_pages: 0 | 1;
  /** covert: bits per round. */
  readonly bits?: number;
}

interface AttackFlags {
  scenario: string;
  mitigation: string;
  engine: EngineName[];
  trials: number;
  candidates: number;
  bits: number;
  seed: number;
  useZeroPages: '0' | '1';
  waitMs?: number;
  fleet: string;
  memory: number;
  maxSeconds: number;
  savings: boolean;
  json?: string;
}

/** `probe,covert` or `all` → the list, in the given order. */
function parseList<T extends string>(text: string, all: readonly T[], flag: string, parse: (v: string) => T): T[] {
  if (text.trim() === 'all') return [...all];
  const out: T[] = [];
  for (const v of text.split(',').map((x) => x.trim())) {
    const item = parse(v);
    if (out.includes(item)) throw new Error(`${flag} ${JSON.stringify(text)}: ${item} is listed twice`);
    out.push(item);
  }
  return out;
}

function parseScenario(v: string): Scenario {
  if ((SCENARIOS as readonly string[]).includes(v)) return v as Scenario;
  throw new Error(`--scenario ${JSON.stringify(v)}: expected one of ${SCENARIOS.join(', ')} (or a comma-separated list, or all)`);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** Whether the rows need an engine column (some row ran under another engine than ksm). */
const engineColumn = (rows: readonly AttackRow[]) => rows.some((r) => (r.engine ?? DEFAULT_ENGINE) !== DEFAULT_ENGINE);

/** The table `ksmsim attack` prints: one line per scenario × mitigation (× engine). */
export function attackTable(rows: readonly AttackRow[]): string[] {
  const engines = engineColumn(rows);
  const head = [...(engines ? ['engine'] : []), 'scenario', 'mitigation', 'result', 'chance', 'merged / other write', 'fleet saves'];
  const body = rows.map((r) => [
    ...(engines ? [r.engine ?? DEFAULT_ENGINE] : []), r.scenario, r.mitigation,
    r.bits_per_second !== undefined ? `${r.bits_per_second.toFixed(0)} bit/s, ${pct(r.bit_error_rate ?? 0)} errors` : `${pct(r.accuracy)} right of ${r.trials}`,
    pct(r.chance),
    `${ns(r.median_write_ns.merged)} / ${ns(r.median_write_ns.unmerged)}`,
    r.saved_bytes === null ? '-' : formatBytes(r.saved_bytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** The same rows as a markdown table (docs/security.md shows docs/data/attack.json this way). */
export function attackMarkdown(rows: readonly AttackRow[]): string[] {
  const engines = engineColumn(rows);
  const lines = [`| ${engines ? 'engine | ' : ''}scenario | mitigation | attack result | chance | write: merged / other | the fleet saves |`, `|${engines ? '---|' : ''}---|---|---|---|---|---|`];
  for (const r of rows) {
    const result = r.bits_per_second !== undefined
      ? `${r.bits_per_second.toFixed(0)} bit/s, ${pct(r.bit_error_rate ?? 0)} bit errors`
      : `${pct(r.accuracy)} right (${r.trials} secrets of ${r.candidates})`;
    lines.push(`| ${engines ? `${r.engine ?? DEFAULT_ENGINE} | ` : ''}${r.scenario} | ${r.mitigation} | ${result} | ${pct(r.chance)} | ${ns(r.median_write_ns.merged)} / ${ns(r.median_write_ns.unmerged)} | ${r.saved_bytes === null ? '-' : formatBytes(r.saved_bytes)} |`);
  }
  return lines;
}

function ns(x: number | null): string {
  return x === null ? '-' : x >= 1000 ? `${(x / 1000).toFixed(1)} µs` : `${x.toFixed(0)} ns`;
}

export function addAttackCommand(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('attack')
    .description('run a KSM side-channel attack under a mitigation and weigh it against the memory the mitigation costs (docs/security.md)')
    .option('--scenario <name>', `${SCENARIOS.join(', ')}, a comma-separated list, or all`, 'probe')
    .option('--mitigation <name>', `${MITIGATIONS.join(', ')}, a comma-separated list, or all`, 'none')
    .option('--engine <list>', `merge engine, or a comma-separated list (${ENGINE_NAMES.join(', ')}; docs/engines.md): dksm runs the probe only, timing its madvise`, (v) => parseEngineList(v), [DEFAULT_ENGINE])
    .option('--trials <n>', 'probe: secrets to guess; covert, zero: rounds', (v) => parseCount(v, '--trials', 1, 10_000), 20)
    .option('--candidates <k>', 'probe: candidates per secret', (v) => parseCount(v, '--candidates', 2, 1024), 8)
    .option('--bits <n>', 'covert: bits sent per round', (v) => parseCount(v, '--bits', 1, 1024), 16)
    .option('--seed <n>', 'seed of the secrets and bits', (v) => parseCount(v, '--seed', 0, 2 ** 31), 1)
    .addOption(new Option('--use-zero-pages <0|1>', 'the host\'s use_zero_pages').choices(['0', '1']).default('0'))
    .option('--wait-ms <ms>', 'probe: the attacker sleeps this long instead of polling full_scans (no sysfs access)', (v) => parseCount(v, '--wait-ms', 0, 600_000))
    .option('--fleet <spec>', 'the fleet whose savings are measured under each mitigation (density spec)', ATTACK_FLEET)
    .option('--memory <size>', 'memory of the savings host', (v) => parseSize(v, '--memory'), ATTACK_FLEET_MEMORY)
    .option('--max-seconds <s>', 'longest wait for the fleet\'s saving to converge', (v) => parseCount(v, '--max-seconds', 1, 86400), 30)
    .option('--no-savings', 'skip the fleet run (saved_bytes null)')
    .option('--json <file>', 'write the rows as JSON: one object, or an array for several scenarios or mitigations')
    .action(async (flags: AttackFlags) => {
      setCode(await attackCommand(flags, out));
    });
}

async function attackCommand(flags: AttackFlags, out: (s: string) => void): Promise<number> {
  const scenarios = parseList(flags.scenario, SCENARIOS, '--scenario', parseScenario);
  const mitigations = parseList(flags.mitigation, MITIGATIONS, '--mitigation', (v) => parseMitigation(v));
  const fleet = parseFleetSpec(flags.fleet);
  const useZeroPages = flags.useZeroPages === '1' ? 1 : 0;
  // Every combination is checked before anything runs: a refusal names what cannot run and why.
  for (const engine of flags.engine) for (const scenario of scenarios) {
    const refused = attackRefusal({ scenario, useZeroPages, waitMs: flags.waitMs, engine });
    if (refused) throw new Error(refused);
  }
  const progress = statusLine(!flags.json);
  const rows: AttackRow[] = [];
  const several = flags.engine.length > 1 || flags.engine[0] !== DEFAULT_ENGINE;
  try {
    for (const engine of flags.engine) {
      const under = several ? ` (${engine})` : '';
      for (const mitigation of mitigations) {
        let saved: number | null = null;
        if (flags.savings) {
          progress.update(`fleet savings under ${mitigation}${under}…`);
          saved = await fleetSavings(mitigation, { fleet, memoryBytes: flags.memory, maxSeconds: flags.maxSeconds, useZeroPages, engine });
        }
        for (const scenario of scenarios) {
          progress.update(`${scenario} under ${mitigation}${under}…`);
          const score = await runAttack({
            scenario, mitigation, trials: flags.trials, candidates: flags.candidates, bits: flags.bits, seed: flags.seed, useZeroPages, waitMs: flags.waitMs, engine,
          });
          rows.push({
            scenario, mitigation, engine, trials: flags.trials, candidates: scenario === 'probe' ? flags.candidates : 2, ...score,
            saved_bytes: saved, seed: flags.seed, use_zero_pages: useZeroPages, ...(scenario === 'covert' ? { bits: flags.bits } : {}),
          });
        }
      }
    }
  } finally {
    progress.clear();
  }
  if (flags.json) writeFileSync(flags.json, JSON.stringify(rows.length === 1 ? rows[0] : rows, null, 2) + '\n');
  for (const line of attackTable(rows)) out(line);
  return 0;
}
