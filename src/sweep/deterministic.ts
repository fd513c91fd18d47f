// deterministic.ts — owns which fields of a density result the same point (fleet, seeds, knobs, host)
// reproduces on any run, local or on a queue worker: memory and page counts of the converged fleet.
// Everything measured in time — fleet_up_seconds, converge_seconds, full scans counted to convergence,
// ksmd CPU and wall seconds, the time series — depends on the machine's load and is left out.
// (Measured: two runs of one seeded point differ only in those; docs/sweeps.md.)

import type { DensityResult } from '../density/density-types.ts';

export type DeterministicFields = Pick<DensityResult,
  | 'fleet' | 'host' | 'knobs' | 'memory_without_ksm_bytes' | 'memory_with_ksm_bytes' | 'saved_bytes'
  | 'pages_shared' | 'pages_sharing' | 'general_profit' | 'considered_pages' | 'present_pages' | 'per_guest'>;

/**
 * The reproducible part of a result. It holds for a fleet that converged, whose guests do not rewrite
 * pages (rate=0: pages rewritten at a rate make the saving at the moment the run stops depend on
 * timing), with smart_scan=0: with smart_scan on, pages that stayed unique while their twin's guest
 * was still booting are scanned only every few passes, and whether twins meet in one pass depends on
 * when the second guest came up (measured: 1 run in 24 merged only the zero pages; docs/sweeps.md).
 */
export function deterministicFields(r: DensityResult): DeterministicFields {
  return {
    fleet: r.fleet, host: r.host, knobs: r.knobs,
    memory_without_ksm_bytes: r.memory_without_ksm_bytes, memory_with_ksm_bytes: r.memory_with_ksm_bytes, saved_bytes: r.saved_bytes,
    pages_shared: r.pages_shared, pages_sharing: r.pages_sharing, general_profit: r.general_profit,
    considered_pages: r.considered_pages, present_pages: r.present_pages,
    per_guest: r.per_guest,
  };
}
