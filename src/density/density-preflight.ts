// density-preflight.ts — owns checking a density experiment's inputs before it runs: the knobs are
// written to a throwaway emulated host as the KSM-off and KSM-on phases would write them, and one guest
// of each fleet entry starts with its arguments until READY. What the run itself would refuse (a knob
// value sysfs rejects, a workload argument the guest's parser rejects) is refused here, in seconds.

import { waitReady } from './density-runner.ts';
import { applyKnobs, engineOffKnobs, engineOnKnobs, expand, startHost, type DensityRunOptions } from './density-host.ts';
import type { FleetEntry } from './density-types.ts';
import type { GuestHandle } from '../host/host.ts';

const READY_TIMEOUT_MS = 120_000;

/**
 * Check `o`'s knobs, and start one guest of each of `entries` (they need not be the whole fleet: a
 * sweep checks each distinct entry once). Throws an Error naming the knob or the guest and why.
 */
export async function preflightDensity(o: DensityRunOptions, entries: readonly FleetEntry[]): Promise<void> {
  const ready = new Set<string>();
  const host = await startHost({ ...o, log: () => {} }, ready);
  const handles: Array<{ name: string; handle: GuestHandle }> = [];
  try {
    const off = engineOffKnobs(o);
    await applyKnobs(host, off.knobs, off.dir);
    const on = engineOnKnobs(o, o.mergeAcrossNodes === '0' ? '0' : '1');
    await applyKnobs(host, on.knobs, on.dir);
    // `both` runs a third phase with merge_across_nodes=0 (nothing is merged yet, so the write is allowed).
    if (o.mergeAcrossNodes === 'both') await applyKnobs(host, engineOnKnobs(o, '0').knobs, on.dir);
    // One guest of each entry, one after another: each needs only its own memory.
    for (const g of expand(entries.map((e) => ({ ...e, count: 1 })))) {
      host.prepare(g.program);
      const handle = host.launch(g.program, { name: g.name, args: g.entry.args });
      handles.push({ name: g.name, handle });
      try {
        await waitReady([{ name: g.name, handle }], ready, READY_TIMEOUT_MS);
      } catch (e) {
        throw new Error(`fleet entry ${g.entry.workload}${g.entry.args.length ? `:${g.entry.args.join(';')}` : ''}: ${(e as Error).message}`);
      }
      await handle.kill();
    }
  } finally {
    await Promise.all(handles.map((h) => h.handle.kill()));
    await host.shutdown();
  }
}
