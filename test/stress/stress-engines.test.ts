// stress-engines.test.ts — the same `ksmsim stress` run (workers, chaos on the engine's knobs, shadow
// checks, recount, frame accounting) under DKSM and UKSM: 0 violations, 0 mismatches, 0 leaked frames;
// DKSM with read-only regions shows no hazard, with writable regions its hazard is named, not a violation.
import { expect } from 'chai';
import { runStress, describeStress, type StressReport } from '../../src/stress/stress-run.ts';

const explain = (r: StressReport) => describeStress(r).join('\n');

describe('ksmsim stress under the other engines', function () {
  this.timeout(120_000);

  it('dksm, read-only regions: merges inside the guests\' madvise with 0 violations, 0 hazards, 0 leaked frames', async () => {
    const r = await runStress({ guests: 2, seconds: 1.5, seed: 3, engine: 'dksm' });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.engine).to.equal('dksm');
    expect(r.writable).to.equal(false);
    expect(r.merges).to.be.greaterThan(0);
    expect(r.dksm_hazard_count).to.equal(0);
    expect(r.violations).to.deep.equal([]);
    expect(r.counter_mismatches).to.deep.equal([]);
    expect(r.leaked_frames_after_exit).to.equal(0);
  });

  it('dksm, writable regions: names DKSM\'s writable-region hazard and reports no protocol violation', async () => {
    const r = await runStress({ guests: 3, seconds: 2, seed: 1, engine: 'dksm', writable: true });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.dksm_hazard_count).to.be.greaterThan(0);
    expect(r.dksm_hazards.every((h) => h.what.startsWith('DKSM writable-region hazard'))).to.equal(true);
    expect(r.violations).to.deep.equal([]);
    expect(r.leaked_frames_after_exit).to.equal(0);
  });

  it('uksm: the scanner merges what guests never advised, under chaos on its governor and ladder, with 0 violations', async () => {
    const r = await runStress({ guests: 2, seconds: 1.5, seed: 4, engine: 'uksm' });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.engine_files?.full_scans).to.not.equal('1');
    expect(Number(r.engine_files?.pages_scanned)).to.be.greaterThan(0);
    expect(r.violations).to.deep.equal([]);
    expect(r.counter_mismatches).to.deep.equal([]);
    expect(r.leaked_frames_after_exit).to.equal(0);
  });
});
