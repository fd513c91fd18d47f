// workload-kit.test.ts — the steady state of a workload guest: pages rewritten at the rate asked, and
// a guest that has nothing due sleeps until it has (a fleet of slow churners must not spin timers).
import { expect } from 'chai';
import type { GuestSys } from '../../src/guest/index.ts';
import type { CommonArgs } from '../../src/workloads/workload-args.ts';
import { PageWriter, Rewriter, steadyState, steadyWait } from '../../guests/workloads/workload-kit.ts';

/** A GuestSys that only counts writes and records the sleeps asked for (and never really sleeps). */
function fakeSys(): { sys: GuestSys; writes: number[]; sleeps: number[] } {
  const writes: number[] = [];
  const sleeps: number[] = [];
  const sys = {
    write: (addr: number) => void writes.push(addr),
    sleep: async (ms: number) => void sleeps.push(ms),
  } as unknown as GuestSys;
  return { sys, writes, sleeps };
}

describe('workload steady state', () => {
  it('a rewriter at 5 pages/s rewrites one page per 200 ms and says when the next is due', () => {
    const { sys, writes } = fakeSys();
    const r = new Rewriter(new PageWriter(sys), 0x10000, 0, 100, 5, (p, g) => p * 31 + g);
    expect(r.step(100)).to.be.closeTo(100, 1e-9);
    expect(writes).to.have.length(0);
    expect(r.step(100)).to.be.closeTo(200, 1e-9);
    expect(r.rewritten).to.equal(1);
  });

  it('a rewriter with rate 0 has nothing due, ever', () => {
    const { sys } = fakeSys();
    expect(new Rewriter(new PageWriter(sys), 0, 0, 10, 0, () => 1).step(1000)).to.equal(Infinity);
  });

  it('sleeps until the next page is due instead of every tick, capped at 1 s', () => {
    expect(steadyWait(200, 20)).to.equal(200);
    expect(steadyWait(5, 20)).to.equal(20);
    expect(steadyWait(Infinity, 20)).to.equal(1000);
    expect(steadyWait(undefined, 20)).to.equal(20);
  });

  it('returns 0 once hold has passed', async () => {
    const { sys } = fakeSys();
    expect(await steadyState(sys, { hold: 0, tick: 20 } as CommonArgs, () => 200)).to.equal(0);
  });
});
