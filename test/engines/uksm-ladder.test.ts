// uksm-ladder.test.ts — UKSM's scan ladder as uksm.c runs it: new areas start on rung 0; an area that
// merged at least abundant_threshold pages in its pass climbs a rung, one that merged nothing sinks
// one; each rung's pages per period follow its cpu_ratios share, and its eval_intervals set how
// sparsely a pass samples its areas. A fixed cost per page makes quotas and steps repeatable.
import { expect } from 'chai';
import { MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import type { AddressSpace } from '../../src/mem/address-space.ts';
import { UKSM_DIR } from '../../src/engines/uksm/uksm-files.ts';
import type { LadderSlot } from '../../src/engines/uksm/uksm-ladder.ts';
import { Prng } from '../../src/platform/prng.ts';
import { uksmRig, type UksmRig } from '../helpers/uksm-rig.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const PAGE_NS = 500;
const AREA = 2048;

/** A rig whose rungs have fixed, distinct shares (N/10000) and short evaluation intervals. */
function ladderRig(ratios = '20 40 80 160', intervals = '10 10 10 10'): UksmRig {
  const r = uksmRig({ pageTimeNs: PAGE_NS, bytes: 64 * 2 ** 20, vaPages: 4 * AREA + 64 });
  r.files.write(UKSM_DIR + 'cpu_ratios', ratios, true);
  r.files.write(UKSM_DIR + 'eval_intervals', intervals, true);
  return r;
}

/** An area of AREA pages: its first `dupPages` pages cycle through 8 contents, the rest are unique. */
function area(g: AddressSpace, dupPages: number, seed: number): number {
  const addr = g.mmap(AREA * PAGE_SIZE, RW, ANON);
  const rng = new Prng(seed);
  const page = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < AREA; i++) {
    if (i < dupPages) page.fill(1 + (i % 8));
    else rng.fill(page);
    g.write(addr + i * PAGE_SIZE, page);
  }
  return addr;
}

interface Move {
  readonly pid: number;
  readonly from: number;
  readonly to: number;
  readonly scanned: number;
}

function recordMoves(r: UksmRig): Move[] {
  const moves: Move[] = [];
  r.scanner.ladder.onJudge = (s: LadderSlot, from, to) => moves.push({ pid: s.pid, from, to, scanned: s.scanned });
  return moves;
}

