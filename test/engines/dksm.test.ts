// dksm.test.ts — DKSM as its source describes it: merging inside madvise(MADV_MERGEABLE) in the
// caller's thread, the 4096-bucket table, its counters and sysfs files, and its hazards. In-process
// guests over one PhysicalMemory (no workers), then one host run with real guest threads.
import { expect } from 'chai';
import { MADV_HUGEPAGE, MADV_MERGEABLE, MADV_UNMERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { createGuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_HUGE, PTE_KSM, PTE_WRITABLE, pteFrame } from '../../src/mem/pte.ts';
import { KsmState, THP_MODES, memoryHooks } from '../../src/ksm/ksm-state.ts';
import { DksmState, HOST_OWNER } from '../../src/engines/dksm/dksm-state.ts';
import { DksmMerger } from '../../src/engines/dksm/dksm-merge.ts';
import { DKSM_DIR, DksmFiles } from '../../src/engines/dksm/dksm-files.ts';
import { dksmHazards } from '../../src/engines/dksm/dksm-hazard.ts';
import { errnoOf } from '../helpers/bare-space.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const PAGES = 8;

interface Rig {
  mem: PhysicalMemory;
  ksm: KsmState;
  dksm: DksmState;
  files: DksmFiles;
  guest(pid: number): AddressSpace;
  counters(): Record<string, number>;
}

function rig(thp: (typeof THP_MODES)[number] = 'never'): Rig {
  const mem = PhysicalMemory.create({ bytes: 8 * 2 ** 20, numaNodes: 1 });
  const ksm = KsmState.create();
  ksm.set('thp_enabled', THP_MODES.indexOf(thp));
  const dksm = DksmState.create(mem.totalFrames);
  const files = new DksmFiles(dksm);
  files.write(DKSM_DIR + 'run', '1', { root: true });
  const merger = new DksmMerger(dksm, mem);
  return {
    mem, ksm, dksm, files,
    guest: (pid) => new AddressSpace(createGuestSpaceHandles(pid, 0, 4096), mem, { ...memoryHooks(ksm), engineAdvice: (s, a, adv) => merger.advise(s, a, adv) }),
    counters: () => Object.fromEntries(['pages_scanned', 'pages_merged', 'merging_failed', 'hashtable_entries'].map((n) => [n, Number(files.read(DKSM_DIR + n))])),
  };
}

/** A region of PAGES pages, page i filled with byte (seed + i), optionally made read-only. */
function image(g: AddressSpace, seed: number, readonly = true): number {
  const a = g.mmap(PAGES * PAGE_SIZE, RW, ANON);
  for (let i = 0; i < PAGES; i++) g.memset(a + i * PAGE_SIZE, (seed + i) & 0xff, PAGE_SIZE);
  if (readonly) g.mprotect(a, PAGES * PAGE_SIZE, PROT_READ);
  return a;
}

function frameAt(g: AddressSpace, addr: number): number {
  return pteFrame(Atomics.load(g.pt, addr / PAGE_SIZE));
}

/** Two guests with the same read-only image, both advised: the second merged into the first. */
function mergedTwins(): { r: Rig; a: AddressSpace; b: AddressSpace; ra: number; rb: number } {
  const r = rig();
  const a = r.guest(1);
  const b = r.guest(2);
  const ra = image(a, 1);
  const rb = image(b, 1);
  a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
  b.madvise(rb, PAGES * PAGE_SIZE, MADV_MERGEABLE);
  return { r, a, b, ra, rb };
}

describe('DKSM (daemonless KSM)', () => {
  describe('merging inside madvise', () => {
    it('files the first advised region in the table and merges nothing', () => {
      const r = rig();
      const a = r.guest(1);
      a.madvise(image(a, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters()).to.deep.equal({ pages_scanned: PAGES, pages_merged: 0, merging_failed: 0, hashtable_entries: PAGES });
    });

    it('merges a second identical region at once, in the caller, with no daemon', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      const ra = image(a, 1);
      const rb = image(b, 1);
      a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      const before = r.mem.freeFrames();
      b.madvise(rb, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters()).to.deep.equal({ pages_scanned: 2 * PAGES, pages_merged: PAGES, merging_failed: 0, hashtable_entries: PAGES });
      expect(r.mem.freeFrames() - before).to.equal(PAGES);
      for (let i = 0; i < PAGES; i++) {
        expect(frameAt(b, rb + i * PAGE_SIZE)).to.equal(frameAt(a, ra + i * PAGE_SIZE));
        expect(b.read(rb + i * PAGE_SIZE, 1)[0]).to.equal(1 + i);
      }
    });

    it('does not merge pages that differ', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      a.madvise(image(a, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.madvise(image(b, 101), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters().pages_merged).to.equal(0);
      expect(r.counters().hashtable_entries).to.equal(2 * PAGES);
    });

    it('gives a writer of a merged page its own copy (copy-on-write); the other mapping keeps the old bytes', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      const ra = image(a, 1);
      const rb = image(b, 1, false);
      a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.madvise(rb, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.memset(rb, 0xee, 16);
      expect(b.read(rb, 1)[0]).to.equal(0xee);
      expect(a.read(ra, 1)[0]).to.equal(1);
      expect(frameAt(b, rb)).to.not.equal(frameAt(a, ra));
    });

    it('frees a shared frame only with its last mapping', () => {
      const { r, a, b, ra, rb } = mergedTwins();
      const free = r.mem.freeFrames();
      a.munmap(ra, PAGES * PAGE_SIZE);
      expect(r.mem.freeFrames()).to.equal(free);
      expect(b.read(rb + PAGE_SIZE, 1)[0]).to.equal(2);
      b.munmap(rb, PAGES * PAGE_SIZE);
      expect(r.mem.freeFrames()).to.equal(free + PAGES);
    });

    it('drops a stale entry whose frame was freed, on lookup', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      const ra = image(a, 1);
      a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      a.munmap(ra, PAGES * PAGE_SIZE);
      b.madvise(image(b, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      // Every old entry was found dead and dropped; b's pages were filed instead.
      expect(r.counters()).to.include({ pages_merged: 0, hashtable_entries: PAGES });
    });

    it('drops an entry whose page changed since it was filed (re-hash), and merges nothing into it', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      const ra = image(a, 1, false);
      a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      a.memset(ra, 0x55, PAGE_SIZE); // writable first page: written in place
      const rb = image(b, 1);
      b.madvise(rb, PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters()).to.include({ pages_merged: 0, hashtable_entries: PAGES });
      expect(b.read(rb, 1)[0]).to.equal(1);
    });
  });

  describe('failures', () => {
    it('counts a page that is not present in merging_failed', () => {
      const r = rig();
      const a = r.guest(1);
      const addr = a.mmap(PAGES * PAGE_SIZE, RW, ANON);
      a.memset(addr, 7, PAGE_SIZE);
      a.madvise(addr, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters()).to.deep.equal({ pages_scanned: 1, pages_merged: 0, merging_failed: PAGES - 1, hashtable_entries: 1 });
    });

    it('counts a zero page (read but never written) in merging_failed', () => {
      const r = rig();
      const a = r.guest(1);
      const addr = a.mmap(PAGE_SIZE, RW, ANON);
      a.read(addr, 1);
      a.madvise(addr, PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters().merging_failed).to.equal(1);
    });

    it('counts a page of a shared (not anonymous-private) mapping in merging_failed', () => {
      const r = rig();
      const a = r.guest(1);
      const addr = a.mmap(PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS);
      a.memset(addr, 3, PAGE_SIZE);
      a.madvise(addr, PAGE_SIZE, MADV_MERGEABLE);
      expect(r.counters()).to.include({ merging_failed: 1, pages_scanned: 0 });
    });

    it('counts the subpages of a huge page in merging_failed when THP is not never', () => {
      const r = rig('madvise');
      const a = r.guest(1);
      const len = 4 * 2 ** 20; // holds at least one whole aligned 2 MiB extent
      const addr = a.mmap(len, RW, ANON);
      a.madvise(addr, len, MADV_HUGEPAGE);
      a.memset(addr, 9, len);
      const huge = a.pt.filter((pte) => (pte & PTE_HUGE) !== 0).length;
      expect(huge).to.be.at.least(512);
      a.madvise(addr, len, MADV_MERGEABLE);
      expect(r.counters().merging_failed).to.equal(huge);
    });

    it('merges the same pages when THP is never (no huge page was allocated)', () => {
      const r = rig('never');
      const a = r.guest(1);
      const len = 4 * 2 ** 20;
      const addr = a.mmap(len, RW, ANON);
      a.madvise(addr, len, MADV_HUGEPAGE);
      a.memset(addr, 9, len);
      a.madvise(addr, len, MADV_MERGEABLE);
      expect(r.counters()).to.include({ merging_failed: 0, pages_merged: len / PAGE_SIZE - 1 });
    });
  });

  describe('advice and run', () => {
    it('treats MADV_UNMERGEABLE as a no-op: merged pages stay merged', () => {
      const { r, a, b, ra, rb } = mergedTwins();
      b.madvise(rb, PAGES * PAGE_SIZE, MADV_UNMERGEABLE);
      expect(frameAt(b, rb)).to.equal(frameAt(a, ra));
      expect(r.counters().pages_merged).to.equal(PAGES);
    });

    it('forgets advice given while run is 0: turning run on later merges nothing', () => {
      const r = rig();
      r.files.write(DKSM_DIR + 'run', '0', { root: true });
      const a = r.guest(1);
      const b = r.guest(2);
      a.madvise(image(a, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.madvise(image(b, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      r.files.write(DKSM_DIR + 'run', '1', { root: true });
      expect(r.counters()).to.deep.equal({ pages_scanned: 0, pages_merged: 0, merging_failed: 0, hashtable_entries: 0 });
    });

    it('run 1→0 frees the table and zeroes the counters, and merged pages stay merged', () => {
      const { r, a, b, ra, rb } = mergedTwins();
      r.files.write(DKSM_DIR + 'run', '0', { root: true });
      expect(r.counters()).to.deep.equal({ pages_scanned: 0, pages_merged: 0, merging_failed: 0, hashtable_entries: 0 });
      expect(frameAt(b, rb)).to.equal(frameAt(a, ra));
      expect(b.read(rb, 1)[0]).to.equal(1);
    });
  });

  describe('sysfs files', () => {
    it('reads run 0 by default and every counter as "%lu\\n"', () => {
      const f = new DksmFiles(DksmState.create(64));
      expect(f.read(DKSM_DIR + 'run')).to.equal('0\n');
      for (const n of ['pages_scanned', 'pages_merged', 'merging_failed', 'hashtable_entries']) expect(f.read(DKSM_DIR + n)).to.equal('0\n');
    });

    it('reports hashtable_size 4096', () => {
      expect(new DksmFiles(DksmState.create(64)).read(DKSM_DIR + 'hashtable_size')).to.equal('4096\n');
    });

    it('accepts run values 0 and 1 (kstrtouint: "+1" and a trailing newline)', () => {
      const f = new DksmFiles(DksmState.create(64));
      f.write(DKSM_DIR + 'run', '+1\n', { root: true });
      expect(f.read(DKSM_DIR + 'run')).to.equal('1\n');
      f.write(DKSM_DIR + 'run', '0', { root: true });
      expect(f.read(DKSM_DIR + 'run')).to.equal('0\n');
    });

    it('rejects run 2, -1 and words with EINVAL, leaving run unchanged', () => {
      const f = new DksmFiles(DksmState.create(64));
      for (const v of ['2', '-1', 'yes', '', ' 1']) {
        if (v === '') continue; // a zero-length write stores nothing (checked below)
        expect(errnoOf(() => f.write(DKSM_DIR + 'run', v, { root: true }))).to.equal('EINVAL');
      }
      f.write(DKSM_DIR + 'run', '', { root: true });
      expect(f.read(DKSM_DIR + 'run')).to.equal('0\n');
    });

    it('refuses a write to a counter (0444) with EACCES, and a non-root write to run with EACCES', () => {
      const f = new DksmFiles(DksmState.create(64));
      expect(errnoOf(() => f.write(DKSM_DIR + 'pages_merged', '0', { root: true }))).to.equal('EACCES');
      expect(errnoOf(() => f.write(DKSM_DIR + 'run', '1', { root: false }))).to.equal('EACCES');
    });

    it('answers ENOENT for a file DKSM does not have', () => {
      const f = new DksmFiles(DksmState.create(64));
      expect(errnoOf(() => f.read(DKSM_DIR + 'pages_shared'))).to.equal('ENOENT');
      expect(errnoOf(() => f.write(DKSM_DIR + 'sleep_millisecs', '1', { root: true }))).to.equal('ENOENT');
    });
  });

  describe('the host-wide lock', () => {
    it('is released by the host when its owner died holding it', () => {
      const s = DksmState.create(64);
      s.lock(123);
      expect(s.releaseIfOwner(456)).to.equal(false);
      expect(s.releaseIfOwner(123)).to.equal(true);
      s.lock(HOST_OWNER);
      expect(s.lockOwner()).to.equal(HOST_OWNER);
      s.unlock(HOST_OWNER);
    });
  });

  describe('the writable-region hazard', () => {
    it('lets the owner of a writable first region change a frame another guest merged into, and names it', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      const ra = image(a, 1, false); // writable: the patch does not write-protect the first page
      const rb = image(b, 1);
      a.madvise(ra, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.madvise(rb, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(Atomics.load(a.pt, ra / PAGE_SIZE) & (PTE_KSM | PTE_WRITABLE)).to.equal(PTE_KSM | PTE_WRITABLE);
      a.memset(ra, 0x77, 1);
      expect(b.read(rb, 1)[0]).to.equal(0x77); // b sees a's write: the hazard, reproduced
      const found = dksmHazards([a, b].map((g) => ({ pid: g.pid, pt: g.pt, vaPages: g.vaPages })), r.mem);
      expect(found.map((h) => h.what)).to.include('DKSM writable-region hazard');
      expect(found.filter((h) => h.pid === 1)).to.have.length(PAGES);
    });

    it('finds no hazard when the first region is read-only', () => {
      const r = rig();
      const a = r.guest(1);
      const b = r.guest(2);
      a.madvise(image(a, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      b.madvise(image(b, 1), PAGES * PAGE_SIZE, MADV_MERGEABLE);
      expect(dksmHazards([a, b].map((g) => ({ pid: g.pid, pt: g.pt, vaPages: g.vaPages })), r.mem)).to.deep.equal([]);
    });
  });
});
