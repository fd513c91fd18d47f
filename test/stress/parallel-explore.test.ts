// parallel-explore.test.ts — the deterministic simulation spread over a piscina pool explores
// exactly the interleavings one thread would, and finds the same first failure.
import { expect } from 'chai';
import { explore } from '../../src/stress/sim/explore.ts';
import { exploreInParallel } from '../../src/stress/sim/parallel-explore.ts';

describe('deterministic simulation on a piscina pool', function () {
  this.timeout(60_000);

  it('explores the same interleavings as one thread: equal step, merge and copy-on-write totals', async () => {
    const one = explore({ seed: 11, interleavings: 1500 });
    const pool = await exploreInParallel({ seed: 11, interleavings: 1500, jobs: 2 });
    expect([pool.interleavings, pool.steps_total, pool.merges, pool.cows, pool.unmerges, pool.violations])
      .to.deep.equal([one.interleavings, one.steps_total, one.merges, one.cows, one.unmerges, one.violations]);
  });

  it('reports the failure with the lowest seed, as one thread finds it first', async () => {
    const one = explore({ seed: 1, interleavings: 3000, broken: 'no-recompare' });
    const pool = await exploreInParallel({ seed: 1, interleavings: 3000, jobs: 2, broken: 'no-recompare' });
    expect(one.failure).to.not.equal(undefined);
    expect(pool.failure?.seed).to.equal(one.failure!.seed);
    expect(pool.failure?.replay).to.equal(one.failure!.replay);
  });
});
