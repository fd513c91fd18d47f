// scenarios.ts — owns the list of fidelity scenarios: the guest programs in guests/fidelity/, each
// with its exported `scenario` metadata (knobs, guests, root).

import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ScenarioMeta } from './checkpoint.ts';
import { projectPath } from '../platform/project-root.ts';
import { workerModule } from '../platform/worker-module.ts';

export const SCENARIO_DIR = projectPath('guests', 'fidelity') + '/';
export const DEFAULT_SCENARIO_TIMEOUT_MS = 60_000;

export interface Scenario {
  /** The file name without .ts, e.g. "merge-within". */
  readonly name: string;
  readonly path: string;
  readonly meta: Required<Omit<ScenarioMeta, 'knobs'>> & { readonly knobs: Readonly<Record<string, string>> };
}

/** Names of every scenario file, sorted. */
export function scenarioNames(dir = SCENARIO_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => basename(f, '.ts')).sort();
}

/** Load one scenario's metadata; throws if the module lacks `scenario` or a default main. */
export async function loadScenario(name: string, dir = SCENARIO_DIR): Promise<Scenario> {
  const path = join(dir, `${name}.ts`);
  // Compiled to JavaScript as a worker's module is: bin/ksmsim runs plain Node from dist/, which
  // cannot import a .ts file.
  const mod = (await import(workerModule(path).href)) as { default?: unknown; scenario?: ScenarioMeta };
  if (typeof mod.default !== 'function') throw new Error(`${path}: no default export main(sys, args)`);
  const m = mod.scenario;
  if (!m || typeof m.description !== 'string') throw new Error(`${path}: no exported \`scenario\` with a description`);
  const guests = m.guests ?? 1;
  if (!Number.isInteger(guests) || guests < 1) throw new Error(`${path}: scenario.guests must be a positive integer`);
  return {
    name,
    path,
    meta: { description: m.description, knobs: { ...(m.knobs ?? {}) }, guests, root: m.root ?? false, timeoutMs: m.timeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS, swapBytes: m.swapBytes ?? 0 },
  };
}

/** The named scenarios (all when `names` is empty), in the order given; unknown names are an error. */
export async function loadScenarios(names: readonly string[] = [], dir = SCENARIO_DIR): Promise<Scenario[]> {
  const known = scenarioNames(dir);
  const wanted = names.length ? names.map((n) => basename(n).replace(/\.ts$/, '')) : known;
  const unknown = wanted.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`unknown fidelity scenario ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const out: Scenario[] = [];
  for (const n of wanted) out.push(await loadScenario(n, dir));
  return out;
}