describe('UKSM scan ladder', () => {
  it('puts every new private anonymous area on rung 0', () => {
    const r = ladderRig();
    const g = r.guest();
    const a = g.mmap(16 * PAGE_SIZE, RW, ANON);
    r.scanner.period();
    expect(r.scanner.ladder.rungOf(g.pid, a / PAGE_SIZE)).to.equal(0);
    expect(r.scanner.ladder.info()[0]!.areas).to.equal(1);
  });

  it('moves an area that merges well up the ladder, rung by rung, and keeps one that merges nothing on rung 0', () => {
    const r = ladderRig();
    const rich = r.guest();
    const poor = r.guest();
    area(rich, AREA, 1);
    const pa = area(poor, 0, 2);
    const moves = recordMoves(r);
    const climbs = () => moves.filter((m) => m.pid === rich.pid && m.to !== m.from);
    for (let i = 0; i < 40 && climbs().length < 3; i++) r.scanner.period();
    expect(climbs().slice(0, 3).map((m) => m.to)).to.deep.equal([1, 2, 3]);
    // On the top rung it stays while its passes merge (until it has been scanned through).
    expect(moves.some((m) => m.pid === rich.pid && m.from === 3 && m.to === 3)).to.equal(true);
    expect(moves.filter((m) => m.pid === poor.pid).every((m) => m.to === 0)).to.equal(true);
    expect(r.scanner.ladder.rungOf(poor.pid, pa / PAGE_SIZE)).to.equal(0);
  });

  it('moves an area down a rung for each pass in which it merged fewer than abundant_threshold pages', () => {
    const r = ladderRig();
    const g = r.guest();
    // All duplicates: the area climbs. Once it reaches the top rung its pages all turn unique (the
    // guest rewrites them), so every later pass merges nothing and it sinks a rung per pass.
    const a = area(g, AREA, 3);
    const moves = recordMoves(r);
    const judged = r.scanner.ladder.onJudge!;
    let rewritten = false;
    r.scanner.ladder.onJudge = (s, from, to) => {
      judged(s, from, to);
      if (to === 3 && !rewritten) {
        rewritten = true;
        const rng = new Prng(33);
        const page = new Uint8Array(PAGE_SIZE);
        for (let i = 0; i < AREA; i++) g.write(a + i * PAGE_SIZE, rng.fill(page));
      }
    };
    for (let i = 0; i < 60 && moves.filter((m) => m.to !== m.from).length < 6; i++) r.scanner.period();
    const path = moves.filter((m) => m.to !== m.from);
    expect(path.map((m) => `${m.from}→${m.to}`)).to.deep.equal(['0→1', '1→2', '2→3', '3→2', '2→1', '1→0']);
    // Not the "fully scanned: back to rung 0" rule: the area was never scanned through.
    expect(path.every((m) => m.scanned < AREA)).to.equal(true);
    expect(r.scanner.ladder.rungOf(g.pid, a / PAGE_SIZE)).to.equal(0);
  });

  it('raises the bar with abundant_threshold: an area merging fewer pages per pass stays on rung 0', () => {
    const r = ladderRig();
    r.files.write(UKSM_DIR + 'abundant_threshold', '99', true);
    const g = r.guest();
    area(g, AREA, 4);
    const moves = recordMoves(r);
    for (let i = 0; i < 10; i++) r.scanner.period();
    // A rung-0 pass visits ~40 pages of this area: fewer than 99 merges, whatever it finds.
    expect(moves.length).to.be.greaterThan(0);
    expect(moves.every((m) => m.to === 0)).to.equal(true);
  });

  it('sends an area back to rung 0 once every page of it has been scanned', () => {
    const r = ladderRig('20 40 80 10000', '10 10 10 0'); // rung 3 scans at step 1: a pass covers the area
    const g = r.guest();
    area(g, AREA, 5);
    const moves = recordMoves(r);
    for (let i = 0; i < 60 && !moves.some((m) => m.from === 3); i++) r.scanner.period();
    const last = moves.find((m) => m.from === 3)!;
    expect(last.to).to.equal(0);
    expect(last.scanned).to.equal(AREA);
  });

  it('gives each rung its cpu_ratios share of a period: N/10000 of scan plus sleep, at the cost per page', () => {
    const pagesFor = (ratios: string): number => {
      const r = ladderRig(ratios);
      const g = r.guest();
      g.mmap(AREA * PAGE_SIZE, RW, ANON); // not touched: every visit is cheap, none merges
      const before = r.scanner.ladder.info()[0]!.scanned;
      r.scanner.period();
      return r.scanner.ladder.info()[0]!.scanned - before;
    };
    // sleep_millisecs 100: rung 0 may scan 100 ms × N/(10000 − N) per period, at 500 ns a page.
    expect(pagesFor('20 40 80 160')).to.equal(Math.floor((100e6 * 20) / 9980 / PAGE_NS));
    expect(pagesFor('200 40 80 160')).to.equal(Math.floor((100e6 * 200) / 9800 / PAGE_NS));
  });

  it('reads MAX/n as that share of max_cpu_percentage', () => {
    const r = ladderRig('MAX/100 40 80 160');
    r.files.write(UKSM_DIR + 'max_cpu_percentage', '50', true);
    const g = r.guest();
    g.mmap(AREA * PAGE_SIZE, RW, ANON);
    r.scanner.period();
    // MAX/100 = 100/10000 of max_cpu 50 % → 50/10000.
    expect(r.scanner.ladder.info()[0]!.scanned).to.equal(Math.floor((100e6 * 50) / 9950 / PAGE_NS));
  });

  it('samples a rung more densely with a longer eval_intervals: the step is its pages over what it can scan in that time', () => {
    const visitsPerPass = (intervals: string): { step: number; visits: number } => {
      const r = ladderRig('20 40 80 160', intervals);
      const g = r.guest();
      g.mmap(AREA * PAGE_SIZE, RW, ANON);
      const moves = recordMoves(r);
      for (let i = 0; i < 5 && moves.length < 2; i++) r.scanner.period();
      return { step: r.scanner.ladder.info()[0]!.step, visits: moves[1]!.scanned - moves[0]!.scanned };
    };
    // 10 ms at 20/10000 and 500 ns a page: 40 pages a pass; 40 ms: 160.
    const short = visitsPerPass('10 10 10 10');
    const long = visitsPerPass('40 10 10 10');
    expect(short.step).to.equal(Math.floor(AREA / 40));
    expect(long.step).to.equal(Math.floor(AREA / 160));
    // A pass visits every step-th page of the area: its pages over the step, give or take the start.
    expect(Math.abs(short.visits - AREA / short.step)).to.be.at.most(1);
    expect(Math.abs(long.visits - AREA / long.step)).to.be.at.most(1);
    expect(long.visits).to.be.greaterThan(3 * short.visits);
  });
});
