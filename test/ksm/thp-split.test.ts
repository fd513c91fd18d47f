// thp-split.test.ts — ksmd and transparent huge pages, in one thread (the engine driven scan by scan):
// the facts measured on Linux 6.18 (notes "THP and KSM"): ksmd splits a huge page before merging any
// subpage, all-zero subpages go to the zero page with no KSM counter, merged ranges stay split, and
// MADV_COLLAPSE works until ksmd splits again; and the simple khugepaged that refuses merged ranges.
import { expect } from 'chai';
import { MADV_COLLAPSE, MADV_DONTNEED, MADV_MERGEABLE, PAGE_SIZE } from '../../src/mem/constants.ts';
import { CTL_HAZARD, CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, HAZARD_NONE, hazardWrite } from '../../src/mem/guest-control.ts';
import { PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_PRESENT, PTE_ZERO, pteFrame } from '../../src/mem/pte.ts';
import { summarizeSpace } from '../../src/mem/space-summary.ts';
import { HPAGE_PAGES, THP_ALWAYS, THP_MADVISE, THP_NEVER } from '../../src/mem/thp.ts';
import { Khugepaged } from '../../src/ksm/khugepaged.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KsmState, memoryHooks } from '../../src/ksm/ksm-state.ts';
import { recountSpaces } from '../../src/stress/recount.ts';
import { bareSpace, errnoOf } from '../helpers/bare-space.ts';

const HPAGE = HPAGE_PAGES * PAGE_SIZE;

function setup() {
  const state = KsmState.create();
  state.set('thp_enabled', THP_ALWAYS);
  state.set('pages_to_scan', 100_000);
  state.set('smart_scan', 0);
  state.set('run', 1);
  const b = bareSpace({ bytes: 32 * 2 ** 20, vaPages: 8192, hooks: memoryHooks(state) });
  const engine = new KsmEngine(b.mem, state);
  engine.addGuest(b.handles);
  const pass = (n = 1): void => {
    for (let i = 0; i < n; i++) engine.scanBatch(1_000_000);
  };
  /** A mergeable area of `blocks` 2 MiB blocks, 2 MiB-aligned; the pages fault in as huge pages. */
  const area = (blocks: number): number => {
    const a = Math.ceil(b.space.mmap((blocks + 1) * HPAGE) / HPAGE) * HPAGE;
    b.space.madvise(a, blocks * HPAGE, MADV_MERGEABLE);
    return a;
  };
  const pte = (addr: number): number => Atomics.load(b.space.pt, addr / PAGE_SIZE);
  const audit = (): readonly string[] => recountSpaces(b.mem, true, 256, [b.handles]).problems;
  return { ...b, state, engine, pass, area, pte, audit };
}

/** Fill every page of [a, a + len) with `fill(i)` as its first byte (0 leaves the page all zero). */
function fillPages(t: ReturnType<typeof setup>, a: number, len: number, fill: (i: number) => number): void {
  for (let i = 0; i < len / PAGE_SIZE; i++) {
    t.space.write(a + i * PAGE_SIZE, Uint8Array.of(fill(i)));
  }
}

