// ksm-swap.test.ts — KSM pages and swap, as the kernel does them (notes: "Swap and KSM"):
// madvise(MADV_PAGEOUT) and MADV_COLD, reclaim that swaps a KSM page out of every mapping, swap-in
// from the swap cache (the same KSM page) or from the slot (the first mapper's page, copies for the
// rest: ksm_swpin_copy), the lazy counters, and the frame and slot accounting after each.
// One thread: the guests' address spaces and ksmd's engine over the same memory, stepped in turn.
import { expect } from 'chai';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { MADV_COLD, MADV_MERGEABLE, MADV_PAGEOUT, MADV_UNMERGEABLE, PAGE_SIZE } from '../../src/mem/constants.ts';
import { CTL_HAZARD, HAZARD_NONE, createGuestSpaceHandles, hazardWrite, type GuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_KSM, PTE_PRESENT, PTE_SWAPPED, pteFrame } from '../../src/mem/pte.ts';
import { smapsRollup } from '../../src/mem/procfs.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { recountSpaces, repairAfterKsmdDeath } from '../../src/stress/recount.ts';
import { errnoOf } from '../helpers/bare-space.ts';

const PAGES = 8;

interface Guest {
  readonly space: AddressSpace;
  readonly handles: GuestSpaceHandles;
  readonly addr: number;
}

function setup(o: { frames?: number; swapBytes?: number; guests?: number } = {}) {
  const mem = PhysicalMemory.create({ bytes: (o.frames ?? 256) * PAGE_SIZE, numaNodes: 1, swapBytes: o.swapBytes ?? 1 << 20 });
  const state = KsmState.create();
  state.set('pages_to_scan', 100_000);
  state.set('smart_scan', 0);
  state.set('run', 1);
  const engine = new KsmEngine(mem, state);
  const guests: Guest[] = [];
  for (let i = 0; i < (o.guests ?? 2); i++) {
    const handles = createGuestSpaceHandles(i + 1, 0, 4096);
    const space = new AddressSpace(handles, mem);
    engine.addGuest(handles);
    guests.push({ space, handles, addr: space.mmap(PAGES * PAGE_SIZE) });
  }
  const scan = (passes = 3): void => {
    for (let i = 0; i < passes; i++) engine.scanBatch(1_000_000);
  };
  const pte = (g: Guest, page = 0): number => Atomics.load(g.space.pt, g.addr / PAGE_SIZE + page);
  const audit = (): string[] => recountSpaces(mem, true, 256, guests.map((g) => g.handles)).problems as string[];
  return { mem, state, engine, guests, scan, pte, audit };
}

/** Page `p` of every guest holds `byte` (so page p of all guests merges into one KSM page). */
function fill(guests: readonly Guest[], byteOf: (page: number) => number, merge = true): void {
  for (const g of guests) {
    for (let p = 0; p < PAGES; p++) g.space.memset(g.addr + p * PAGE_SIZE, byteOf(p), PAGE_SIZE);
    if (merge) g.space.madvise(g.addr, PAGES * PAGE_SIZE, MADV_MERGEABLE);
  }
}

function bytesOf(g: Guest, page: number): number[] {
  return [...new Set(g.space.read(g.addr + page * PAGE_SIZE, PAGE_SIZE))];
}

const isKsm = (pte: number): boolean => (pte & (PTE_PRESENT | PTE_KSM)) === (PTE_PRESENT | PTE_KSM);
const isSwapped = (pte: number): boolean => (pte & (PTE_PRESENT | PTE_SWAPPED)) === PTE_SWAPPED;

/**
 * Two guests whose pages merged page by page, then guest b unmerged: guest a alone maps each KSM page.
 * With `pageOut`, a pages out its first page (a KSM page mapped once: it goes to the swap cache).
 */
