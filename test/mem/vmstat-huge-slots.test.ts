// vmstat-huge-slots.test.ts — the per-guest huge-page slots behind nr_anon_transparent_hugepages:
// claimed at a guest's first count, retired (new generation) at its teardown, reused by later guests.
import { expect } from 'chai';
import { PAGE_SIZE } from '../../src/mem/constants.ts';
import { CTL_THP_SLOT, CTL_WORDS, THP_SLOT_NONE, THP_SLOT_RETIRED } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_HUGE } from '../../src/mem/pte.ts';
import { SpaceInflight } from '../../src/mem/space-inflight.ts';
import { HPAGE_PAGES, THP_ALWAYS, countHuge, publishHugeSlot, retireHugeCount } from '../../src/mem/thp.ts';
import { HUGE_SLOTS, Vmstat, hugeGenOf, hugeSlotOf } from '../../src/mem/vmstat.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { repairAfterKsmdDeath } from '../../src/stress/recount.ts';
import { bareSpace, type BareSpace } from '../helpers/bare-space.ts';

const HPAGE = HPAGE_PAGES * PAGE_SIZE;

/** A guest's control words as far as the count goes: CTL_THP_SLOT unclaimed. */
function freshCtl(): Int32Array {
  const ctl = new Int32Array(CTL_WORDS);
  ctl[CTL_THP_SLOT] = THP_SLOT_NONE;
  return ctl;
}

/** A 16 MiB host whose guests (address spaces in this thread) fault huge pages with enabled=always. */
function thpHost() {
  const mem = PhysicalMemory.create({ bytes: 16 * 2 ** 20, numaNodes: 1 });
  const all: BareSpace[] = [];
  let pid = 1;
  /** Launch a guest that maps `huge` huge pages. */
  const launch = (huge = 1): BareSpace => {
    const g = bareSpace({ vaPages: 4096, pid: pid++, hooks: { addKsmZeroPages: () => {}, thpMode: () => THP_ALWAYS } }, mem);
    const at = Math.ceil(g.space.mmap((huge + 1) * HPAGE) / HPAGE) * HPAGE;
    for (let i = 0; i < huge; i++) g.space.write(at + i * HPAGE, Uint8Array.of(1));
    all.push(g);
    return g;
  };
  const heads = (pt: Int32Array): number => {
    let n = 0;
    for (let p = 0; p < pt.length; p += HPAGE_PAGES) if (Atomics.load(pt, p) & PTE_HUGE) n++;
    return n;
  };
  /** Huge pages the page tables of every guest launched hold (an ended guest's hold none). */
  const held = (): number => all.reduce((n, g) => n + heads(g.space.pt), 0);
  const slotOf = (g: BareSpace): number => Atomics.load(g.space.ctl, CTL_THP_SLOT);
  /** The first huge head of a guest. */
  const firstHead = (g: BareSpace): number => {
    for (let p = 0; p < g.space.pt.length; p += HPAGE_PAGES) if (Atomics.load(g.space.pt, p) & PTE_HUGE) return p;
    throw new Error('no huge page');
  };
  return { mem, launch, held, slotOf, firstHead };
}