describe('ksmd and transparent huge pages', () => {
  it('splits a huge page before merging any of its subpages (thp_split_page +1 per huge page), and AnonHugePages is 0 after', () => {
    const t = setup();
    const a = t.area(2);
    fillPages(t, a, 2 * HPAGE, (i) => 1 + (i % HPAGE_PAGES) % 200); // block 2 repeats block 1
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(2 * HPAGE_PAGES);
    t.pass(4);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(2);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(0);
    expect(t.state.get('pages_shared')).to.equal(200);
    expect(t.state.get('pages_sharing')).to.equal(2 * HPAGE_PAGES - 200);
    expect(t.audit()).to.deep.equal([]);
  });

  it('never write-protects or merges a subpage of a huge page: a huge page of unique pages stays huge', () => {
    const t = setup();
    const a = t.area(1);
    fillPages(t, a, HPAGE, (i) => 1 + (i % 255));
    for (let i = 0; i < HPAGE_PAGES; i++) t.space.write(a + i * PAGE_SIZE + 1, Uint8Array.of(i >> 8, i & 0xff));
    t.pass(4);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(0);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(HPAGE_PAGES);
    expect(t.state.get('pages_sharing')).to.equal(0);
  });

  it('maps the all-zero subpages of the huge page it splits to the zero page, with no KSM counter and no rmap item', () => {
    const t = setup();
    const a = t.area(1);
    // The first 64 pages hold 8 contents, 8 times each; the other 448 stay all zero.
    fillPages(t, a, 64 * PAGE_SIZE, (i) => 1 + (i % 8));
    const free = t.mem.freeFrames();
    t.pass(4);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(1);
    for (let i = 64; i < HPAGE_PAGES; i++) {
      const pte = t.pte(a + i * PAGE_SIZE);
      expect(pte & (PTE_PRESENT | PTE_ZERO | PTE_KSM_ZERO | PTE_HUGE)).to.equal(PTE_PRESENT | PTE_ZERO);
    }
    expect(t.state.get('ksm_zero_pages')).to.equal(0);
    expect(t.state.get('pages_shared')).to.equal(8);
    expect(t.state.get('pages_sharing')).to.equal(56);
    expect(t.state.get('rmap_items')).to.equal(64);
    // 448 zero frames and 56 merged frames went back: Rss is now the 8 KSM pages.
    expect(t.mem.freeFrames()).to.equal(free + 448 + 56);
    expect(t.audit()).to.deep.equal([]);
  });

  it('a write to a merged page after the split copies it (COW): the writer sees its byte, the others keep theirs', () => {
    const t = setup();
    const a = t.area(1);
    fillPages(t, a, HPAGE, () => 0x42);
    t.pass(4);
    expect(t.pte(a) & PTE_KSM).to.equal(PTE_KSM);
    const mapped = t.state.get('pages_shared') + t.state.get('pages_sharing');
    expect(mapped).to.equal(HPAGE_PAGES);
    t.space.write(a + 3 * PAGE_SIZE, Uint8Array.of(0x43));
    expect(t.space.read(a + 3 * PAGE_SIZE, 1)[0]).to.equal(0x43);
    expect(t.space.read(a + 4 * PAGE_SIZE, 1)[0]).to.equal(0x42);
    expect(t.pte(a + 3 * PAGE_SIZE) & (PTE_KSM | PTE_HUGE)).to.equal(0);
    t.pass(1);
    expect(t.state.get('pages_shared') + t.state.get('pages_sharing')).to.equal(HPAGE_PAGES - 1);
    expect(t.audit()).to.deep.equal([]);
  });

  it('MADV_COLLAPSE of a merged range returns 0 and collapses it; ksmd splits and merges it again within a few scans', () => {
    const t = setup();
    const a = t.area(2);
    // Both blocks hold the same 512 contents, each once: every KSM page is mapped once per block.
    fillPages(t, a, 2 * HPAGE, (i) => i & 0xff);
    for (let i = 0; i < 2 * HPAGE_PAGES; i++) t.space.write(a + i * PAGE_SIZE + 1, Uint8Array.of(1 + ((i % HPAGE_PAGES) >> 8)));
    t.pass(4);
    expect(t.state.get('pages_sharing')).to.equal(HPAGE_PAGES);
    t.space.madvise(a, HPAGE, MADV_COLLAPSE);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(HPAGE_PAGES);
    expect(t.space.read(a + 5 * PAGE_SIZE, 2)).to.deep.equal(Uint8Array.of(5, 1));
    t.pass(4);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(3);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(0);
    expect(t.state.get('pages_sharing')).to.equal(HPAGE_PAGES);
    expect(t.audit()).to.deep.equal([]);
  });

  it('MADV_COLLAPSE is EAGAIN on a block that maps one KSM page twice (the kernel isolates each folio once)', () => {
    const t = setup();
    const a = t.area(1);
    fillPages(t, a, HPAGE, (i) => 1 + (i % 4));
    t.pass(4);
    expect(errnoOf(() => t.space.madvise(a, HPAGE, MADV_COLLAPSE))).to.equal('EAGAIN');
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(0);
  });

  it('does not split a huge page whose install is not finished (its folio still recorded), and splits it once it is', () => {
    const t = setup();
    const a = t.area(1);
    fillPages(t, a, HPAGE, () => 7);
    // What a guest killed (or preempted) between setting the head and clearing its record leaves.
    Atomics.store(t.space.ctl, CTL_INFLIGHT_HUGE_HEAD, a / PAGE_SIZE);
    Atomics.store(t.space.ctl, CTL_INFLIGHT_HUGE, pteFrame(t.pte(a)));
    t.pass(4);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(0);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(HPAGE_PAGES);
    Atomics.store(t.space.ctl, CTL_INFLIGHT_HUGE, -1);
    t.pass(2);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(1);
    expect(t.state.get('pages_shared') + t.state.get('pages_sharing')).to.equal(HPAGE_PAGES);
  });

  it('splits a huge page the guest is reading and writing meanwhile (its accesses do not hold the split off)', () => {
    const t = setup();
    const a = t.area(1);
    fillPages(t, a, HPAGE, () => 7);
    Atomics.store(t.space.ctl, CTL_HAZARD, hazardWrite(a / PAGE_SIZE + 100));
    t.pass(4);
    Atomics.store(t.space.ctl, CTL_HAZARD, HAZARD_NONE);
    expect(t.mem.vmstat.get('thp_split_page')).to.equal(1);
    expect(t.audit()).to.deep.equal([]);
  });
});

