// attack-lab.ts — what the side-channel lab's tests share: the seeded probe they run, and the bound
// "no better than chance" is held to.
import type { AttackOptions } from '../../src/security/attack-run.ts';

export const PROBE: AttackOptions = { scenario: 'probe', mitigation: 'none', trials: 24, candidates: 8, bits: 16, seed: 7, useZeroPages: 0 };

/** Chance plus four binomial standard deviations: a mitigated probe stays below it but by bad luck once in ~30 000 runs. */
export function chanceBound(trials: number, k: number): number {
  const p = 1 / k;
  return p + 4 * Math.sqrt((p * (1 - p)) / trials);
}
