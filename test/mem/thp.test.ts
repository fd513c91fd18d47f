// thp.test.ts — transparent huge pages in one address space: which faults get a 2 MiB folio, the
// fallback to 4 KiB pages, the guest's own PMD splits, MADV_COLLAPSE, and a guest killed mid-install.
import { expect } from 'chai';
import {
  MADV_COLLAPSE, MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE, PAGE_SIZE, PROT_READ, PROT_WRITE,
} from '../../src/mem/constants.ts';
import { CTL_HAZARD, CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, CTL_THP_SLOT, hazardWrite } from '../../src/mem/guest-control.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { repairAfterKsmdDeath } from '../../src/stress/recount.ts';
import { PTE_HUGE, PTE_PRESENT, PTE_WRITABLE, makePte, pteFrame } from '../../src/mem/pte.ts';
import { SpaceInflight } from '../../src/mem/space-inflight.ts';
import { summarizeSpace } from '../../src/mem/space-summary.ts';
import { formatSmapsRollup, formatVmstat, meminfoValues, smapsRollup } from '../../src/mem/procfs.ts';
import { HPAGE_PAGES, THP_ALWAYS, THP_MADVISE, THP_NEVER, clearHugeBlock, countHuge } from '../../src/mem/thp.ts';
import { bareSpace, errnoOf } from '../helpers/bare-space.ts';

const HPAGE = HPAGE_PAGES * PAGE_SIZE;

/** A 16 MiB host and one guest whose THP setting is `mode`; `events()` are the THP lines of /proc/vmstat that moved. */
function thpSpace(mode: number, bytes = 16 * 2 ** 20) {
  const b = bareSpace({ bytes, vaPages: 8192, hooks: { addKsmZeroPages: () => {}, thpMode: () => mode } });
  const events = (): Record<string, number> => Object.fromEntries(Object.entries(b.mem.vmstat.snapshot()).filter(([k, v]) => k.startsWith('thp_') && v !== 0));
  /** An area of `bytes` holding whole 2 MiB blocks: returns its first 2 MiB-aligned address. */
  const area = (len = 2 * HPAGE): number => {
    const a = b.space.mmap(len + HPAGE);
    return Math.ceil(a / HPAGE) * HPAGE;
  };
  const hugePtes = (addr: number, len = HPAGE): number => {
    let n = 0;
    for (let p = addr / PAGE_SIZE; p < (addr + len) / PAGE_SIZE; p++) if (Atomics.load(b.space.pt, p) & PTE_HUGE) n++;
    return n;
  };
  return { ...b, events, area, hugePtes };
}

