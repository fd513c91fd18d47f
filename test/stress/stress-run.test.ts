// stress-run.test.ts — `ksmsim stress` on real workers, bounded: a short chaos run, a run with fault
// injection (guests killed mid-write, ksmd killed mid-merge and restarted, memory too tight for
// every copy-on-write), and the deliberately broken protocol, which the checkers must catch.
// Assertions are about outcomes (no violation, counters = recount, no leaked frame), never speed.
import { expect } from 'chai';
import { runStress, describeStress, type StressReport } from '../../src/stress/stress-run.ts';

const explain = (r: StressReport) => describeStress(r).join('\n');

describe('ksmsim stress on real workers', function () {
  this.timeout(120_000);

  it('2 guests, chaos on the knobs: every read matches its shadow, counters = recount, no frame leaked', async () => {
    const r = await runStress({ guests: 2, seconds: 2, seed: 11 });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.violations).to.deep.equal([]);
    expect(r.counter_mismatches).to.deep.equal([]);
    expect(r.leaked_frames).to.equal(0);
    expect(r.leaked_frames_after_exit).to.equal(0);
    expect(r.ops).to.be.greaterThan(500);
    expect(r.reads).to.be.greaterThan(100);
    expect(r.merges).to.be.greaterThan(10);
    expect(r.knob_changes).to.be.greaterThan(3);
  });

  it('THP always: huge faults, the guests\' own splits, ksmd\'s splits and khugepaged under chaos lose nothing and leak nothing', async () => {
    const r = await runStress({ guests: 2, seconds: 3, seed: 15, thp: 'always' });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.thp_events!.thp_fault_alloc).to.be.greaterThan(0);
    expect(r.thp_events!.thp_split_page).to.be.greaterThan(0);
    expect(r.thp_events!.khugepaged_full_scans, 'khugepaged ran beside the guests').to.be.greaterThan(0);
    expect(r.leaked_frames).to.equal(0);
  });

  it('faults: guests killed mid-write, ksmd killed and restarted, tight memory — survivors lose nothing, no leak', async () => {
    const r = await runStress({ guests: 2, seconds: 3, seed: 5, faults: true });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.fault_events.guests_killed).to.be.greaterThan(0);
    expect(r.fault_events.ksmd_restarts).to.be.greaterThan(0);
    expect(r.leaked_frames).to.equal(0);
    expect(r.leaked_frames_after_exit).to.equal(0);
  });

  it('swap: memory tight enough that ksmd swaps KSM pages out of every mapping and they come back — nothing lost, no frame or slot leaked', async () => {
    const r = await runStress({ guests: 3, seconds: 3, seed: 1, swapBytes: 4 * 2 ** 20 });
    expect(r.ok, explain(r)).to.equal(true);
    expect(r.swap!.ksm_swap_outs).to.be.greaterThan(0);
    expect(r.swap!.pswpin).to.be.greaterThan(0);
    expect(r.swap!.pageouts).to.be.greaterThan(0);
    expect(r.swap!.leaked_slots_after_exit).to.equal(0);
  });

  it('catches the deliberately broken protocol (merge without write-protect and re-compare)', async () => {
    // Few pages, so guests keep writing the very pages ksmd merges.
    const r = await runStress({ guests: 2, seconds: 2, seed: 1, brokenProtocol: 'no-recompare', chaos: false, regions: 2, pages: 8 });
    expect(r.ok).to.equal(false);
    expect(r.violations.length, explain(r)).to.be.greaterThan(0);
    const v = r.violations[0]!;
    expect(v.seed).to.equal(1);
    expect(v.expected).to.not.equal(v.actual);
  });
});
