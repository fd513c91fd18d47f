// engines-policy.test.ts — the same mitigations in the other merge engines (DKSM, UKSM), through the
// one merge-policy module: merge domains keep guests of different domains apart, zero-only merges
// only pages of one repeated 0x00 or 0xff byte, and vusion write-protects what stays unmerged.
// In-process guests over one PhysicalMemory (no workers).
import { expect } from 'chai';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { CTL_KSM_DOMAIN, createGuestSpaceHandles, type GuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_KSM, PTE_KSM_ZERO, PTE_WRITABLE, pteFrame } from '../../src/mem/pte.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { MergePolicy, mitigationSlot, type Mitigation } from '../../src/ksm/merge-policy.ts';
import { DksmState } from '../../src/engines/dksm/dksm-state.ts';
import { DksmMerger } from '../../src/engines/dksm/dksm-merge.ts';
import { DKSM_DIR, DksmFiles } from '../../src/engines/dksm/dksm-files.ts';
import { UksmState } from '../../src/engines/uksm/uksm-state.ts';
import { UksmScanner } from '../../src/engines/uksm/uksm-scanner.ts';

const PAGES = 8;
const RW = PROT_READ | PROT_WRITE;

interface Rig {
  guest(domain: number): AddressSpace;
  /** Make the engine look at everything (DKSM: the advice itself; UKSM: two full rounds). */
  settle(): void;
  /** Pages now sharing a frame (or merged into the zero page), over every guest. */
  shared(): number;
}

function handlesWithDomain(pid: number, domain: number): GuestSpaceHandles {
  const h = createGuestSpaceHandles(pid, 0, 2048);
  Atomics.store(new Int32Array(h.control), CTL_KSM_DOMAIN, domain);
  return h;
}

/** Pages that share a frame with another page, or were merged into the zero page (UKSM). */
function sharedPages(spaces: readonly AddressSpace[]): number {
  const mappers = new Map<number, number>();
  let zero = 0;
  for (const s of spaces) {
    for (let p = 0; p < s.vaPages; p++) {
      const pte = Atomics.load(s.pt, p);
      if (pte & PTE_KSM_ZERO) zero++;
      else if (pte & PTE_KSM) mappers.set(pteFrame(pte), (mappers.get(pteFrame(pte)) ?? 0) + 1);
    }
  }
  return zero + [...mappers.values()].filter((n) => n > 1).reduce((a, n) => a + n, 0);
}

function dksmRig(mitigation: Mitigation, domains: boolean): Rig {
  const mem = PhysicalMemory.create({ bytes: 8 * 2 ** 20, numaNodes: 1 });
  const ksm = KsmState.create();
  ksm.set('mitigation', mitigationSlot(mitigation, domains));
  const dksm = DksmState.create(mem.totalFrames);
  new DksmFiles(dksm).write(DKSM_DIR + 'run', '1', { root: true });
  const policy = new MergePolicy(mem);
  policy.load(ksm);
  const merger = new DksmMerger(dksm, mem, policy);
  const spaces: AddressSpace[] = [];
  return {
    guest: (domain) => {
      const s = new AddressSpace(handlesWithDomain(spaces.length + 1, domain), mem, { addKsmZeroPages: () => {}, engineAdvice: (sp, a, adv) => merger.advise(sp, a, adv) });
      spaces.push(s);
      return s;
    },
    settle: () => {},
    shared: () => sharedPages(spaces),
  };
}

function uksmRig(mitigation: Mitigation, domains: boolean): Rig {
  const mem = PhysicalMemory.create({ bytes: 8 * 2 ** 20, numaNodes: 1 });
  const ksm = KsmState.create();
  ksm.set('mitigation', mitigationSlot(mitigation, domains));
  const handles: GuestSpaceHandles[] = [];
  const scanner = new UksmScanner(UksmState.create(), mem, ksm, () => handles);
  const spaces: AddressSpace[] = [];
  return {
    guest: (domain) => {
      const h = handlesWithDomain(100 + handles.length, domain);
      handles.push(h);
      const s = new AddressSpace(h, mem, { addKsmZeroPages: (d) => ksm.add('ksm_zero_pages', d), engineAdvice: (_s, _a, adv) => adv === MADV_MERGEABLE, mergeableAtMmap: true });
      spaces.push(s);
      return s;
    },
    settle: () => {
      scanner.slice();
      scanner.slice();
    },
    shared: () => sharedPages(spaces),
  };
}

/** PAGES pages, page i of byte (first + i), advised mergeable; returns the address. */
function image(g: AddressSpace, first: number): number {
  const a = g.mmap(PAGES * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < PAGES; i++) g.memset(a + i * PAGE_SIZE, (first + i) & 0xff, PAGE_SIZE);
  g.madvise(a, PAGES * PAGE_SIZE, MADV_MERGEABLE);
  return a;
}

for (const [engine, rig] of [['dksm', dksmRig], ['uksm', uksmRig]] as const) {
  describe(`side-channel mitigations under --engine ${engine}`, () => {
    it('equal pages of guests in one domain merge', () => {
      const r = rig('none', true);
      image(r.guest(1), 1);
      image(r.guest(1), 1);
      r.settle();
      expect(r.shared()).to.equal(2 * PAGES);
    });

    it('equal pages of guests in different domains never merge', () => {
      const r = rig('none', true);
      image(r.guest(1), 1);
      image(r.guest(2), 1);
      r.settle();
      expect(r.shared()).to.equal(0);
    });

    it('zero-only: of eight pages (0xfc … 0x03), only the 0xff and the 0x00 page merge', () => {
      const r = rig('zero-only', false);
      image(r.guest(0), 0xfc);
      image(r.guest(0), 0xfc);
      r.settle();
      expect(r.shared()).to.equal(4);
    });

    it('zero-only: a page it may not merge keeps its write permission, however many equal pages there are (no fault to time)', () => {
      const r = rig('zero-only', false);
      const g = r.guest(0);
      const h = r.guest(0);
      const a = image(g, 1); // 0x01 … 0x08: equal in both guests, none of them 0x00 or 0xff
      const b = image(h, 1);
      r.settle();
      expect(r.shared()).to.equal(0);
      for (const [s, x] of [[g, a], [h, b]] as const) {
        for (let i = 0; i < PAGES; i++) expect(Atomics.load(s.pt, x / PAGE_SIZE + i) & PTE_WRITABLE, `page ${i}`).to.not.equal(0);
      }
    });

        it('vusion: a page left unmerged is no longer writable in place', () => {
      const r = rig('vusion', false);
      const g = r.guest(0);
      const a = image(g, 1);
      r.settle();
      expect(r.shared()).to.equal(0);
      expect(Atomics.load(g.pt, a / PAGE_SIZE) & PTE_WRITABLE).to.equal(0);
      g.memset(a, 9, 1);
      expect([...g.read(a, 2)]).to.deep.equal([9, 1]);
    });
  });
}
