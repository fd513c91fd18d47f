// uksm-order.test.ts — the order UKSM visits an area's pages in (uksm.c's get_next_rmap_item): each
// visit swaps the next position of the area's order with a random one at or after it, so a pass over
// an area is a permutation of its pages, a fresh one every pass and a different one for every area,
// replayed exactly from the scanner's seed.
import { expect } from 'chai';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { createGuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { UKSM_DIR, UksmFiles } from '../../src/engines/uksm/uksm-files.ts';
import { ScanLadder, nextPage, type LadderSlot } from '../../src/engines/uksm/uksm-ladder.ts';
import { UksmState } from '../../src/engines/uksm/uksm-state.ts';
import { Prng } from '../../src/platform/prng.ts';

const PAGES = 256;

/**
 * A ladder over one guest's areas of `sizes` pages, every rung flat out and sampling at step 1
 * (eval_intervals 0), so a rung pass scans each area through; `sparse`: rung 0 samples every 6th page
 * of its pages per pass (20/10000 of a core, 10 ms to cover them). Returns each area's visits, in order.
 */
function visitsOf(seed: number, sizes: readonly number[], passes: number, sparse = false): number[][] {
  const mem = PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 });
  const state = UksmState.create();
  const files = new UksmFiles(state);
  files.write(UKSM_DIR + 'eval_intervals', sparse ? '10 10 10 10' : '0 0 0 0', true);
  files.write(UKSM_DIR + 'cpu_ratios', sparse ? '20 40 80 160' : 'MAX/1 MAX/1 MAX/1 MAX/1', true);
  files.write(UKSM_DIR + 'max_cpu_percentage', '99', true);
  const h = createGuestSpaceHandles(100, 0, 4096);
  const g = new AddressSpace(h, mem, { addKsmZeroPages: () => {}, engineAdvice: (_s, _a, advice) => advice === MADV_MERGEABLE, mergeableAtMmap: true });
  const starts = sizes.map((n) => {
    const start = g.mmap(n * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) / PAGE_SIZE;
    // A shared page between areas keeps them apart (adjacent private mappings would merge into one VMA).
    g.mmap(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    return start;
  });
  const ladder = new ScanLadder(state, seed);
  ladder.sync([{ pid: h.pid, ctl: new Int32Array(h.control), vmas: new Int32Array(h.vmaTable) }]);
  const visits = sizes.map((): number[] => []);
  const want = sizes.reduce((a, n) => a + n, 0) * passes;
  let seen = 0;
  while (seen < want) {
    if (ladder.periodDone) ladder.startPeriod(500, false);
    // A flat-out period's quota is millions of pages: pause it once there are enough visits.
    ladder.scan((slot: LadderSlot, index: number) => {
      visits[starts.indexOf(slot.start)]!.push(index);
      seen++;
      return 0;
    }, () => seen < want);
  }
  return visits.map((v, i) => v.slice(0, sizes[i]! * passes));
}

const pass = (v: readonly number[], n: number, size = PAGES) => v.slice(n * size, (n + 1) * size);
const sorted = (v: readonly number[]) => [...v].sort((a, b) => a - b);
const identity = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('UKSM page order within an area', () => {
  it('visits every page of an area exactly once per pass over it', () => {
    const [v] = visitsOf(7, [PAGES], 4);
    for (let p = 0; p < 4; p++) expect(sorted(pass(v!, p))).to.deep.equal(identity(PAGES));
  });

  it('keeps its place in the order while sparse sampling spreads a pass over the area across many rung passes', () => {
    const [v] = visitsOf(7, [PAGES], 3, true);
    for (let p = 0; p < 3; p++) expect(sorted(pass(v!, p))).to.deep.equal(identity(PAGES));
    expect(pass(v!, 0)).to.not.deep.equal(identity(PAGES));
  });

  it('visits them in a random order, not in address order', () => {
    const [v] = visitsOf(7, [PAGES], 2);
    for (let p = 0; p < 2; p++) {
      const order = pass(v!, p);
      expect(order).to.not.deep.equal(identity(PAGES));
      // A shuffled order: about half of the neighbours ascend, far from all of them.
      const ascents = order.slice(1).filter((x, i) => x > order[i]!).length;
      expect(ascents).to.be.within(PAGES * 0.35, PAGES * 0.65);
    }
  });

  it('draws a fresh order for every pass over the same area', () => {
    const [v] = visitsOf(7, [PAGES], 3);
    expect(pass(v!, 0)).to.not.deep.equal(pass(v!, 1));
    expect(pass(v!, 1)).to.not.deep.equal(pass(v!, 2));
  });

  it('shuffles two areas of the same size differently', () => {
    const [a, b] = visitsOf(7, [PAGES, PAGES], 1);
    expect(sorted(a!)).to.deep.equal(sorted(b!));
    expect(a).to.not.deep.equal(b);
  });

  it('covers areas of any size, one page included', () => {
    const v = visitsOf(3, [1, 3, 77], 2);
    expect(v[0]).to.deep.equal([0, 0]);
    for (const [i, n] of [[1, 3], [2, 77]] as const) for (let p = 0; p < 2; p++) expect(sorted(pass(v[i]!, p, n))).to.deep.equal(identity(n));
  });

  it('replays the same orders from the same seed, and others from another seed', () => {
    expect(visitsOf(11, [PAGES, 64], 2)).to.deep.equal(visitsOf(11, [PAGES, 64], 2));
    expect(visitsOf(11, [PAGES, 64], 2)).to.not.deep.equal(visitsOf(12, [PAGES, 64], 2));
  });

  it('puts any page first with equal chance (the swap draws from every position not yet visited)', () => {
    const n = 8;
    const counts = new Array<number>(n).fill(0);
    const runs = 8000;
    for (let r = 0; r < runs; r++) {
      const slot = { pages: n, cursor: 0, order: Uint32Array.from(identity(n)), rng: new Prng(r) } as unknown as LadderSlot;
      counts[nextPage(slot)]!++;
    }
    for (const c of counts) expect(c).to.be.within(runs / n * 0.85, runs / n * 1.15);
  });
});
