// simulation-engines.test.ts — the same deterministic simulation (src/stress/sim: one model, one
// scheduler, invariants 1–5 after every step) under DKSM and UKSM (model-engines.ts): 0 violations;
// DKSM with read-only regions shows no hazard, with writable regions its hazard is named, not a
// violation; a UKSM that skips its full compare is caught and its replay reproduces it.
import { expect } from 'chai';
import { explore, replaySchedule, type ExploreResult } from '../../src/stress/sim/explore.ts';

const why = (r: ExploreResult) => (r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '');

describe('deterministic simulation under the other engines', function () {
  this.timeout(60_000);

  it('dksm, read-only regions: 1500 interleavings of guests merging inside their madvise, 0 violations, 0 hazards', () => {
    const r = explore({ seed: 1, interleavings: 1500, engine: { engine: 'dksm' } });
    expect(r.violations, why(r)).to.equal(0);
    expect(r.merges).to.be.greaterThan(50);
    expect(r.dksm_hazards).to.equal(0);
    expect(r.steps_by_kind.ksmd_scan).to.equal(0); // no ksmd runs beside DKSM
  });

  it('dksm, read-only regions, guest 0 killed at any step (even holding the DKSM lock): 0 violations', () => {
    const r = explore({ seed: 7, interleavings: 1500, engine: { engine: 'dksm' }, killGuests: true });
    expect(r.violations, why(r)).to.equal(0);
  });

  it('dksm, writable regions: names the writable-region hazard and finds no protocol violation', () => {
    const r = explore({ seed: 1, interleavings: 3000, engine: { engine: 'dksm', writable: true } });
    expect(r.violations, why(r)).to.equal(0);
    expect(r.dksm_hazards).to.be.greaterThan(0);
    expect(r.dksm_hazard_example!.what).to.contain('writable first page');
  });

  it('uksm: 1500 interleavings of guests and the scanner, 0 violations, pages_shared/pages_sharing = recount', () => {
    const r = explore({ seed: 1, interleavings: 1500, engine: { engine: 'uksm' } });
    expect(r.violations, why(r)).to.equal(0);
    expect(r.merges).to.be.greaterThan(1000);
    expect(r.cows).to.be.greaterThan(50);
  });

  it('uksm, guest 0 killed at any step: 0 violations', () => {
    const r = explore({ seed: 7, interleavings: 1500, engine: { engine: 'uksm' }, killGuests: true });
    expect(r.violations, why(r)).to.equal(0);
  });

  it('catches a UKSM that merges without its full compare, and the printed replay reproduces it', () => {
    const engine = { engine: 'uksm' as const };
    const r = explore({ seed: 1, interleavings: 2000, engine, broken: 'no-recompare', shrinkBudget: 500 });
    expect(r.violations).to.equal(1);
    const f = r.failure!;
    expect(f.command).to.contain('--engine uksm');
    expect(replaySchedule(f.seed, f.replay, 'no-recompare', 0, false, engine).violation).to.equal(f.replayViolation);
  });

  it('refuses ksmd-only options under another engine', () => {
    expect(() => explore({ seed: 1, interleavings: 1, engine: { engine: 'uksm' }, killKsmd: true })).to.throw(/no ksmd/);
  });
});
