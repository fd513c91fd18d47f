// run-fidelity.ts — owns a fidelity run: each scenario on the emulator, then on the kernel (both from
// the kernel's default knobs), compared.

import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import type { KnobGuard } from '../backend/linux/knob-guard.ts';
import { runOnEmulator, runOnLinux, type BackendRun } from './backends.ts';
import { compareRuns, observe, type ScenarioComparison } from './compare.ts';
import { DEVIATIONS, type Deviation } from './deviations.ts';
import type { Scenario } from './scenarios.ts';

export interface FidelityResult extends ScenarioComparison {
  readonly description: string;
  readonly seconds: { emulator: number; linux: number };
  /** What the kernel showed, checkpoint by checkpoint (kept in the JSON: the emulator is tested against it where no kernel is at hand). */
  readonly kernelCheckpoints?: Readonly<Record<string, string>>;
}

export interface FidelityOptions {
  readonly deviations?: readonly Deviation[];
  /** Called after each scenario (progress). */
  readonly onScenario?: (r: FidelityResult, runs: { emulator: BackendRun; linux: BackendRun }) => void;
  readonly lockWaitMs?: number;
  /** Run the kernel side inside this guard (which holds the run lock) rather than locking per scenario. */
  readonly guard?: KnobGuard;
  /** How to get a scenario's emulator run (default: a fresh run; the tests pass one they already have). */
  readonly emulatorRun?: (s: Scenario) => Promise<BackendRun>;
}

export async function runFidelity(scenarios: readonly Scenario[], options: FidelityOptions = {}): Promise<FidelityResult[]> {
  const avail = linuxBackendAvailable();
  if (!avail.ok) throw new Error(`the linux backend is not available: ${avail.reason}`);
  const out: FidelityResult[] = [];
  for (const s of scenarios) {
    const emulator = await (options.emulatorRun ?? runOnEmulator)(s);
    const linux = await runOnLinux(s, options.lockWaitMs, options.guard ? { guard: options.guard } : {});
    const cmp = compareRuns(s.name, emulator, linux, options.deviations ?? DEVIATIONS);
    const r: FidelityResult = {
      ...cmp,
      description: s.meta.description,
      seconds: { emulator: round2(emulator.seconds), linux: round2(linux.seconds) },
      kernelCheckpoints: Object.fromEntries(observe(linux.guests).checks),
    };
    out.push(r);
    options.onScenario?.(r, { emulator, linux });
  }
  return out;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
