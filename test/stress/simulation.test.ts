// simulation.test.ts — the deterministic simulation of the merge protocol (src/stress/sim): seeded
// interleavings at the granularity of single Atomics operations, invariants 1–5 after every step.
// Bounded by interleaving counts, not by time; the long run (a million interleavings) is in docs/stress.md.
import { expect } from 'chai';
import { KILL_GUEST, explore, replaySchedule, runInterleaving } from '../../src/stress/sim/explore.ts';

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

  // Guest kills against the in-flight words (replays recorded before issue 11 run on the core model:
  // the paths it added draw from a second generator, so these seeds still make the same programs). (CTL_INFLIGHT_VPAGE/FRAME/OLD/NEXT and the host's
  // reclaimInflight). A kill can land between any two Atomics calls of the guest (model.ts header).
  // The three findings of 2545cfb: flaws 2 and 3 are fixed in src/mem (dropReference claims the swing
  // before dropping it; reclaimInflight recognises a swing by its frame), flaw 1 (a kill between the
  // allocator's CAS and CTL_INFLIGHT_FRAME) is documented there as a residual leak window.
  describe('guest killed at any step, then reclaimed by the host (--kill-guests)', () => {
    it('the old replay of a kill between swinging a PTE away and dropping the old reference (seed 1273) is clean now', () => {
      // Replays are step-indexed: '0,3' kills guest 0 after its first load; '0,0,0,0,0,0,3' kills it
      // right after its CAS to 0, before the claim of INFLIGHT_OLD.
      expect(replaySchedule(1273, '0,3', 'none', KILL_GUEST, true).violation).to.equal(undefined);
      const r = replaySchedule(1273, '0,0,0,0,0,0,3', 'none', KILL_GUEST, true);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(0);
      const t = r.trace!.join('\n');
      expect(t).to.contain('guest 0 dies in the window "PTE released, old reference not yet dropped"');
      expect(t).to.contain('host (reclaiming guest 0): mapcount(3) −1 = 0');
    });

    it('flaw 1 (old replay seed 73): killed between the allocator\'s CAS and CTL_INFLIGHT_FRAME, the frame leaks: a documented residual leak, not a violation', () => {
      const r = replaySchedule(73, '0,0,0,4', 'none', KILL_GUEST, true);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(1);
      expect(r.residualWhy).to.contain('frame 1: guest 0 was killed in the window "frame allocated, not yet recorded in INFLIGHT_FRAME"');
    });

    it('flaw 2 fixed (old replay seed 127542): killed after its mapcount decrement, the host no longer drops the reference again', () => {
      // The guest now claims INFLIGHT_OLD before the decrement: 8 guest steps reach the decrement.
      const r = replaySchedule(127542, '0,0,0,0,0,0,0,0,4,4,4,4,4,4,4,4', 'none', KILL_GUEST, true);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(0);
      const t = r.trace!.join('\n');
      expect(t).to.contain('guest 0: claim INFLIGHT_OLD: CAS f6 KSM → 0');
      expect(t).to.contain('guest 0: mapcount(6) −1 = 1');
      expect(t).to.contain('host (reclaiming guest 0): load INFLIGHT_OLD = none');
      expect(t).not.to.match(/host \(reclaiming guest 0\): mapcount\(6\)/);
    });

    it('flaw 2 fixed: killed between the claim and the decrement (the old replay, step for step), one reference on the KSM frame leaks: a documented residual leak', () => {
      const r = replaySchedule(127542, '0,0,0,0,0,0,0,4,4,4,4,4,4,4,4', 'none', KILL_GUEST, true);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(1);
      expect(r.residualWhy).to.contain('a reference on KSM frame 6');
      expect(r.residualWhy).to.contain('window "INFLIGHT_OLD claimed, mapcount not yet decremented"');
    });

    it('flaw 3 fixed (old replay seed 135): ksmd write-protects the dead guest\'s new PTE, and the host still drops the old KSM reference', () => {
      const r = replaySchedule(135, ['0,0,0,0,0,0,0,0,0,3', ...Array(24).fill('2')].join(','), 'none', KILL_GUEST, true);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(0);
      const t = r.trace!.join('\n');
      expect(t).to.contain('guest 0 dies in the window "PTE swung, INFLIGHT_FRAME not yet cleared"');
      expect(t).to.contain('host (reclaiming guest 0): load PTE p0 (f1 WP)');
      expect(t).to.contain('host (reclaiming guest 0): load INFLIGHT_NEXT = f1 W (the swing happened: drop the old reference)');
      expect(t).to.contain('host (reclaiming guest 0): claim INFLIGHT_OLD: CAS f5 KSM → 0');
      expect(t).to.contain('host (reclaiming guest 0): mapcount(5) −1');
    });

    it('a kill in a documented residual window is counted as a known residual leak, not a violation', () => {
      const r = runInterleaving(4258, 400, 'none', undefined, true, KILL_GUEST, true);
      expect(r.violation).to.equal(undefined);
      expect(r.residual).to.equal(1);
      expect(r.residualWhy).to.contain('INFLIGHT_OLD claimed, free() of the private frame not yet done');
      expect(r.trace!.join('\n')).to.contain('known residual leak (documented, not a violation)');
    });

    it('20 000 interleavings: no violation; residual leaks counted, in documented windows only', () => {
      let violation = '';
      let residual = 0;
      const windows = new Set<string>();
      for (let seed = 1; seed <= 20_000; seed++) {
        const r = runInterleaving(seed, 400, 'none', undefined, false, KILL_GUEST);
        residual += r.residual;
        if (r.residual) windows.add(/window "([^"]*)"/.exec(r.residualWhy)![1]!);
        if (r.violation && !violation) violation = `seed ${seed}: ${r.violation}`;
      }
      expect(violation).to.equal('');
      expect(residual).to.be.greaterThan(0);
      expect(windows).to.include('frame allocated, not yet recorded in INFLIGHT_FRAME');
    });

    it('20 000 interleavings with --kill-guests: 0 violations', () => {
      const r = explore({ seed: 1, interleavings: 20_000, killGuests: true });
      expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
      expect(r.interleavings).to.equal(20_000);
      expect(r.residual_leaks).to.be.greaterThan(0);
    });
  });
});
