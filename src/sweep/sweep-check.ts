// sweep-check.ts — owns checking a sweep's points before any of them runs: the knobs of each distinct
// host set-up are written once, and each distinct fleet entry starts one guest once (density-preflight.ts),
// so a value the density run would refuse stops the sweep before its first point.

import { preflightDensity, type Labelled } from '../density/density-preflight.ts';
import type { DensityRunOptions } from '../density/density-runner.ts';
import type { FleetEntry } from '../density/density-types.ts';
import { pointLabel } from './sweep-file.ts';
import type { PointJob } from './point-run.ts';

/** Check every set-up and entry of `jobs`; throws naming the first point that uses a refused one. */
export async function checkSweep(jobs: readonly PointJob[]): Promise<{ hosts: number; setups: number; entries: number }> {
  // Points on the same kind of host (memory, nodes, engine, kernel) share one throwaway host: each
  // distinct knob set is written on it, and each fleet entry first met in its points starts one guest.
  const groups = new Map<string, { runs: Array<Labelled<DensityRunOptions>>; entries: Array<Labelled<FleetEntry>> }>();
  const setups = new Set<string>();
  const entries = new Set<string>();
  for (const j of jobs) {
    const { memoryBytes, numaNodes, engine, kernelCompat, knobs, mergeAcrossNodes, services } = j.options;
    const hostKey = JSON.stringify([memoryBytes, numaNodes, engine, kernelCompat]);
    const group = groups.get(hostKey) ?? { runs: [], entries: [] };
    groups.set(hostKey, group);
    const label = `point ${pointLabel(j.point)}`;
    const setupKey = JSON.stringify([hostKey, knobs, mergeAcrossNodes, services]);
    if (!setups.has(setupKey)) group.runs.push({ label, value: j.options });
    setups.add(setupKey);
    for (const e of j.fleet) {
      const key = JSON.stringify([e.workload, e.args]);
      if (!entries.has(key)) group.entries.push({ label, value: e });
      entries.add(key);
    }
  }
  for (const g of groups.values()) await preflightDensity(g.runs, g.entries);
  return { hosts: groups.size, setups: setups.size, entries: entries.size };
}
