// recorded.ts — owns the committed record of the latest fidelity run (docs/data/fidelity.json):
// reading it back with its shape checked, and comparing an emulator run with the kernel checkpoints
// it holds, for machines where the kernel itself cannot be asked.

import { readFileSync } from 'node:fs';
import type { BackendRun } from './backends.ts';
import { compareCheckpoints, observe, statusOnly, type Difference } from './compare.ts';
import { DEVIATIONS, type Deviation } from './deviations.ts';
import { projectPath } from '../platform/project-root.ts';

export const FIDELITY_JSON = projectPath('docs', 'data', 'fidelity.json');

export interface RecordedScenario {
  readonly name: string;
  readonly description: string;
  readonly agree: boolean;
  readonly passed: boolean;
  readonly checkpoints: number;
  readonly differences: readonly Difference[];
  readonly seconds: { readonly emulator: number; readonly linux: number };
  readonly kernelCheckpoints: Readonly<Record<string, string>>;
}

export interface RecordedRun {
  readonly date: string;
  readonly kernel: string;
  /** The machine's knobs that were not at the kernel's defaults when the run began (name → value). */
  readonly nonDefaultKnobsBefore?: Readonly<Record<string, string>>;
  readonly scenarios: readonly RecordedScenario[];
}

/** Parse a fidelity JSON document; throws naming the file and the first field that is wrong. */
export function parseRecordedRun(text: string, source = 'fidelity JSON'): RecordedRun {
  const doc = JSON.parse(text) as Partial<RecordedRun>;
  const bad = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  if (typeof doc.date !== 'string') bad('no "date"');
  if (typeof doc.kernel !== 'string') bad('no "kernel"');
  if (!Array.isArray(doc.scenarios)) bad('no "scenarios" list');
  for (const s of doc.scenarios!) {
    if (typeof s.name !== 'string') bad('a scenario without a name');
    if (typeof s.agree !== 'boolean' || typeof s.passed !== 'boolean') bad(`${s.name}: no agree/passed`);
    if (typeof s.checkpoints !== 'number' || !Array.isArray(s.differences)) bad(`${s.name}: no checkpoints/differences`);
    if (!s.kernelCheckpoints || typeof s.kernelCheckpoints !== 'object') bad(`${s.name}: no kernelCheckpoints`);
  }
  return doc as RecordedRun;
}

export function readRecordedRun(path = FIDELITY_JSON): RecordedRun {
  return parseRecordedRun(readFileSync(path, 'utf8'), path);
}

/** The emulator's checkpoints against the kernel's recorded ones: the differences, documented ones marked. */
export function compareWithRecorded(emulator: BackendRun, recorded: RecordedScenario, deviations: readonly Deviation[] = DEVIATIONS): Difference[] {
  const e = observe(emulator.guests).checks;
  const k = new Map(Object.entries(recorded.kernelCheckpoints));
  return compareCheckpoints(recorded.name, statusOnly(e), statusOnly(k), deviations).map((d) =>
    /(^|\.)exit$/.test(d.checkpoint) ? { ...d, emulator: e.get(d.checkpoint), linux: k.get(d.checkpoint) } : d);
}
