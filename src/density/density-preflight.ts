// density-preflight.ts — owns checking a density experiment's inputs before it runs: the knobs are
// written to a throwaway emulated host as the KSM-off and KSM-on phases would write them, and one guest
// of each fleet entry starts with its arguments until READY. What the run itself would refuse (a knob
// value sysfs rejects, a workload argument the guest's parser rejects) is refused here, in seconds.

import { waitReady } from './density-runner.ts';
import { applyKnobs, engineOffKnobs, engineOnKnobs, expand, startHost, type DensityRunOptions } from './density-host.ts';
import type { FleetEntry } from './density-types.ts';
import type { GuestHandle } from '../host/host.ts';

const READY_TIMEOUT_MS = 120_000;

/** Something to check, with the words that name it in an error (a sweep names its point). */
export interface Labelled<T> {
  readonly label: string;
  readonly value: T;
}

/**
 * On one throwaway host made as `runs[0]` makes it (memory, nodes, engine, kernel): write the knobs of
 * every run in turn, as its phases write them, then start one guest of each of `entries` (they need not
 * be a whole fleet: a sweep checks each distinct entry once). Throws an Error starting with the label
 * of the run or entry that was refused, then the knob or guest and why.
 */
export async function preflightDensity(runs: ReadonlyArray<Labelled<DensityRunOptions>>, entries: ReadonlyArray<Labelled<FleetEntry>>): Promise<void> {
  const ready = new Set<string>();
  const host = await startHost({ ...runs[0]!.value, log: () => {} }, ready);
  const handles: Array<{ name: string; handle: GuestHandle }> = [];
  try {
    // No guest has advised memory yet, so nothing is merged and every write a fresh host would take is
    // taken here too (merge_across_nodes included).
    for (const { label, value: o } of runs) {
      try {
        const off = engineOffKnobs(o);
        await applyKnobs(host, off.knobs, off.dir);
        const on = engineOnKnobs(o, o.mergeAcrossNodes === '0' ? '0' : '1');
        await applyKnobs(host, on.knobs, on.dir);
        // `both` runs a third phase with merge_across_nodes=0.
        if (o.mergeAcrossNodes === 'both') await applyKnobs(host, engineOnKnobs(o, '0').knobs, on.dir);
      } catch (e) {
        throw new Error(`${label}: ${(e as Error).message}`);
      }
    }
    // One guest of each entry, one after another: each needs only its own memory.
    for (const [i, { label, value: entry }] of entries.entries()) {
      const [g] = expand([{ ...entry, count: 1 }]);
      // A name of its own: READY lines are collected by name, and two entries of one workload share theirs.
      const name = `${g!.name}.check${i}`;
      host.prepare(g!.program);
      const handle = host.launch(g!.program, { name, args: entry.args });
      handles.push({ name, handle });
      try {
        await waitReady([{ name, handle }], ready, READY_TIMEOUT_MS);
      } catch (e) {
        throw new Error(`${label}: fleet entry ${entry.workload}${entry.args.length ? `:${entry.args.join(';')}` : ''}: ${(e as Error).message}`);
      }
      await handle.kill();
    }
  } finally {
    await Promise.all(handles.map((h) => h.handle.kill()));
    await host.shutdown();
  }
}
