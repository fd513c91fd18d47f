// attack-run.ts — owns one side-channel experiment (docs/security.md): a host with the chosen merge
// engine and mitigation, the victim and attacker guests of guests/attacks/, the engine started once
// both are ready (DKSM: on from the start, the attacker launched once the victim has advised), and
// the score of what the attacker reported against what the victim held.

import { Host, type GuestHandle } from '../host/host.ts';
import type { Mitigation } from '../ksm/merge-policy.ts';
import { projectPath } from '../platform/project-root.ts';
import { median } from '../fidelity/checkpoint.ts';
import { DEFAULT_ENGINE, engineDir, type EngineName } from '../engines/engine.ts';

export const SCENARIOS = ['probe', 'covert', 'zero'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface AttackOptions {
  readonly scenario: Scenario;
  readonly mitigation: Mitigation;
  /** probe: secrets guessed; covert, zero: rounds. */
  readonly trials: number;
  /** probe: candidates per secret (K). */
  readonly candidates: number;
  /** covert: bits per round. */
  readonly bits: number;
  readonly seed: number;
  /** The host's use_zero_pages (0 or 1). */
  readonly useZeroPages: 0 | 1;
  /** probe only: the attacker sleeps this long instead of polling full_scans (no sysfs access assumed). */
  readonly waitMs?: number;
  readonly log?: (line: string) => void;
  /** The merge engine (default ksm; docs/engines.md). */
  readonly engine?: EngineName;
}

/** What one experiment measured (the attack's half of AttackResult). */
export interface AttackScore {
  readonly accuracy: number;
  /** probe: the share of trials where the fastest write, not the slowest, named the secret. */
  readonly accuracy_fastest?: number;
  readonly chance: number;
  readonly bits_per_second?: number;
  readonly bit_error_rate?: number;
  /** Median nanoseconds of the attacker's timed write: to the pages that were merged (or sent 1), and to the others. */
  readonly median_write_ns: { readonly merged: number | null; readonly unmerged: number | null };
}

/** The guests' names; --ksm-domains puts them in different domains under 'domains'. */
export const VICTIM = 'victim';
export const ATTACKER = 'attacker';
/** Fast enough that a probe round takes a few hundred milliseconds on a tiny host. */
const LAB_KNOBS: ReadonlyArray<readonly [string, string]> = [['pages_to_scan', '2000'], ['sleep_millisecs', '2']];
/**
 * UKSM's lab knobs: stopped until both guests are ready (it runs from boot), then every rung at
 * max_cpu_percentage and every pass over a rung a full one (eval_intervals 0), so a round — its
 * full_scans — scans every page of both guests, as a ksmd full scan does.
 */
const UKSM_LAB_KNOBS: ReadonlyArray<readonly [string, string]> = [
  ['run', '0'], ['sleep_millisecs', '2'], ['max_cpu_percentage', '99'], ['cpu_ratios', 'MAX/1 MAX/1 MAX/1 MAX/1'], ['eval_intervals', '0 0 0 0'],
];

/**
 * Why a scenario or flag cannot run under an engine (undefined: it can). The covert channel and the
 * zero probe count their rounds in full scans, which DKSM does not have (it merges inside madvise);
 * use_zero_pages is a ksmd knob.
 */
export function attackRefusal(o: Pick<AttackOptions, 'scenario' | 'useZeroPages' | 'waitMs' | 'engine'>): string | undefined {
  const engine = o.engine ?? DEFAULT_ENGINE;
  if (engine === 'dksm' && o.scenario !== 'probe') {
    return `--scenario ${o.scenario} does not run under --engine dksm: its rounds are counted in full scans, and DKSM has none (it merges inside madvise, with no scanner); only --scenario probe runs under dksm`;
  }
  if (engine === 'dksm' && o.waitMs !== undefined) return '--wait-ms: the probe under --engine dksm does not wait (DKSM merges inside the attacker\'s own madvise)';
  if (engine !== 'ksm' && o.useZeroPages === 1) {
    return `--use-zero-pages 1: a ksmd knob, and --engine ${engine} has no ksmd${engine === 'uksm' ? ' (UKSM always merges zero pages into its own zero page)' : ''}`;
  }
  return undefined;
}
const LAB_MEMORY = 64 * 2 ** 20;
/** Full scans a probe waits: one to take checksums, one to find the pair, one spare. */
const PROBE_SCANS = 3;
const ROUND_SCANS = 4;
const ROUND_BASE = 4;

function guestArgs(o: AttackOptions): string[] {
  return [`mode=${o.scenario}`, `seed=${o.seed}`, `trials=${o.trials}`, `candidates=${o.candidates}`, `bits=${o.bits}`,
    `period=${ROUND_SCANS}`, `base=${ROUND_BASE}`, `scans=${PROBE_SCANS}`, `engine=${o.engine ?? DEFAULT_ENGINE}`, ...(o.waitMs !== undefined ? [`wait-ms=${o.waitMs}`] : [])];
}

/** Run the scenario once and score it. */
export async function runAttack(o: AttackOptions): Promise<AttackScore> {
  const refused = attackRefusal(o);
  if (refused) throw new Error(refused);
  const engine = o.engine ?? DEFAULT_ENGINE;
  const lines = new Map<string, string[]>();
  const host = await Host.start({
    memoryBytes: LAB_MEMORY,
    engine,
    // DKSM's intended host: it cannot merge inside huge pages (Host.start warns otherwise).
    ...(engine === 'dksm' ? { thp: 'never' as const } : {}),
    mitigation: o.mitigation === 'domains' ? 'none' : o.mitigation,
    ksmDomains: o.mitigation === 'domains' ? new Map([[VICTIM, 1], [ATTACKER, 2]]) : undefined,
    onLog: (line) => {
      const m = /^\[(\w+)\] (\w+) ?(.*)$/.exec(line);
      if (m) {
        const key = `${m[1]} ${m[2]}`;
        lines.set(key, [...(lines.get(key) ?? []), m[3]!]);
      } else o.log?.(line);
    },
  });
  let victim: GuestHandle | undefined;
  try {
    const dir = engineDir(engine);
    if (engine === 'ksm') for (const [k, v] of [...LAB_KNOBS, ['use_zero_pages', String(o.useZeroPages)] as const]) await host.writeFile(dir + k, v);
    else if (engine === 'uksm') for (const [k, v] of UKSM_LAB_KNOBS) await host.writeFile(dir + k, v);
    // DKSM forgets advice given while it is off: on before anyone advises.
    else await host.writeFile(dir + 'run', '1');
    const args = guestArgs(o);
    victim = host.launch(projectPath('guests', 'attacks', 'victim.ts'), { name: VICTIM, args });
    // DKSM merges inside the attacker's madvise: the victim's pages must be in its table by then.
    if (engine === 'dksm') await untilReady(lines, [victim]);
    const attacker = host.launch(projectPath('guests', 'attacks', 'attacker.ts'), { name: ATTACKER, args });
    await untilReady(lines, [victim, attacker]);
    // ksmd (or UKSM's scanner) starts only now, so both sides count rounds from the same full_scans.
    if (engine !== 'dksm') await host.writeFile(dir + 'run', '1');
    const report = await attacker.done;
    if (report.status !== 'exited') throw new Error(`attacker ${report.status}: ${report.error ?? ''}`);
    const result = JSON.parse(only(lines, `${ATTACKER} RESULT`)) as AttackerResult;
    if (o.scenario === 'probe') return scoreProbe(JSON.parse(only(lines, `${VICTIM} SECRETS`)) as number[], result, o.candidates);
    return scoreRounds(JSON.parse(only(lines, `${VICTIM} BITS`)) as number[], result);
  } finally {
    await victim?.kill();
    await host.shutdown();
  }
}

interface AttackerResult {
  guesses?: number[];
  ns: number[][] | number[];
  received?: number[];
  seconds?: number;
}

function only(lines: Map<string, string[]>, key: string): string {
  const v = lines.get(key);
  if (!v || v.length !== 1) throw new Error(`expected one "${key}" line from the guests, got ${v?.length ?? 0}`);
  return v[0]!;
}

async function untilReady(lines: Map<string, string[]>, guests: readonly GuestHandle[]): Promise<void> {
  const ended = new Map<string, string>();
  for (const g of guests) void g.done.then((r) => ended.set(g.name, `${r.status}${r.error ? `: ${r.error}` : ''}`));
  const deadline = Date.now() + 60_000;
  while (!guests.every((g) => lines.has(`${g.name} READY`))) {
    const dead = guests.find((g) => ended.has(g.name));
    if (dead) throw new Error(`${dead.name} ended before it was ready (${ended.get(dead.name)})`);
    if (Date.now() > deadline) throw new Error('attack guests not ready after 60 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function medianOrNull(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : median(xs);
}

/** The probe: a guess is right when it names the victim's candidate. */
export function scoreProbe(secrets: readonly number[], r: AttackerResult, candidates: number): AttackScore {
  const guesses = r.guesses ?? [];
  if (guesses.length !== secrets.length) throw new Error(`attacker guessed ${guesses.length} secrets of ${secrets.length}`);
  const right = guesses.filter((g, t) => g === secrets[t]).length;
  const rows = r.ns as number[][];
  const merged = rows.map((row, t) => row[secrets[t]!]!);
  const unmerged = rows.flatMap((row, t) => row.filter((_, c) => c !== secrets[t]));
  // The same rows read the other way: a mitigation that makes merged pages systematically *faster*
  // leaks as much as one that leaves them slower.
  const fastest = rows.filter((row, t) => row.indexOf(Math.min(...row)) === secrets[t]).length;
  return {
    accuracy: right / secrets.length, accuracy_fastest: fastest / secrets.length, chance: 1 / candidates,
    median_write_ns: { merged: medianOrNull(merged), unmerged: medianOrNull(unmerged) },
  };
}

/** Covert channel and zero probe: bits sent against bits read, and the rate the rounds gave. */
export function scoreRounds(sent: readonly number[], r: AttackerResult): AttackScore {
  const got = r.received ?? [];
  if (got.length !== sent.length) throw new Error(`receiver read ${got.length} bits of ${sent.length}`);
  const errors = got.filter((b, i) => b !== sent[i]).length;
  const ns = r.ns as number[];
  return {
    accuracy: 1 - errors / sent.length,
    chance: 0.5,
    bits_per_second: r.seconds && r.seconds > 0 ? sent.length / r.seconds : 0,
    bit_error_rate: errors / sent.length,
    median_write_ns: { merged: medianOrNull(ns.filter((_, i) => sent[i] === 1)), unmerged: medianOrNull(ns.filter((_, i) => sent[i] === 0)) },
  };
}