function onceMapped(pageOut = true) {
  const t = setup();
  fill(t.guests, (p) => p + 1);
  t.scan();
  const [a, b] = t.guests as [Guest, Guest];
  b.space.madvise(b.addr, PAGES * PAGE_SIZE, MADV_UNMERGEABLE);
  const k = pteFrame(t.pte(a));
  if (pageOut) a.space.madvise(a.addr, PAGE_SIZE, MADV_PAGEOUT);
  return { ...t, a, b, k };
}

describe('madvise(MADV_PAGEOUT)', () => {
  it('pages out private pages and returns 0; they read back intact', () => {
    const t = setup({ guests: 1 });
    const [g] = t.guests;
    fill(t.guests, (p) => p + 1, false);
    g!.space.madvise(g!.addr, PAGES * PAGE_SIZE, MADV_PAGEOUT);
    for (let p = 0; p < PAGES; p++) expect(isSwapped(t.pte(g!, p)), `page ${p}`).to.equal(true);
    expect(t.mem.vmstat.get('pswpout')).to.equal(PAGES);
    for (let p = 0; p < PAGES; p++) expect(bytesOf(g!, p)).to.deep.equal([p + 1]);
    expect(t.mem.vmstat.get('pswpin')).to.equal(PAGES);
    expect(t.audit()).to.deep.equal([]);
  });

  it('skips KSM pages mapped more than once', () => {
    const t = setup();
    fill(t.guests, () => 7);
    t.scan();
    const [a] = t.guests;
    expect(isKsm(t.pte(a!))).to.equal(true);
    a!.space.madvise(a!.addr, PAGES * PAGE_SIZE, MADV_PAGEOUT);
    for (let p = 0; p < PAGES; p++) expect(isKsm(t.pte(a!, p)), `page ${p}`).to.equal(true);
    expect(t.mem.vmstat.get('pswpout')).to.equal(0);
  });

  it('skips zero-page mappings', () => {
    const t = setup({ guests: 1 });
    const [g] = t.guests;
    g!.space.read(g!.addr, PAGES * PAGE_SIZE);
    const before = Array.from({ length: PAGES }, (_, p) => t.pte(g!, p));
    g!.space.madvise(g!.addr, PAGES * PAGE_SIZE, MADV_PAGEOUT);
    expect(Array.from({ length: PAGES }, (_, p) => t.pte(g!, p))).to.deep.equal(before);
  });

  it('does nothing without swap, and still returns 0', () => {
    const t = setup({ guests: 1, swapBytes: 0 });
    const [g] = t.guests;
    fill(t.guests, (p) => p + 1, false);
    g!.space.madvise(g!.addr, PAGES * PAGE_SIZE, MADV_PAGEOUT);
    expect(isSwapped(t.pte(g!))).to.equal(false);
  });

  it('is ENOMEM over a hole, like every madvise, after paging out the mapped part', () => {
    const t = setup({ guests: 1 });
    const [g] = t.guests;
    fill(t.guests, (p) => p + 1, false);
    expect(errnoOf(() => g!.space.madvise(g!.addr, (PAGES + 4) * PAGE_SIZE, MADV_PAGEOUT))).to.equal('ENOMEM');
    expect(isSwapped(t.pte(g!))).to.equal(true);
  });

  it('pages out a KSM page mapped once; ksmd then drops its rmap item (pages_shared falls)', () => {
    const t = onceMapped(false);
    expect(t.state.get('pages_shared')).to.equal(PAGES);
    t.a.space.madvise(t.a.addr, PAGE_SIZE, MADV_PAGEOUT);
    expect(isSwapped(t.pte(t.a))).to.equal(true);
    expect(t.mem.vmstat.get('nr_swapcached')).to.equal(1);
    t.scan(1);
    expect(t.state.get('pages_shared')).to.equal(PAGES - 1);
    expect(t.audit()).to.deep.equal([]);
  });

  it('a paged-out KSM page still in the swap cache comes back as the same KSM page, with no I/O', () => {
    const { a, k, ...t } = onceMapped();
    t.scan(1);
    expect(bytesOf(a, 0)).to.deep.equal([1]);
    expect(t.pte(a)).to.satisfy(isKsm);
    expect(pteFrame(t.pte(a))).to.equal(k);
    expect(t.mem.vmstat.get('pswpin')).to.equal(0);
    expect(t.mem.vmstat.get('nr_swapcached')).to.equal(0);
    t.scan(1);
    expect(t.state.get('pages_shared')).to.equal(PAGES);
    expect(t.audit()).to.deep.equal([]);
  });

  it('an unmapped KSM page in the swap cache takes no new merges; swapped back in, equal pages merge into it', () => {
    const { a, b, k, ...t } = onceMapped();
    b.space.madvise(b.addr, PAGES * PAGE_SIZE, MADV_MERGEABLE);
    t.scan();
    expect(pteFrame(t.pte(b))).not.to.equal(k);
    expect(isKsm(t.pte(b))).to.equal(false);
    a.space.read(a.addr, 1);
    t.scan(2);
    expect(pteFrame(t.pte(b))).to.equal(k);
    expect(t.audit()).to.deep.equal([]);
  });

  it('once dropped from the swap cache, the page comes back from the slot as a private page', () => {
    const { a, ...t } = onceMapped();
    const free = t.mem.freeFrames();
    expect(t.mem.shrinkSwapCache(10)).to.equal(1);
    expect(t.mem.freeFrames()).to.equal(free + 1);
    expect(bytesOf(a, 0)).to.deep.equal([1]);
    expect(isKsm(t.pte(a))).to.equal(false);
    expect(t.mem.vmstat.get('pswpin')).to.equal(1);
    expect(t.audit()).to.deep.equal([]);
  });
});