describe('huge-page slots (nr_anon_transparent_hugepages per guest)', () => {
  it('a retired slot is claimed again: 3 × HUGE_SLOTS guests map huge pages over a host\'s lifetime', () => {
    const mem = PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 });
    for (let i = 0; i < 3 * HUGE_SLOTS + 1; i++) {
      const ctl = freshCtl();
      countHuge(ctl, mem, 1);
      countHuge(ctl, mem, 1);
      expect(mem.vmstat.hugePages()).to.equal(2);
      retireHugeCount(ctl, mem);
    }
    expect(mem.vmstat.hugePages()).to.equal(0);
    expect(mem.vmstat.hugeSlotsInUse()).to.equal(0);
  });

  it('guests launched and ended several times reuse their slots, each time at a new generation, and the count equals the page tables\' huge pages after each exit and kill', () => {
    const h = thpHost();
    const seen = new Map<number, Set<number>>(); // slot → generations it was claimed at
    for (let round = 0; round < 4; round++) {
      const a = h.launch(2);
      const b = h.launch(1);
      for (const g of [a, b]) {
        const s = h.slotOf(g);
        if (!seen.has(hugeSlotOf(s))) seen.set(hugeSlotOf(s), new Set());
        seen.get(hugeSlotOf(s))!.add(hugeGenOf(s));
      }
      expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(3);
      a.space.teardown(); // exit
      expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(h.held()).and.to.equal(1);
      SpaceInflight.reclaim(b.handles, h.mem); // killed
      expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(h.held()).and.to.equal(0);
      expect(h.mem.vmstat.hugeSlotsInUse()).to.equal(0);
    }
    expect([...seen.keys()].sort()).to.deep.equal([0, 1]);
    for (const gens of seen.values()) expect(gens.size).to.equal(4);
  });

  it('a late add of a retired generation is ignored after another guest reused the slot: the new guest\'s count is unchanged', () => {
    const h = thpHost();
    const a = h.launch(1);
    Atomics.and(a.space.pt, h.firstHead(a), ~PTE_HUGE); // ksmd cleared a's head; its count is still to come
    SpaceInflight.reclaim(a.handles, h.mem); // a killed; the release saw no huge head
    const b = h.launch(1);
    expect(hugeSlotOf(h.slotOf(b))).to.equal(hugeSlotOf(h.slotOf(a)));
    expect(hugeGenOf(h.slotOf(b))).to.equal(hugeGenOf(h.slotOf(a)) + 1);
    countHuge(a.space.ctl, h.mem, -1); // ksmd's late count for a
    expect(h.mem.vmstat.hugeOf(h.slotOf(b))).to.equal(1);
    expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(h.held()).and.to.equal(1);
  });

  it('retiring a generation twice (an exit, then the host\'s reclaim) leaves the slot\'s next guest alone', () => {
    const h = thpHost();
    const a = h.launch(1);
    a.space.teardown();
    const b = h.launch(1);
    retireHugeCount(a.space.ctl, h.mem);
    expect(h.mem.vmstat.hugeOf(h.slotOf(b))).to.equal(1);
    expect(h.mem.vmstat.hugeSlotsInUse()).to.equal(1);
  });

  it('two threads claiming a guest\'s first slot at once: the loser frees its slot and counts into the winner\'s, leaving no slot in use without an owner', () => {
    const mem = PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 });
    const ctl = freshCtl();
    const mine = mem.vmstat.claimHugeSlot(); // ksmd claimed, then the guest's whole count ran
    countHuge(ctl, mem, 1);
    const winner = Atomics.load(ctl, CTL_THP_SLOT);
    expect(publishHugeSlot(ctl, mem.vmstat, mine)).to.equal(winner);
    mem.vmstat.addHuge(winner, 1);
    expect(mem.vmstat.hugeSlotsInUse()).to.equal(1);
    expect(mem.vmstat.hugePages()).to.equal(2);
    retireHugeCount(ctl, mem);
    expect(mem.vmstat.hugeSlotsInUse()).to.equal(0);
  });

  it('a count racing the guest\'s teardown claims no slot for the guest that has gone', () => {
    const mem = PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 });
    const ctl = freshCtl();
    const mine = mem.vmstat.claimHugeSlot(); // ksmd's first count for the guest, claimed...
    retireHugeCount(ctl, mem); // ...as the host retires the guest, which never counted
    expect(Atomics.load(ctl, CTL_THP_SLOT)).to.equal(THP_SLOT_RETIRED);
    expect(publishHugeSlot(ctl, mem.vmstat, mine)).to.equal(THP_SLOT_RETIRED);
    countHuge(ctl, mem, -1); // a later count: dropped
    expect(mem.vmstat.hugeSlotsInUse()).to.equal(0);
    expect(mem.vmstat.hugePages()).to.equal(0);
  });

  it('HUGE_SLOTS guests map huge pages at once; one more gets a RangeError naming the limit, and gets a slot once a guest has gone', () => {
    const mem = PhysicalMemory.create({ bytes: 4 * 2 ** 20, numaNodes: 1 });
    const ctls = Array.from({ length: HUGE_SLOTS }, () => freshCtl());
    for (const ctl of ctls) countHuge(ctl, mem, 1);
    expect(mem.vmstat.hugePages()).to.equal(HUGE_SLOTS);
    const late = freshCtl();
    expect(() => countHuge(late, mem, 1)).to.throw(RangeError, new RegExp(`no huge-page slot left: ${HUGE_SLOTS} guests of this host map huge pages at once`));
    retireHugeCount(ctls[4321]!, mem);
    countHuge(late, mem, 1);
    expect(hugeSlotOf(Atomics.load(late, CTL_THP_SLOT))).to.equal(4321);
    expect(mem.vmstat.hugePages()).to.equal(HUGE_SLOTS);
  });

  it('ksmd killed mid-split in a guest that reuses a slot: the repair after its death sets the count from the page table', () => {
    const h = thpHost();
    h.launch(1).space.teardown();
    const b = h.launch(2);
    expect(hugeGenOf(h.slotOf(b))).to.equal(1);
    const head = h.firstHead(b);
    for (let p = head; p < head + HPAGE_PAGES; p++) Atomics.and(b.space.pt, p, ~PTE_HUGE);
    expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(2);
    const r = repairAfterKsmdDeath(h.mem, KsmState.create(), [b.handles]);
    expect(r.hugeCountsFixed).to.equal(1);
    expect(h.mem.vmstat.get('nr_anon_transparent_hugepages')).to.equal(h.held()).and.to.equal(1);
  });

  it('refuses a CTL_THP_SLOT value that names no slot and generation, a free slot, and a count beyond its 16 bits', () => {
    const v = Vmstat.create();
    expect(() => v.addHuge(-3, 1)).to.throw(RangeError, /-3 names no huge-page slot and generation/);
    expect(() => v.addHuge(1.5, 1)).to.throw(RangeError, /1.5 names no huge-page slot/);
    expect(() => v.addHuge(HUGE_SLOTS * 65536, 1)).to.throw(RangeError, /names no huge-page slot/);
    expect(() => v.addHuge(5, 1)).to.throw(RangeError, /huge-page slot 5 \(generation 0\) is not claimed/);
    const s = v.claimHugeSlot();
    expect(() => v.addHuge(s, 40000)).to.throw(RangeError, /a count of 40000 does not fit its 16 bits/);
    expect(v.hugeOf(s)).to.equal(0);
    v.releaseHugeSlot(s);
    expect(() => v.releaseHugeSlot(s)).to.throw(/freed twice/);
  });
});
