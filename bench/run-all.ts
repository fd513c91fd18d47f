// run-all.ts — owns `npm run bench`: every suite in sequence, one process, then a one-line verdict
// per goal: MET, NOT MET, or KERNEL NOT MEASURED for a goal stated against the kernel where the kernel
// could not be measured in this run. Each suite also runs alone (node --import tsx
// bench/<suite>.bench.ts). Pass --quick for a smoke run with tiny sizes, --no-kernel to skip measuring
// the kernel.

import { run as runPageAccess } from './page-access.bench.ts';
import { run as runKsmMerge } from './ksm-merge.bench.ts';
import { run as runStress } from './stress.bench.ts';
import { run as runFleetScale } from './fleet-scale.bench.ts';
import { run as runFaultCosts } from './fault-costs.bench.ts';
import { quickMode } from './lib/harness.ts';
import { goalVerdict, verdictWord } from '../src/bench/goals.ts';

const quick = quickMode();
const started = performance.now();
const suites = [
  { name: 'page-access', run: runPageAccess },
  { name: 'ksm-merge', run: runKsmMerge },
  { name: 'stress', run: runStress },
  { name: 'fleet-scale', run: runFleetScale },
  { name: 'fault-costs', run: runFaultCosts },
] as const;

const verdicts: string[] = [];
for (const suite of suites) {
  const t0 = performance.now();
  console.log(`\n━━━ ${suite.name}${quick ? ' (quick)' : ''} ━━━`);
  const result = await suite.run({ quick });
  const goals = 'goal' in result ? [result.goal] : result.goals;
  for (const g of goals) verdicts.push(`${verdictWord(goalVerdict(g))} [${suite.name}] ${g.what}: ${g.value}`);
  console.log(`${suite.name} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
console.log(`\n━━━ goals (reported, not asserted) ━━━\n${verdicts.join('\n')}`);
console.log(`\nall suites took ${((performance.now() - started) / 1000).toFixed(1)} s; results in bench/results/`);
