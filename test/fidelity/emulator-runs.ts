// emulator-runs.ts — owns the one emulator run per fidelity scenario that the test files share (a
// fresh host each, so no knob can leak from one use to the other).
import { runOnEmulator, type BackendRun } from '../../src/fidelity/backends.ts';
import type { Scenario } from '../../src/fidelity/scenarios.ts';

const runs = new Map<string, Promise<BackendRun>>();

export function emulatorRun(s: Scenario): Promise<BackendRun> {
  if (!runs.has(s.name)) runs.set(s.name, runOnEmulator(s));
  return runs.get(s.name)!;
}
