// deviations.ts — owns the documented, deliberate differences between the emulator and the kernel
// that `ksmsim fidelity` accepts, each with its reason. Anything else that differs fails the run.

export interface Deviation {
  /** Scenario name, or '*' for every scenario. */
  readonly scenario: string;
  /** The checkpoint key (e.g. "stat.ksm_rmap_items", "g1.exit"), exactly or as a pattern. */
  readonly checkpoint: string | RegExp;
  /** Only when the emulator shows this value (optional). */
  readonly emulator?: string;
  /** Only when the kernel shows this value (optional). */
  readonly linux?: string;
  readonly reason: string;
}

export const DEVIATIONS: readonly Deviation[] = [
];

export function findDeviation(scenario: string, checkpoint: string, emulator: string | undefined, linux: string | undefined, list: readonly Deviation[] = DEVIATIONS): Deviation | undefined {
  return list.find((d) =>
    (d.scenario === '*' || d.scenario === scenario) &&
    (typeof d.checkpoint === 'string' ? d.checkpoint === checkpoint : d.checkpoint.test(checkpoint)) &&
    (d.emulator === undefined || d.emulator === emulator) &&
    (d.linux === undefined || d.linux === linux));
}