describe('MADV_COLD', () => {
  it('returns 0 and makes reclaim take the advised pages first', () => {
    const t = setup({ guests: 1, frames: 64 });
    const [g] = t.guests;
    fill(t.guests, (p) => p + 1, false);
    g!.space.madvise(g!.addr + 6 * PAGE_SIZE, 2 * PAGE_SIZE, MADV_COLD);
    const big = g!.space.mmap(t.mem.freeFrames() * PAGE_SIZE + PAGE_SIZE);
    g!.space.memset(big, 9, t.mem.freeFrames() * PAGE_SIZE + PAGE_SIZE);
    expect(isSwapped(t.pte(g!, 6))).to.equal(true);
    expect(isSwapped(t.pte(g!, 0))).to.equal(false);
  });
});

describe('reclaim of KSM pages (memory pressure)', () => {
  /** Two guests sharing PAGES KSM pages, then a third area that fills memory below the watermark. */
  function pressured() {
    const t = setup({ frames: 128 });
    fill(t.guests, (p) => p + 1);
    t.scan();
    expect(t.state.get('pages_sharing')).to.equal(PAGES);
    const [a] = t.guests;
    // Fill memory with the guest's own pages, leaving a few frames: below the low watermark.
    const n = t.mem.freeFrames() - 4;
    const hog = a!.space.mmap(n * PAGE_SIZE);
    a!.space.memset(hog, 0xee, n * PAGE_SIZE);
    return t;
  }

  it('does nothing above the low watermark', () => {
    const t = setup();
    fill(t.guests, (p) => p + 1);
    t.scan();
    expect(t.engine.reclaim()).to.equal(0);
  });

  it('unmaps every mapping of a KSM page: each PTE becomes the same swap entry, written once', () => {
    const t = pressured();
    const [a, b] = t.guests;
    const out = t.mem.vmstat.get('pswpout');
    expect(t.engine.reclaim()).to.be.greaterThan(0);
    expect(isSwapped(t.pte(a!))).to.equal(true);
    expect(t.pte(b!)).to.equal(t.pte(a!));
    // One write per KSM page, one per private page: never one per mapping.
    expect(t.mem.vmstat.get('pswpout') - out).to.equal(t.engine.events.ksmSwapOuts + t.engine.events.privateSwapOuts);
    expect(t.audit()).to.deep.equal([]);
  });

  it('frees the frame: nothing but the slot holds the page', () => {
    const t = pressured();
    const free = t.mem.freeFrames();
    const swapped = t.engine.reclaim();
    expect(swapped).to.equal(t.engine.events.ksmSwapOuts + t.engine.events.privateSwapOuts);
    expect(t.mem.freeFrames()).to.equal(free + swapped);
    expect(t.mem.vmstat.get('nr_swapcached')).to.equal(0);
  });

  it('breaks sharing at swap-in from the slot: the first mapper reads it, each other gets a copy (ksm_swpin_copy)', () => {
    const t = pressured();
    const [a, b] = t.guests;
    t.engine.reclaim();
    const pin = t.mem.vmstat.get('pswpin');
    expect(bytesOf(a!, 0)).to.deep.equal([1]);
    expect(bytesOf(b!, 0)).to.deep.equal([1]);
    expect(t.mem.vmstat.get('pswpin') - pin).to.equal(1);
    expect(t.mem.vmstat.get('ksm_swpin_copy')).to.equal(1);
    expect(isKsm(t.pte(a!)) || isKsm(t.pte(b!))).to.equal(false);
    expect(pteFrame(t.pte(a!))).not.to.equal(pteFrame(t.pte(b!)));
    expect(t.audit()).to.deep.equal([]);
  });

  it('keeps the counters lazy: pages_sharing falls at ksmd\'s next visit, and ksmd merges the copies again', () => {
    const t = pressured();
    const [a, b] = t.guests;
    t.engine.reclaim();
    const swapped = t.engine.events.ksmSwapOuts;
    expect(swapped).to.be.greaterThan(0);
    expect(t.state.get('pages_sharing')).to.equal(PAGES);
    t.scan(1);
    expect(t.state.get('pages_sharing')).to.equal(PAGES - swapped);
    a!.space.read(a!.addr, PAGE_SIZE);
    b!.space.read(b!.addr, PAGE_SIZE);
    t.scan(3);
    expect(pteFrame(t.pte(a!))).to.equal(pteFrame(t.pte(b!)));
    expect(isKsm(t.pte(a!))).to.equal(true);
    expect(t.audit()).to.deep.equal([]);
  });

  it('leaves zero pages and MAP_SHARED memory in place', () => {
    const t = pressured();
    const [a] = t.guests;
    const sh = a!.space.mmap(PAGE_SIZE, 3, 0x21);
    a!.space.memset(sh, 5, PAGE_SIZE);
    const z = a!.space.mmap(PAGE_SIZE);
    a!.space.read(z, 1);
    const before = [Atomics.load(a!.space.pt, sh / PAGE_SIZE), Atomics.load(a!.space.pt, z / PAGE_SIZE)];
    t.engine.reclaim();
    expect([Atomics.load(a!.space.pt, sh / PAGE_SIZE), Atomics.load(a!.space.pt, z / PAGE_SIZE)]).to.deep.equal(before);
  });

  it('never changes what the guests read, through swap-out, swap-in, copy-on-write and re-merge', () => {
    const t = pressured();
    const [a, b] = t.guests;
    t.engine.reclaim();
    b!.space.memset(b!.addr + PAGE_SIZE, 0x55, 1);
    t.scan(2);
    t.engine.reclaim();
    for (let p = 0; p < PAGES; p++) {
      expect(bytesOf(a!, p), `a page ${p}`).to.deep.equal([p + 1]);
      const want = p === 1 ? [0x55, 2] : [p + 1];
      expect(bytesOf(b!, p).sort(), `b page ${p}`).to.deep.equal(want.sort());
    }
    expect(t.audit()).to.deep.equal([]);
  });

  it('takes other guests\' private pages too, by write-protect, copy and exchange: they read back intact', () => {
    const t = pressured();
    const [, b] = t.guests;
    const priv = b!.space.mmap(4 * PAGE_SIZE);
    for (let p = 0; p < 4; p++) b!.space.memset(priv + p * PAGE_SIZE, 0x40 + p, PAGE_SIZE);
    t.engine.reclaim();
    expect(t.engine.events.privateSwapOuts).to.be.greaterThan(0);
    expect(t.audit()).to.deep.equal([]);
    for (let p = 0; p < 4; p++) expect([...new Set(b!.space.read(priv + p * PAGE_SIZE, PAGE_SIZE))], `page ${p}`).to.deep.equal([0x40 + p]);
    const [a] = t.guests;
    const hog = a!.addr + PAGES * PAGE_SIZE; // the hog area follows a's first area
    expect(Atomics.load(a!.space.pt, hog / PAGE_SIZE)).to.satisfy(isSwapped);
    expect([...new Set(a!.space.read(hog, PAGE_SIZE))]).to.deep.equal([0xee]);
  });

  it('leaves a private page alone while its guest is inside a write to it (the write-protect waits, then gives up)', () => {
    const t = pressured();
    const [a] = t.guests;
    const hogPage = (a!.addr + PAGES * PAGE_SIZE) / PAGE_SIZE; // the first page of the hog area, the clock's first private page
    Atomics.store(a!.space.ctl, CTL_HAZARD, hazardWrite(hogPage)); // guest a is inside a write to that page
    const before = Atomics.load(a!.space.pt, hogPage);
    t.engine.reclaim();
    Atomics.store(a!.space.ctl, CTL_HAZARD, HAZARD_NONE);
    expect(t.engine.events.privateSwapOuts).to.be.greaterThan(0);
    expect(isSwapped(Atomics.load(a!.space.pt, hogPage))).to.equal(false);
    expect(pteFrame(Atomics.load(a!.space.pt, hogPage))).to.equal(pteFrame(before));
  });

  it('swap slots and frames all come back when the guests unmap everything', () => {
    const t = pressured();
    t.engine.reclaim();
    t.guests[1]!.space.read(t.guests[1]!.addr, PAGE_SIZE);
    for (const g of t.guests) g.space.teardown();
    t.engine.processDeferred();
    expect(t.mem.swap!.freeSlots()).to.equal(t.mem.swap!.slots);
  });
});