describe('transparent huge pages (one address space)', () => {
  describe('faults', () => {
    it('with enabled=always, a write fault in an aligned 2 MiB block maps one folio: 512 contiguous frames of one node', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      const free = t.mem.freeFrames();
      t.space.write(a + 5 * PAGE_SIZE, Uint8Array.of(1));
      const head = a / PAGE_SIZE;
      const base = pteFrame(Atomics.load(t.space.pt, head));
      expect(base % HPAGE_PAGES).to.equal(0);
      for (let i = 0; i < HPAGE_PAGES; i++) {
        const pte = Atomics.load(t.space.pt, head + i);
        expect(pte & (PTE_PRESENT | PTE_WRITABLE | PTE_HUGE)).to.equal(PTE_PRESENT | PTE_WRITABLE | PTE_HUGE);
        expect(pteFrame(pte)).to.equal(base + i);
      }
      expect(t.mem.freeFrames()).to.equal(free - HPAGE_PAGES); // counted as 512 frames from fault time
      expect(t.events()).to.deep.equal({ thp_fault_alloc: 1 });
      expect(summarizeSpace(t.handles, t.mem).anonHugePages).to.equal(HPAGE_PAGES);
    });

    it('the huge page reads back what was written and zeros elsewhere', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.memset(a + 7, 0xab, 3 * PAGE_SIZE);
      const all = t.space.read(a, HPAGE);
      expect(all[6]).to.equal(0);
      expect(all[7]).to.equal(0xab);
      expect(all[7 + 3 * PAGE_SIZE - 1]).to.equal(0xab);
      expect(all[7 + 3 * PAGE_SIZE]).to.equal(0);
    });

    it('with enabled=madvise, only an area with MADV_HUGEPAGE gets huge pages', () => {
      const t = thpSpace(THP_MADVISE);
      const plain = t.area();
      const advised = t.area();
      t.space.madvise(advised - HPAGE, 3 * HPAGE, MADV_HUGEPAGE);
      t.space.memset(plain, 1, HPAGE);
      t.space.memset(advised, 1, HPAGE);
      expect(t.hugePtes(plain)).to.equal(0);
      expect(t.hugePtes(advised)).to.equal(HPAGE_PAGES);
    });

    it('with enabled=never, MADV_HUGEPAGE still returns 0 but faults allocate no huge page', () => {
      const t = thpSpace(THP_NEVER);
      const a = t.area();
      t.space.madvise(a, HPAGE, MADV_HUGEPAGE);
      t.space.memset(a, 1, HPAGE);
      expect(t.hugePtes(a)).to.equal(0);
      expect(t.events()).to.deep.equal({});
    });

    it('MADV_NOHUGEPAGE keeps an area to 4 KiB pages even with enabled=always', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.madvise(a, HPAGE, MADV_NOHUGEPAGE);
      t.space.memset(a, 1, HPAGE);
      expect(t.hugePtes(a)).to.equal(0);
    });

    it('a block not wholly inside the area, or already partly touched, falls back to 4 KiB pages', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.munmap(a + HPAGE - PAGE_SIZE, PAGE_SIZE); // the first block now ends outside the area
      t.space.memset(a, 1, PAGE_SIZE);
      expect(t.hugePtes(a)).to.equal(0);
      const b = a + HPAGE;
      t.space.read(b + PAGE_SIZE, 1); // a read maps the 4 KiB zero page: the block is no longer untouched
      t.space.memset(b, 1, PAGE_SIZE);
      expect(t.hugePtes(b)).to.equal(0);
    });

    it('when no whole 2 MiB block is free, the fault falls back to a 4 KiB page and counts thp_fault_fallback', () => {
      const t = thpSpace(THP_ALWAYS, 4 * 2 ** 20);
      // Fragment memory: take every frame, then give back all but one frame of each 2 MiB block.
      const taken: number[] = [];
      for (let f = t.mem.allocUninitialized(0); f >= 0; f = t.mem.allocUninitialized(0)) taken.push(f);
      for (const f of taken) if (f % HPAGE_PAGES !== 1) t.mem.free(f);
      const a = t.area();
      t.space.write(a, Uint8Array.of(2));
      expect(Atomics.load(t.space.pt, a / PAGE_SIZE) & PTE_HUGE).to.equal(0);
      expect(t.space.read(a, 1)[0]).to.equal(2);
      expect(t.events()).to.deep.equal({ thp_fault_fallback: 1 });
    });
  });

  describe('AnonHugePages', () => {
    it('counts a mapped huge page in /proc/meminfo and smaps_rollup (2048 kB), and nothing once it is split or unmapped', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.memset(a, 1, 2 * HPAGE);
      expect(meminfoValues(t.mem).AnonHugePages).to.equal(4096);
      expect(smapsRollup(t.handles, t.mem).AnonHugePages).to.equal(2 * HPAGE);
      expect(formatSmapsRollup(smapsRollup(t.handles, t.mem))).to.match(/^AnonHugePages:\s+4096 kB$/m);
      t.space.munmap(a + PAGE_SIZE, PAGE_SIZE); // splits the first
      t.space.munmap(a + HPAGE, HPAGE); // unmaps the second
      expect(meminfoValues(t.mem).AnonHugePages).to.equal(0);
      expect(smapsRollup(t.handles, t.mem).AnonHugePages).to.equal(0);
      expect(t.events()).to.deep.equal({ thp_fault_alloc: 2, thp_split_pmd: 1 });
    });
  });

  describe('the guest splits a huge page it changes in part', () => {
    it('munmap of part of a huge page leaves the rest mapped as 4 KiB pages with its bytes, and frees the unmapped frames', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      for (let i = 0; i < HPAGE_PAGES; i++) t.space.write(a + i * PAGE_SIZE, Uint8Array.of(i & 0xff, 0x5a));
      const free = t.mem.freeFrames();
      t.space.munmap(a + 100 * PAGE_SIZE, 10 * PAGE_SIZE);
      expect(t.hugePtes(a)).to.equal(0);
      expect(t.mem.freeFrames()).to.equal(free + 10);
      expect([...t.space.read(a + 99 * PAGE_SIZE, 2)]).to.deep.equal([99, 0x5a]);
      expect([...t.space.read(a + 110 * PAGE_SIZE, 2)]).to.deep.equal([110, 0x5a]);
    });

    it('mprotect or MADV_DONTNEED of part of a huge page splits it; of the whole block, keeps it huge', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.memset(a, 1, 2 * HPAGE);
      t.space.mprotect(a, HPAGE, PROT_READ);
      expect(t.hugePtes(a)).to.equal(HPAGE_PAGES);
      t.space.mprotect(a, PAGE_SIZE, PROT_READ | PROT_WRITE);
      expect(t.hugePtes(a)).to.equal(0);
      t.space.madvise(a + HPAGE + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
      expect(t.hugePtes(a + HPAGE)).to.equal(0);
      expect(t.space.read(a + HPAGE, 2 * PAGE_SIZE).filter((x) => x === 1).length).to.equal(PAGE_SIZE);
    });
  });

  describe('clearHugeBlock (split_huge_pmd)', () => {
    it('once it saw the head with HUGE, it leaves a tail of another folio huge (a MADV_COLLAPSE taking the block over)', () => {
      const t = thpSpace(THP_ALWAYS);
      const pt = new Int32Array(HPAGE_PAGES);
      for (let i = 0; i < HPAGE_PAGES; i++) pt[i] = makePte(HPAGE_PAGES + i, PTE_PRESENT | PTE_HUGE);
      pt[3] = makePte(4 * HPAGE_PAGES + 3, PTE_PRESENT | PTE_WRITABLE | PTE_HUGE);
      expect(clearHugeBlock(pt, new Int32Array(t.handles.control), 0, t.mem)).to.equal(true);
      expect(pt.filter((pte) => (pte & PTE_HUGE) !== 0).length).to.equal(1);
      expect(pt[3]! & PTE_HUGE).to.equal(PTE_HUGE);
    });

    it('with no HUGE head, it clears every HUGE tail and splits nothing (a block in transition)', () => {
      const t = thpSpace(THP_ALWAYS);
      const pt = new Int32Array(HPAGE_PAGES);
      for (let i = 1; i < HPAGE_PAGES; i++) pt[i] = makePte(HPAGE_PAGES + i, PTE_PRESENT | PTE_HUGE);
      expect(clearHugeBlock(pt, new Int32Array(t.handles.control), 0, t.mem)).to.equal(false);
      expect(pt.some((pte) => (pte & PTE_HUGE) !== 0)).to.equal(false);
    });
  });

  describe('MADV_COLLAPSE', () => {
    it('collapses a block of 4 KiB pages into one huge page holding the same bytes, whatever enabled says', () => {
      const t = thpSpace(THP_NEVER);
      const a = t.area();
      for (let i = 0; i < HPAGE_PAGES; i += 3) t.space.write(a + i * PAGE_SIZE + 9, Uint8Array.of(i & 0xff, 7));
      const before = t.space.read(a, HPAGE);
      const free = t.mem.freeFrames();
      t.space.madvise(a, HPAGE, MADV_COLLAPSE);
      expect(t.hugePtes(a)).to.equal(HPAGE_PAGES);
      expect(Buffer.compare(Buffer.from(t.space.read(a, HPAGE)), Buffer.from(before))).to.equal(0);
      // 171 pages were private: the folio's 512 frames replace them.
      expect(t.mem.freeFrames()).to.equal(free - HPAGE_PAGES + Math.ceil(HPAGE_PAGES / 3));
      expect(t.events()).to.deep.equal({ thp_collapse_alloc: 1 });
    });

    it('is EINVAL on an area with MADV_NOHUGEPAGE', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.madvise(a, HPAGE, MADV_NOHUGEPAGE);
      t.space.memset(a, 1, PAGE_SIZE);
      expect(errnoOf(() => t.space.madvise(a, HPAGE, MADV_COLLAPSE))).to.equal('EINVAL');
    });

    it('leaves a huge page as it is, and collapses only whole blocks inside the range', () => {
      const t = thpSpace(THP_ALWAYS);
      const a = t.area();
      t.space.memset(a, 1, HPAGE);
      t.space.madvise(a, HPAGE, MADV_COLLAPSE);
      expect(t.events()).to.deep.equal({ thp_fault_alloc: 1 });
      t.space.madvise(a + HPAGE, HPAGE - PAGE_SIZE, MADV_COLLAPSE);
      expect(t.hugePtes(a + HPAGE)).to.equal(0);
    });
  });

  it('a guest killed while installing a huge page has the folio\'s unmapped frames freed by the host', () => {
    const t = thpSpace(THP_ALWAYS);
    const a = t.area();
    const head = a / PAGE_SIZE;
    const free = t.mem.freeFrames();
    // What hugeFault leaves when killed after installing half the tails: the folio recorded, the
    // hazard on the faulting page, tails 256..511 mapped.
    const base = t.mem.allocHugeUninitialized(0);
    Atomics.store(t.space.ctl, CTL_HAZARD, hazardWrite(head + 3));
    Atomics.store(t.space.ctl, CTL_INFLIGHT_HUGE_HEAD, head);
    Atomics.store(t.space.ctl, CTL_INFLIGHT_HUGE, base);
    for (let i = 256; i < HPAGE_PAGES; i++) Atomics.store(t.space.pt, head + i, makePte(base + i, PTE_PRESENT | PTE_WRITABLE | PTE_HUGE));
    SpaceInflight.reclaim(t.handles, t.mem);
    expect(t.mem.freeFrames()).to.equal(free);
  });

  describe('nr_anon_transparent_hugepages after a kill (each guest counts its own: vmstat.ts)', () => {
    /** Guest 1 with two huge pages and guest 2 with one, on one host; `vmstat()` is nr_anon_transparent_hugepages as /proc/vmstat prints it. */
    function twoGuests() {
      const a = thpSpace(THP_ALWAYS);
      const b = bareSpace({ vaPages: 8192, pid: 2, hooks: { addKsmZeroPages: () => {}, thpMode: () => THP_ALWAYS } }, a.mem);
      const at = a.area(3 * HPAGE);
      a.space.write(at, Uint8Array.of(1));
      a.space.write(at + HPAGE, Uint8Array.of(2));
      const bAddr = Math.ceil(b.space.mmap(2 * HPAGE) / HPAGE) * HPAGE;
      b.space.write(bAddr, Uint8Array.of(3));
      const vmstat = (): number => Number(/^nr_anon_transparent_hugepages (-?\d+)$/m.exec(formatVmstat(a.mem))![1]);
      const heads = (pt: Int32Array): number => {
        let n = 0;
        for (let p = 0; p < pt.length; p += HPAGE_PAGES) if (Atomics.load(pt, p) & PTE_HUGE) n++;
        return n;
      };
      const held = (): number => heads(a.space.pt) + heads(b.space.pt);
      return { a, b, at, vmstat, held };
    }

    it('counts each huge page mapped, host-wide, in /proc/vmstat and AnonHugePages', () => {
      const t = twoGuests();
      expect(t.vmstat()).to.equal(3);
      expect(t.held()).to.equal(3);
      expect(meminfoValues(t.a.mem).AnonHugePages).to.equal(3 * 2048);
    });

    it('a guest killed between clearing a huge page\'s head and counting it: after the host\'s repair the count equals the huge pages the page tables hold', () => {
      const t = twoGuests();
      // What clearHugeBlock leaves when killed before its count: the block's HUGE bits cleared, the count not.
      const head = t.at / PAGE_SIZE;
      for (let p = head; p < head + HPAGE_PAGES; p++) Atomics.and(t.a.space.pt, p, ~PTE_HUGE);
      expect(t.vmstat()).to.equal(3); // one more than the page tables hold
      SpaceInflight.reclaim(t.a.handles, t.a.mem);
      expect(t.vmstat()).to.equal(t.held());
      expect(t.vmstat()).to.equal(1);
      expect(meminfoValues(t.a.mem).AnonHugePages).to.equal(2048);
    });

    it('a guest killed between installing a huge page\'s head and counting it: after the host\'s repair the count equals the huge pages the page tables hold', () => {
      const t = twoGuests();
      const free = t.a.mem.freeFrames();
      // What hugeFault leaves when killed after its head's install, before INFLIGHT_HUGE = −1 and the count.
      const head = (t.at + 2 * HPAGE) / PAGE_SIZE;
      const base = t.a.mem.allocHugeUninitialized(0);
      Atomics.store(t.a.space.ctl, CTL_INFLIGHT_HUGE_HEAD, head);
      Atomics.store(t.a.space.ctl, CTL_INFLIGHT_HUGE, base);
      for (let i = HPAGE_PAGES - 1; i >= 0; i--) Atomics.store(t.a.space.pt, head + i, makePte(base + i, PTE_PRESENT | PTE_WRITABLE | PTE_HUGE));
      expect(t.vmstat()).to.equal(t.held() - 1); // one fewer than the page tables hold
      SpaceInflight.reclaim(t.a.handles, t.a.mem);
      expect(t.vmstat()).to.equal(t.held());
      expect(t.vmstat()).to.equal(1);
      expect(t.a.mem.freeFrames()).to.equal(free + 2 * HPAGE_PAGES);
    });

    it('a split ksmd finishes after the host retired the dead guest\'s count changes the host\'s count no more', () => {
      const t = twoGuests();
      const head = t.at / PAGE_SIZE;
      Atomics.and(t.a.space.pt, head, ~PTE_HUGE); // ksmd cleared the head; its count is still to come
      SpaceInflight.reclaim(t.a.handles, t.a.mem);
      expect(t.vmstat()).to.equal(1);
      countHuge(t.a.space.ctl, t.a.mem, -1); // ksmd's late count lands on the retired slot
      expect(t.vmstat()).to.equal(1);
      expect(t.vmstat()).to.equal(t.held());
    });

    it('a guest that exits retires its count: 0 left, whatever ksmd still counts for it', () => {
      const t = twoGuests();
      t.b.space.teardown();
      expect(t.vmstat()).to.equal(2);
      countHuge(t.b.space.ctl, t.b.mem, 1);
      expect(t.vmstat()).to.equal(2);
    });

    it('ksmd killed between a split\'s head and its count: the repair after its death recounts each guest\'s huge pages from its page table', () => {
      const t = twoGuests();
      const head = t.at / PAGE_SIZE;
      for (let p = head; p < head + HPAGE_PAGES; p++) Atomics.and(t.a.space.pt, p, ~PTE_HUGE);
      expect(t.vmstat()).to.equal(3);
      const r = repairAfterKsmdDeath(t.a.mem, KsmState.create(), [t.a.handles, t.b.handles]);
      expect(r.hugeCountsFixed).to.equal(1);
      expect(t.vmstat()).to.equal(t.held());
      expect(t.vmstat()).to.equal(2);
    });

    it('refuses a huge-page slot that is not claimed, and nr_anon_transparent_hugepages as an ordinary counter', () => {
      const t = twoGuests();
      expect(Atomics.load(t.a.space.ctl, CTL_THP_SLOT)).to.equal(0);
      expect(() => t.a.mem.vmstat.addHuge(7, 1)).to.throw(RangeError, /huge-page slot 7 \(generation 0\) is not claimed/);
      expect(() => t.a.mem.vmstat.add('nr_anon_transparent_hugepages')).to.throw(/counted per guest/);
    });
  });
});
