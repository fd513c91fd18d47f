// stress.bench.ts — owns the stress benchmark: guest operations per second under `ksmsim stress`
// (ksmd flat out, chaos on the knobs, every read checked against a shadow copy) for 1, 2, 4 and 8
// guests, so the cost of the protocol as concurrency grows is visible; plus the deterministic
// simulation's rate (interleavings and steps per second). A plain timed loop (each row is one
// stress run of fixed length), printed as a table and written to bench/results/stress.json.
// Run alone: node --import tsx bench/stress.bench.ts [--quick]

import { explore } from '../src/stress/sim/explore.ts';
import { runStress } from '../src/stress/stress-run.ts';
import { isMain, printTable, quickMode, sig, writeResults } from './lib/harness.ts';

const SUITE = 'stress';

export interface StressBenchRow {
  guests: number;
  seconds: number;
  'ops/s': number;
  'ops/s per guest': number;
  'merges/s': number;
  'cows/s': number;
  'reads/s': number;
  violations: number;
  ok: boolean;
}

export async function run(options: { quick?: boolean } = {}): Promise<{ rows: StressBenchRow[]; goals: { what: string; value: number; target: number; met: boolean }[] }> {
  const quick = options.quick ?? quickMode();
  const seconds = quick ? 1 : 5;
  const rows: StressBenchRow[] = [];
  for (const guests of [1, 2, 4, 8]) {
    const r = await runStress({ guests, seconds, seed: 1 });
    rows.push({
      guests,
      seconds,
      'ops/s': r.ops_per_second,
      'ops/s per guest': Math.round(r.ops_per_second / guests),
      'merges/s': Math.round(r.merges / r.seconds),
      'cows/s': Math.round(r.cows / r.seconds),
      'reads/s': Math.round(r.reads / r.seconds),
      violations: r.violations.length + r.counter_mismatches.length + r.leaked_frames,
      ok: r.ok,
    });
  }
  printTable(`ksmsim stress: guest operations per second (ksmd flat out, chaos on, ${seconds} s per row, ${rows.length ? 'seed 1' : ''})`, rows);

  const sim = explore({ seed: 1, interleavings: quick ? 2000 : 50_000 });
  const simRow = { interleavings: sim.interleavings, steps: sim.steps_total, seconds: sim.seconds, 'interleavings/s': Math.round(sim.interleavings / sim.seconds), 'steps/s': sim.steps_per_second, violations: sim.violations };
  printTable('deterministic simulation (one thread)', [simRow]);

  const one = rows[0]!['ops/s'];
  const goals = [
    { what: 'no violation, mismatch or leak in any stress row', value: rows.filter((r) => !r.ok).length, target: 0, met: rows.every((r) => r.ok) },
    { what: 'stress ops/s with 2 guests >= ops/s with 1 guest (2 cores)', value: sig(rows[1]!['ops/s'] / Math.max(one, 1), 3), target: 1, met: rows[1]!['ops/s'] >= one },
  ];
  console.log('\ngoals:');
  for (const g of goals) console.log(`  ${g.met ? 'MET    ' : 'NOT MET'} ${g.what}: ${g.value}`);
  const path = writeResults(SUITE, { quick, rows, simulation: simRow, goals });
  console.log(`wrote ${path}`);
  return { rows, goals };
}

if (isMain(import.meta.url)) await run();
