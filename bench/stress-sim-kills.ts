// stress-sim-kills.ts — a census of the deterministic simulation with guest kills: runs N
// interleavings (seeds S…S+N−1, --kill-guests) without stopping at the first violation, and
// tallies violations by kind (numbers masked) with the first seed of each, and the known residual
// leaks (documented), by the window guest 0 died in. `explore` (the CLI) stops at the first
// violation; this is for the figures.
//   npx tsx bench/stress-sim-kills.ts [interleavings=1000000] [seed=1] [guests|ksmd=guests]
import { KILL_GUEST, KILL_KSMD, kindRecord, runInterleaving } from '../src/stress/sim/explore.ts';
import { STEP_KINDS } from '../src/stress/sim/model.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const seed0 = Number(process.argv[3] ?? 1);
const kills = process.argv[4] === 'ksmd' ? KILL_KSMD : KILL_GUEST;
const kinds = new Array<number>(STEP_KINDS.length).fill(0);
const byKind = new Map<string, { count: number; firstSeed: number }>();
let residual = 0;
const residualWindows = new Map<string, number>();
let violations = 0;
let steps = 0;
const started = performance.now();
for (let k = 0; k < n; k++) {
  const seed = (seed0 + k) >>> 0;
  const r = runInterleaving(seed, 400, 'none', undefined, false, kills);
  steps += r.steps;
  for (let i = 0; i < kinds.length; i++) kinds[i]! += r.kinds[i]!;
  residual += r.residual;
  if (r.residual) {
    const w = /window "([^"]*)"/.exec(r.residualWhy)?.[1] ?? r.residualWhy;
    residualWindows.set(w, (residualWindows.get(w) ?? 0) + 1);
  }
  if (r.violation) {
    violations++;
    const key = r.violation.replace(/-?\d+/g, '#');
    const e = byKind.get(key);
    if (e) e.count++;
    else byKind.set(key, { count: 1, firstSeed: seed });
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  interleavings: n, seed: seed0, kills: kills === KILL_KSMD ? 'ksmd' : 'guests', steps_total: steps, seconds: Number(seconds.toFixed(1)),
  steps_by_kind: kindRecord(kinds),
  violations, residual_leaks: residual,
  residual_by_window: Object.fromEntries([...residualWindows].sort((a, b) => b[1] - a[1])),
  by_kind: [...byKind].sort((a, b) => b[1].count - a[1].count).map(([kind, v]) => ({ count: v.count, first_seed: v.firstSeed, kind })),
}, null, 2));