describe('the repair after a killed ksmd, with swap', () => {
  it('frees a slot ksmd held with no PTE naming it, and gives the swap cache its reference back', () => {
    const t = onceMapped(); // a's first KSM page is in the swap cache of a slot its PTE names
    const slot = t.mem.swap!.alloc(); // a slot a dead ksmd allocated and never put in a PTE
    const state = t.state;
    const k = t.k;
    t.mem.addMapcount(k, 5); // references a dead ksmd held on the cached frame
    const r = repairAfterKsmdDeath(t.mem, state, t.guests.map((g) => g.handles));
    expect(r.swapSlotsFixed).to.equal(1);
    expect(t.mem.swap!.isFree(slot)).to.equal(true);
    expect(t.mem.mapcount(k)).to.equal(1); // the swap cache's own reference, nothing else
    expect(t.audit()).to.deep.equal([]);
  });
});

describe('vmstat and smaps_rollup around KSM pages', () => {
  it('counts a write to a KSM page as cow_ksm', () => {
    const t = setup();
    fill(t.guests, () => 3);
    t.scan();
    t.guests[0]!.space.memset(t.guests[0]!.addr, 4, 1);
    expect(t.mem.vmstat.get('cow_ksm')).to.equal(1);
  });

  it('shows KSM pages in smaps_rollup\'s KSM field, their Pss divided among the mappers', () => {
    const t = setup();
    fill(t.guests, () => 3);
    t.scan();
    const r = smapsRollup(t.guests[0]!.handles, t.mem);
    expect(r.KSM).to.equal(PAGES * PAGE_SIZE);
    expect(r.Rss).to.equal(PAGES * PAGE_SIZE);
    expect(r.Pss).to.equal((PAGES * PAGE_SIZE) / (2 * PAGES));
  });
});
