// run-fidelity.ts — owns a fidelity run: each scenario on the emulator, then on the kernel, compared.

import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { runOnEmulator, runOnLinux, type BackendRun } from './backends.ts';
import { compareRuns, type ScenarioComparison } from './compare.ts';
import { DEVIATIONS, type Deviation } from './deviations.ts';
import type { Scenario } from './scenarios.ts';

export interface FidelityResult extends ScenarioComparison {
  readonly description: string;
  readonly seconds: { emulator: number; linux: number };
}

export interface FidelityOptions {
  readonly deviations?: readonly Deviation[];
  /** Called after each scenario (progress). */
  readonly onScenario?: (r: FidelityResult, runs: { emulator: BackendRun; linux: BackendRun }) => void;
  readonly lockWaitMs?: number;
}

export async function runFidelity(scenarios: readonly Scenario[], options: FidelityOptions = {}): Promise<FidelityResult[]> {
  const avail = linuxBackendAvailable();
  if (!avail.ok) throw new Error(`the linux backend is not available: ${avail.reason}`);
  const out: FidelityResult[] = [];
  for (const s of scenarios) {
    const emulator = await runOnEmulator(s);
    const linux = await runOnLinux(s, options.lockWaitMs);
    const cmp = compareRuns(s.name, emulator, linux, options.deviations ?? DEVIATIONS);
    const r: FidelityResult = { ...cmp, description: s.meta.description, seconds: { emulator: round2(emulator.seconds), linux: round2(linux.seconds) } };
    out.push(r);
    options.onScenario?.(r, { emulator, linux });
  }
  return out;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
