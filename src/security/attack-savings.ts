// attack-savings.ts — owns the other half of the security trade-off: the memory a fleet saves under a
// mitigation, measured by the density machinery (src/density) on an emulated host with that mitigation.

import { runDensity } from '../density/density-runner.ts';
import type { FleetEntry } from '../density/density-types.ts';
import type { Mitigation } from '../ksm/merge-policy.ts';
import { DEFAULT_ENGINE, type EngineName } from '../engines/engine.ts';

/**
 * The fleet `ksmsim attack` measures savings on without --fleet: a scaled-down density default
 * (guests from one OS image, web, idle and database guests), which converges in seconds.
 */
export const ATTACK_FLEET = 'os-image:4:size=8MiB,web:2:size=8MiB,idle:2:size=8MiB,db:1:size=8MiB';
export const ATTACK_FLEET_MEMORY = 256 * 2 ** 20;

export interface SavingsOptions {
  readonly fleet: readonly FleetEntry[];
  readonly memoryBytes: number;
  readonly maxSeconds: number;
  readonly useZeroPages: 0 | 1;
  /** The merge engine (default ksm); use_zero_pages is ksmd's knob and goes to ksm only. */
  readonly engine?: EngineName;
  readonly status?: (line: string) => void;
}

/**
 * Bytes the fleet saves (memory without KSM − with KSM) under `mitigation`. 'domains' puts every
 * guest in a domain of its own — VMware's default salting since 2018, one salt per VM — so only
 * pages a guest repeats within itself merge.
 */
export async function fleetSavings(mitigation: Mitigation, o: SavingsOptions): Promise<number> {
  const engine = o.engine ?? DEFAULT_ENGINE;
  const r = await runDensity({
    memoryBytes: o.memoryBytes, numaNodes: 1, knobs: engine === 'ksm' ? [['use_zero_pages', String(o.useZeroPages)]] : [], mergeAcrossNodes: '1', capacity: false,
    engine,
    maxSeconds: o.maxSeconds, sampleMs: 100, log: () => {}, status: o.status,
    mitigation: mitigation === 'domains' ? 'none' : mitigation,
    ksmDomains: mitigation === 'domains' ? 'per-guest' : undefined,
  }, o.fleet);
  return r.saved_bytes;
}
