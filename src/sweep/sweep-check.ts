// sweep-check.ts — owns checking a sweep's points before any of them runs: the knobs of each distinct
// host set-up are written once, and each distinct fleet entry starts one guest once (density-preflight.ts),
// so a value the density run would refuse stops the sweep before its first point.

import { preflightDensity } from '../density/density-preflight.ts';
import { pointLabel } from './sweep-file.ts';
import type { PointJob } from './point-run.ts';

/** Check every set-up and entry of `jobs`; throws naming the first point that uses a refused one. */
export async function checkSweep(jobs: readonly PointJob[]): Promise<{ setups: number; entries: number }> {
  const setups = new Set<string>();
  const entries = new Set<string>();
  for (const j of jobs) {
    // What the host and its knobs depend on; how long a run waits does not matter here.
    const { maxSeconds: _m, capacitySeconds: _c, maxGuests: _g, capacity: _cap, sampleMs: _s, ...setup } = j.options;
    const setupKey = JSON.stringify(setup);
    const fresh = j.fleet.filter((e) => !entries.has(JSON.stringify([e.workload, e.args])));
    if (setups.has(setupKey) && !fresh.length) continue;
    try {
      await preflightDensity(j.options, fresh);
    } catch (e) {
      throw new Error(`point ${pointLabel(j.point)}: ${(e as Error).message}`);
    }
    setups.add(setupKey);
    for (const e of fresh) entries.add(JSON.stringify([e.workload, e.args]));
  }
  return { setups: setups.size, entries: entries.size };
}
