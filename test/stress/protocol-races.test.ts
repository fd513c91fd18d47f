// protocol-races.test.ts — issue 11's findings in the deterministic simulation: each race as a
// scripted interleaving (the schedule is a list of actor choices: guests 0…G−1, ksmd G), run
// against the protocol as it was (a --broken variant) and as it is.
import { expect } from 'chai';
import { KILL_GUEST, KILL_KSMD, explore, replaySchedule, runInterleaving, runScripted } from '../../src/stress/sim/explore.ts';
import type { SimBroken, SimConfig, SimScript } from '../../src/stress/sim/model.ts';

/** [actor, steps] runs → a flat schedule. */
function schedule(runs: ReadonlyArray<readonly [number, number]>): number[] {
  return runs.flatMap(([a, n]) => Array<number>(n).fill(a));
}

describe('issue 11 races in the deterministic simulation', function () {
  this.timeout(120_000);

  describe('finding 1: swap-out copies the frame only once the PTE no longer maps it', () => {
    // Two guests of two pages, one frame per page (memory full), four swap slots; run=2 after the
    // second pass. Guest 0's p0 is private and read-only without WP_KSMD (as after mprotect or a
    // run=2), content 1; g1p0 holds 1 too, g1p1 holds 2. Guest 0 writes its untouched p1: no free
    // frame, so its fault swaps out p0 (its hazard word holds p1, not p0).
    const cfg = (broken: SimBroken): SimConfig => ({
      guests: 2, pages: 2, frames: 4, opsPerGuest: 0, spins: 1, useZero: false, maxSharing: 256, broken,
      killGuest: false, killKsmd: false, run2AfterPass: 2, slots: 4, readOnlyPages: false,
    });
    const script: SimScript = {
      memory: [{ content: 1, writable: false }, null, { content: 1, writable: true }, { content: 2, writable: true }],
      programs: [[{ kind: 'write', p: 1, v: 2 }], [{ kind: 'write', p: 0, v: 3 }, { kind: 'dontneed', p: 0 }]],
    };
    // Guest 0 loads p0's PTE and takes a slot; ksmd merges g1p0 and g0p0 and frees g0p0's frame 1
    // at once (guest 0's hazard is on p1); guest 1's copy-on-write of g1p0 gets frame 1 and writes
    // 3 into it; guest 0 copies frame 1; guest 1 releases g1p0 (frame 1 free again); ksmd's run=2
    // gives g0p0 a private copy in frame 1, with exactly the PTE value guest 0 loaded; guest 0's
    // compare-and-exchange succeeds.
    const race = schedule([[0, 5], [2, 27], [1, 14], [0, 1], [1, 9], [2, 12]]);

    it('with the copy before the compare-and-exchange (the old swapOutOne), swap holds another guest\'s bytes', () => {
      const r = runScripted(cfg('swap-copy-before-unmap'), script, race);
      expect(r.violation, r.trace?.join('\n')).to.contain('g0p0 is swapped out to slot 0 holding 3, but its guest last wrote 1');
      expect(r.trace!.join('\n')).to.contain('ksmd: run=2: CAS g0p0 f2 KSM → f1');
    });

    it('unmapping first, then copying: the same schedule swaps out the page\'s own content', () => {
      const r = runScripted(cfg('none'), script, race);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.trace!.join('\n')).to.match(/guest 0: swap-out: CAS PTE p0 f1 → SWAP s0\n.*guest 0: swap-out: copy frame 1 → slot 0/);
    });

    it('the fixed protocol passes 20 000 seeded interleavings with swap', () => {
      const r = explore({ seed: 1, interleavings: 20_000, broken: 'none' });
      expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
      expect(r.steps_by_kind.swap_out).to.be.greaterThan(0);
      expect(r.steps_by_kind.swap_in).to.be.greaterThan(0);
    });
  });

  describe('findings 2 and 3: the sysfs request channel', () => {
    it('finding 2: the old channel hands ksmd the first run=2 with the argument still 0 (seed 3)', () => {
      const r = replaySchedule(3, '4,4,3,3,3', 'old-sysfs-protocol');
      expect(r.violation, r.trace?.join('\n')).to.equal('ksmd took the request op 1 arg 0, but the writer asked for run=2 (a request taken with a stale or torn argument)');
      const t = r.trace!.join('\n');
      expect(t).to.contain('writer 0: store OP = 1');
      expect(t).to.match(/ksmd: request: load DONE = 0\n[^\n]*ksmd: request: load ARG = 0/);
    });

    it('finding 2: the same schedule with the sequence-numbered channel waits for the published pair', () => {
      expect(replaySchedule(3, '4,4,3,3,3', 'none').violation).to.equal(undefined);
      // ksmd looking in just after the writer stored its op (as in the old failure) sees SEQ odd.
      const r = replaySchedule(3, '4,4,4,4,3', 'none');
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      const t = r.trace!.join('\n');
      expect(t).to.match(/writer 0: store OP = 1\n[^\n]*ksmd: request: load SEQ = 1\n/);
      expect(t).not.to.match(/ksmd: request: load SEQ = 1\n[^\n]*ksmd: request: load ACK/);
    });

    it('finding 3: a writer killed holding the old lock blocks the other writer forever (seed 10)', () => {
      const r = runInterleaving(10, 400, 'old-sysfs-protocol', undefined, true, KILL_GUEST);
      expect(r.violation, r.trace?.join('\n')).to.contain('writer 1 cannot finish: the request lock is held by 1');
      expect(r.trace!.join('\n')).to.contain('host: worker.terminate() of writer 0');
    });

    it('finding 3: with an owner in the lock, ksmd releases it when told the writer died, and the other writer finishes', () => {
      const r = runInterleaving(10, 400, 'none', undefined, true, KILL_GUEST);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      const t = r.trace!.join('\n');
      expect(t).to.contain('ksmd (told writer 0 exited): CAS request lock 100 → 0');
      expect(t).to.contain('writer 1 finished');
    });

    it('the old channel is caught by exploration at once; the new one passes the same 20 000 seeds with writers killed', () => {
      const bad = explore({ seed: 1, interleavings: 2000, broken: 'old-sysfs-protocol', shrinkBudget: 200 });
      expect(bad.violations).to.equal(1);
      const r = explore({ seed: 1, interleavings: 20_000, killGuests: true });
      expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
      expect(r.steps_by_kind.sysfs_request).to.be.greaterThan(0);
      expect(r.steps_by_kind.sysfs_serve).to.be.greaterThan(0);
      expect(r.steps_by_kind.run2).to.be.greaterThan(0);
    });
  });

  describe('a guest killed right after a failed swing (found while modelling issue 11)', () => {
    // One page each, equal content; ksmd merges them, then guest 0's copy-on-write records its new
    // frame 1 and the swing, ksmd's run=2 unmerges g0p0 first, guest 0's CAS fails, and guest 0
    // dies one step later.
    const cfg = (broken: SimBroken): SimConfig => ({
      guests: 2, pages: 1, frames: 6, opsPerGuest: 0, spins: 1, useZero: false, maxSharing: 256, broken,
      killGuest: true, killKsmd: false, run2AfterPass: 3, slots: 0, readOnlyPages: false,
    });
    const script: SimScript = {
      memory: [{ content: 1, writable: true }, { content: 1, writable: true }],
      programs: [[{ kind: 'write', p: 0, v: 2 }], []],
    };
    const killedAfter = (guestSteps: number): number[] => schedule([[2, 25], [0, 8], [2, 10], [0, guestSteps], [3, 1]]);

    it('clearing INFLIGHT_FRAME before INFLIGHT_OLD (the old order) leaked the new frame, recorded nowhere', () => {
      const r = runScripted(cfg('failed-swing-clears-frame-first'), script, killedAfter(2));
      expect(r.violation, r.trace?.join('\n')).to.contain('frame 1 is neither free nor mapped: leaked');
      expect(r.trace!.join('\n')).to.contain('guest 0: CAS PTE p0 f2 KSM → f1 W failed (saw f3)');
    });

    it('INFLIGHT_OLD first: killed there, the frame is still recorded and the host frees it', () => {
      const r = runScripted(cfg('none'), script, killedAfter(2));
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residual).to.equal(0);
      expect(r.trace!.join('\n')).to.contain('host (reclaiming guest 0): free frame 1 (bitmap)');
    });

    it('killed after both stores, the frame leaks in the documented window before free()', () => {
      const r = runScripted(cfg('none'), script, killedAfter(3));
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.residualWhy).to.contain('window "failed swing: record cleared, free() of the new private frame not yet done"');
    });
  });

  describe('issue 15: KSM pages in swap', () => {
    const SCHEDULE = '2,2,2,1,2,2,1,2,2,0,2,2,2,2,0,0,1,1,2,2,0,1,2,0,2,0,2,1,2,2,1,0,1,2,0,0,2,0,2,1,2,1,0,2,0,1,1,2,1,2,1,2,2,2,2';
    const KILLS = KILL_GUEST | KILL_KSMD;

    it('PG_swapcache loaded then set puts one frame in two swap caches (seed 8241: a guest\'s MADV_PAGEOUT and ksmd\'s reclaim)', () => {
      const r = replaySchedule(8241, SCHEDULE, 'swap-cache-check-then-set', KILLS);
      expect(r.violation, r.trace?.join('\n')).to.equal('frame 3 is in the swap cache without PG_swapcache');
      const t = r.trace!.join('\n');
      expect(t).to.contain('ksmd: load PG_swapcache(3) = 0');
      expect(t).to.contain('guest 1: store cache(s0) = f3');
      expect(t).to.contain('ksmd: store cache(s1) = f3');
    });

    it('the same schedule with PG_swapcache claimed by test-and-set keeps one swap cache per frame', () => {
      const r = replaySchedule(8241, SCHEDULE, 'none', KILLS);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
    });

    it('a ksmd killed inside the put that frees a swap slot leaves the slot to the repair (seed 3385)', () => {
      // Killed after the count reached 0, before the slot's bitmap bit: the repair once kept a slot
      // whose count matched its PTEs (none), leaking it.
      const r = replaySchedule(3385, '3,3,3,0,3,3,3,4', 'none', KILLS);
      expect(r.violation, r.trace?.join('\n')).to.equal(undefined);
      expect(r.trace!.join('\n')).to.match(/ksmd: swap count\(s0\) −1 = 0\n[^\n]*host: worker.terminate\(\) of ksmd/);
    });

    it('random interleavings with kills exercise swap-outs of KSM pages and swap-ins from the swap cache, with no violation', () => {
      const r = explore({ seed: 1, interleavings: 1500, killGuests: true, killKsmd: true });
      expect(r.violations, r.failure ? `${r.failure.violation}\n${r.failure.trace.join('\n')}` : '').to.equal(0);
      expect(r.ksm_swap_outs).to.be.greaterThan(0);
      expect(r.swap_cache_swap_ins).to.be.greaterThan(0);
      expect(r.steps_by_kind.pageout).to.be.greaterThan(0);
      expect(r.steps_by_kind.kill).to.be.greaterThan(0);
    });
  });
});