describe('khugepaged', () => {
  function withKhugepaged() {
    const t = setup();
    const k = new Khugepaged(t.mem, () => t.state.get('thp_enabled'), (pid) => t.engine.replacePrimitives(pid));
    k.addGuest(t.handles);
    /** An area of 4 KiB pages: faulted in while THP is never. */
    const smallPages = (blocks: number, fill: (i: number) => number): number => {
      t.state.set('thp_enabled', THP_NEVER);
      const a = t.area(blocks);
      fillPages(t, a, blocks * HPAGE, fill);
      t.state.set('thp_enabled', THP_ALWAYS);
      return a;
    };
    return { ...t, k, smallPages };
  }

  it('collapses a block of present private pages into a huge page holding the same bytes (thp_collapse_alloc)', () => {
    const t = withKhugepaged();
    const a = t.smallPages(1, (i) => 1 + (i % 250));
    const before = t.space.read(a, HPAGE);
    expect(t.k.scan()).to.equal(1);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(HPAGE_PAGES);
    expect(t.mem.vmstat.get('thp_collapse_alloc')).to.equal(1);
    expect(Buffer.compare(Buffer.from(t.space.read(a, HPAGE)), Buffer.from(before))).to.equal(0);
    t.space.write(a + 9 * PAGE_SIZE, Uint8Array.of(0xee)); // read-only until the first write: the reuse fault
    expect(t.space.read(a + 9 * PAGE_SIZE, 1)[0]).to.equal(0xee);
    expect(t.audit()).to.deep.equal([]);
  });

  it('refuses a merged range (shared KSM pages): merged ranges stay split', () => {
    const t = withKhugepaged();
    t.smallPages(1, (i) => 1 + (i % 4));
    t.pass(4);
    expect(t.state.get('pages_sharing')).to.be.greaterThan(0);
    expect(t.k.scan()).to.equal(0);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(0);
  });

  it('refuses a block with an untouched page, and leaves a block of THP-ineligible areas alone', () => {
    const t = withKhugepaged();
    const a = t.smallPages(1, (i) => 1 + (i % 250));
    t.space.madvise(a + 7 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
    expect(t.k.scan()).to.equal(0);
    t.state.set('thp_enabled', THP_MADVISE); // the area has no MADV_HUGEPAGE
    const b = t.smallPages(1, (i) => 1 + (i % 250));
    t.state.set('thp_enabled', THP_MADVISE);
    expect(t.k.scan()).to.equal(0);
    expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(0);
    void b;
  });
});
