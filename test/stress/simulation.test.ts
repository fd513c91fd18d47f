// simulation.test.ts — the deterministic simulation of the merge protocol (src/stress/sim): seeded
// interleavings at the granularity of single Atomics operations, invariants 1–5 after every step.
// Bounded by interleaving counts, not by time; the long run (a million interleavings) is in the README.
import { expect } from 'chai';
import { explore, replaySchedule, runInterleaving } from '../../src/stress/sim/explore.ts';

describe('deterministic simulation of the merge protocol', function () {
  this.timeout(60_000);

  it('explores 4000 seeded interleavings of guests and ksmd with no violation, merging and copying on write', () => {
    const r = explore({ seed: 1, interleavings: 4000 });
    expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
    expect(r.interleavings).to.equal(4000);
    expect(r.distinct_schedules).to.equal(4000);
    expect(r.merges).to.be.greaterThan(4000);
    expect(r.cows).to.be.greaterThan(500);
  });

  it('ksmd killed at any step, repaired with the guests paused and restarted: no violation, no leak, counters exact', () => {
    const r = explore({ seed: 500, interleavings: 3000, killKsmd: true });
    expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
  });

  it('replays an interleaving exactly from its seed', () => {
    const a = runInterleaving(77, 400, 'none', undefined, true);
    const b = runInterleaving(77, 400, 'none', undefined, true);
    expect(a.choices).to.deep.equal(b.choices);
    expect(a.trace).to.deep.equal(b.trace);
    const c = replaySchedule(77, a.choices.join(','), 'none');
    expect(c.trace).to.deep.equal(a.trace);
  });

  for (const broken of ['no-recompare', 'free-without-hazard'] as const) {
    it(`finds the deliberately broken protocol '${broken}', shrinks it, and the printed replay reproduces it`, () => {
      const r = explore({ seed: 1, interleavings: 50_000, broken, shrinkBudget: 1500 });
      expect(r.violations).to.equal(1);
      const f = r.failure!;
      expect(f.replay.split(',').length).to.be.at.most(f.steps);
      const again = replaySchedule(f.seed, f.replay, broken);
      expect(again.violation).to.equal(f.replayViolation);
      expect(f.command).to.contain(`--seed ${f.seed} --replay ${f.replay}`);
    });
  }
});
