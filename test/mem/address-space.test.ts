// address-space.test.ts — what the address space does with frames: the zero page, first-touch
// allocation, MADV_DONTNEED, MAP_SHARED, munmap, mbind placement and teardown (in-process, no ksmd).
import { expect } from 'chai';
import { AddressSpace } from '../../src/mem/address-space.ts';
import {
  MADV_DONTNEED, MAP_ANONYMOUS, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE, ZERO_FRAME,
} from '../../src/mem/constants.ts';
import { OutOfMemoryKill } from '../../src/mem/errno.ts';
import { CTL_VMA_COUNT, CTL_VMA_SEQ, VMA_START, readVmaTable, recoverVmaTable } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_PRESENT, PTE_ZERO, pteFrame } from '../../src/mem/pte.ts';
import { summarizeSpace } from '../../src/mem/space-summary.ts';
import { bareSpace } from '../helpers/bare-space.ts';
import { Mulberry32 } from '../helpers/prng.ts';

const RW = PROT_READ | PROT_WRITE;
const SHARED = MAP_SHARED | MAP_ANONYMOUS;
const MiB = 2 ** 20;

function pageBytes(seed: number): Uint8Array {
  return new Mulberry32(seed).fill(new Uint8Array(PAGE_SIZE));
}

describe('address space', () => {
  describe('the zero page', () => {
    it('reads of untouched private memory return zeros and allocate no frame', () => {
      const b = bareSpace();
      const a = b.space.mmap(64 * PAGE_SIZE);
      const free = b.mem.freeFrames();
      const bytes = b.space.read(a, 64 * PAGE_SIZE);
      expect(bytes.every((x) => x === 0)).to.equal(true);
      expect(b.mem.freeFrames()).to.equal(free);
      const s = summarizeSpace(b.handles, b.mem);
      expect(s.zeroPages).to.equal(64);
      expect(s.privatePages).to.equal(0);
      for (let p = 0; p < 64; p++) {
        const pte = Atomics.load(b.space.pt, a / PAGE_SIZE + p);
        expect(pte & (PTE_PRESENT | PTE_ZERO)).to.equal(PTE_PRESENT | PTE_ZERO);
        expect(pteFrame(pte)).to.equal(ZERO_FRAME);
      }
    });

    it('the first write to a zero-page mapping allocates one frame, and the zero page stays zero', () => {
      const b = bareSpace();
      const a = b.space.mmap(2 * PAGE_SIZE);
      b.space.read(a, 2 * PAGE_SIZE);
      const free = b.mem.freeFrames();
      b.space.write(a + 10, new Uint8Array([1, 2, 3]));
      expect(b.mem.freeFrames()).to.equal(free - 1);
      expect(Array.from(b.space.read(a + 9, 5))).to.deep.equal([0, 1, 2, 3, 0]);
      expect(b.space.read(a + PAGE_SIZE, PAGE_SIZE).every((x) => x === 0)).to.equal(true);
      expect(b.mem.frameBytes(ZERO_FRAME).every((x) => x === 0)).to.equal(true);
    });
  });

  describe('first touch', () => {
    it('allocates exactly one frame per page written, even for a write spanning a page boundary', () => {
      const b = bareSpace();
      const a = b.space.mmap(8 * PAGE_SIZE);
      const free = b.mem.freeFrames();
      b.space.write(a + PAGE_SIZE - 2, new Uint8Array([9, 9, 9, 9]));
      expect(b.mem.freeFrames()).to.equal(free - 2);
      b.space.memset(a, 1, 8 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free - 8);
    });

    it('MAP_POPULATE allocates every page of a writable mapping up front', () => {
      const b = bareSpace();
      const free = b.mem.freeFrames();
      b.space.mmap(16 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
      expect(b.mem.freeFrames()).to.equal(free - 16);
    });

    it('keeps what was written, page by page, through random writes and reads', () => {
      const b = bareSpace();
      const pages = 32;
      const a = b.space.mmap(pages * PAGE_SIZE);
      const model = new Uint8Array(pages * PAGE_SIZE);
      const rng = new Mulberry32(42);
      for (let i = 0; i < 500; i++) {
        const off = rng.below(model.length - 1);
        const len = 1 + rng.below(Math.min(3 * PAGE_SIZE, model.length - off));
        const chunk = rng.fill(new Uint8Array(len));
        b.space.write(a + off, chunk);
        model.set(chunk, off);
      }
      expect(Buffer.from(b.space.read(a, model.length)).equals(Buffer.from(model))).to.equal(true);
    });
  });

  describe('MADV_DONTNEED', () => {
    it('on private memory frees the frames, and later reads return zeros without allocating', () => {
      const b = bareSpace();
      const a = b.space.mmap(16 * PAGE_SIZE);
      const free = b.mem.freeFrames();
      b.space.memset(a, 0xee, 16 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free - 16);
      b.space.madvise(a + 4 * PAGE_SIZE, 8 * PAGE_SIZE, MADV_DONTNEED);
      expect(b.mem.freeFrames()).to.equal(free - 8);
      expect(b.space.read(a + 4 * PAGE_SIZE, 8 * PAGE_SIZE).every((x) => x === 0)).to.equal(true);
      expect(b.mem.freeFrames()).to.equal(free - 8);
      expect(b.space.read(a + 3 * PAGE_SIZE, 1)[0]).to.equal(0xee);
      expect(b.space.read(a + 12 * PAGE_SIZE, 1)[0]).to.equal(0xee);
    });

    it('on MAP_SHARED anonymous memory keeps its data (shmem: the pages stay in the page cache)', () => {
      const b = bareSpace();
      const a = b.space.mmap(4 * PAGE_SIZE, RW, SHARED);
      const data = pageBytes(7);
      b.space.write(a + PAGE_SIZE, data);
      const free = b.mem.freeFrames();
      b.space.madvise(a, 4 * PAGE_SIZE, MADV_DONTNEED);
      expect(Buffer.from(b.space.read(a + PAGE_SIZE, PAGE_SIZE)).equals(Buffer.from(data))).to.equal(true);
      expect(b.mem.freeFrames()).to.equal(free);
    });
  });

  describe('MAP_SHARED', () => {
    it('gives a page its own frame on the first read, so every later access sees one memory', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE, RW, SHARED);
      const free = b.mem.freeFrames();
      expect(b.space.read(a, 8).every((x) => x === 0)).to.equal(true);
      expect(b.mem.freeFrames()).to.equal(free - 1);
      const frame = pteFrame(Atomics.load(b.space.pt, a / PAGE_SIZE));
      b.space.write(a, new Uint8Array([5]));
      expect(pteFrame(Atomics.load(b.space.pt, a / PAGE_SIZE))).to.equal(frame);
      expect(b.mem.freeFrames()).to.equal(free - 1);
    });
  });

  describe('munmap', () => {
    it('frees the frames of the unmapped pages and keeps the rest', () => {
      const b = bareSpace();
      const free = b.mem.freeFrames();
      const a = b.space.mmap(10 * PAGE_SIZE);
      b.space.memset(a, 0x11, 10 * PAGE_SIZE);
      b.space.munmap(a + 2 * PAGE_SIZE, 3 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free - 7);
      expect(b.space.read(a + PAGE_SIZE, 1)[0]).to.equal(0x11);
      expect(b.space.read(a + 5 * PAGE_SIZE, 1)[0]).to.equal(0x11);
      b.space.munmap(a, 10 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free);
    });

    it('of MAP_SHARED memory frees its frames too', () => {
      const b = bareSpace();
      const free = b.mem.freeFrames();
      const a = b.space.mmap(4 * PAGE_SIZE, RW, SHARED);
      b.space.memset(a, 1, 4 * PAGE_SIZE);
      b.space.munmap(a, 4 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free);
    });

    it('of a range spanning several mappings frees all of them', () => {
      const b = bareSpace();
      const free = b.mem.freeFrames();
      const x = b.space.mmap(3 * PAGE_SIZE);
      const y = b.space.mmap(3 * PAGE_SIZE, RW, SHARED);
      expect(y).to.equal(x + 3 * PAGE_SIZE);
      b.space.memset(x, 1, 6 * PAGE_SIZE);
      b.space.munmap(x, 6 * PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free);
      expect(b.space.vmas.all).to.have.length(0);
    });
  });

  describe('mprotect', () => {
    it('to PROT_READ and back keeps the contents and writes again to the same frame', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      b.space.memset(a, 4, PAGE_SIZE);
      const frame = pteFrame(Atomics.load(b.space.pt, a / PAGE_SIZE));
      const free = b.mem.freeFrames();
      b.space.mprotect(a, PAGE_SIZE, PROT_READ);
      b.space.mprotect(a, PAGE_SIZE, RW);
      b.space.write(a, new Uint8Array([8]));
      expect(pteFrame(Atomics.load(b.space.pt, a / PAGE_SIZE))).to.equal(frame);
      expect(b.mem.freeFrames()).to.equal(free);
      expect(Array.from(b.space.read(a, 2))).to.deep.equal([8, 4]);
    });
  });

  describe('NUMA placement', () => {
    it('faults pages in on the guest\'s home node by default', () => {
      const b = bareSpace({ numaNodes: 2, homeNode: 1 });
      const a = b.space.mmap(8 * PAGE_SIZE);
      b.space.memset(a, 1, 8 * PAGE_SIZE);
      expect(summarizeSpace(b.handles, b.mem).privatePagesByNode).to.deep.equal([0, 8]);
    });

    it('mbind places new pages on the bound node, and leaves pages already present where they are', () => {
      const b = bareSpace({ numaNodes: 2, homeNode: 0 });
      const a = b.space.mmap(8 * PAGE_SIZE);
      b.space.memset(a, 1, 2 * PAGE_SIZE);
      b.space.mbind(a, 8 * PAGE_SIZE, 1);
      b.space.memset(a, 2, 8 * PAGE_SIZE);
      expect(summarizeSpace(b.handles, b.mem).privatePagesByNode).to.deep.equal([2, 6]);
      for (let p = 2; p < 8; p++) expect(b.mem.nodeOf(pteFrame(Atomics.load(b.space.pt, a / PAGE_SIZE + p)))).to.equal(1);
    });

    it('mbind of part of a mapping binds only that part', () => {
      const b = bareSpace({ numaNodes: 2, homeNode: 0 });
      const a = b.space.mmap(8 * PAGE_SIZE);
      b.space.mbind(a + 4 * PAGE_SIZE, 4 * PAGE_SIZE, 1);
      b.space.memset(a, 1, 8 * PAGE_SIZE);
      expect(summarizeSpace(b.handles, b.mem).privatePagesByNode).to.deep.equal([4, 4]);
    });

    it('falls back to another node when the home node is full (local policy)', () => {
      const b = bareSpace({ bytes: MiB, numaNodes: 2, homeNode: 0 });
      const home = b.mem.usableFrames(0);
      const a = b.space.mmap((home + 4) * PAGE_SIZE);
      b.space.memset(a, 1, (home + 4) * PAGE_SIZE);
      expect(summarizeSpace(b.handles, b.mem).privatePagesByNode).to.deep.equal([home, 4]);
    });

    it('a mapping bound to a full node does not fall back: the fault is an out-of-memory kill', () => {
      const b = bareSpace({ bytes: MiB, numaNodes: 2, homeNode: 0 });
      const n1 = b.mem.usableFrames(1);
      const a = b.space.mmap((n1 + 1) * PAGE_SIZE);
      b.space.mbind(a, (n1 + 1) * PAGE_SIZE, 1);
      expect(() => b.space.memset(a, 1, (n1 + 1) * PAGE_SIZE)).to.throw(OutOfMemoryKill);
      expect(b.mem.freeFrames(1)).to.equal(0);
      expect(b.mem.freeFrames(0)).to.equal(b.mem.usableFrames(0));
    });
  });

  describe('exhaustion and teardown', () => {
    it('a write fault with no free frame anywhere throws OutOfMemoryKill and leaks nothing', () => {
      const b = bareSpace({ bytes: MiB });
      const total = b.mem.usableFrames(0);
      const a = b.space.mmap((total + 8) * PAGE_SIZE);
      expect(() => b.space.memset(a, 1, (total + 8) * PAGE_SIZE)).to.throw(OutOfMemoryKill);
      expect(b.mem.freeFrames()).to.equal(0);
      expect(summarizeSpace(b.handles, b.mem).privatePages).to.equal(total);
      b.space.teardown();
      expect(b.mem.freeFrames()).to.equal(total);
    });

    it('teardown returns every frame, private and shared, and empties the VMA table', () => {
      const b = bareSpace();
      const free = b.mem.freeFrames();
      const a = b.space.mmap(8 * PAGE_SIZE);
      const s = b.space.mmap(8 * PAGE_SIZE, RW, SHARED);
      b.space.memset(a, 1, 8 * PAGE_SIZE);
      b.space.read(s, 8 * PAGE_SIZE);
      b.space.teardown();
      expect(b.mem.freeFrames()).to.equal(free);
      expect(summarizeSpace(b.handles, b.mem).mappedPages).to.equal(0);
    });

    it('the host can reclaim a dead guest\'s memory from its shared state alone', () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 1 });
      const free = mem.freeFrames();
      const b = bareSpace({}, mem);
      const a = b.space.mmap(20 * PAGE_SIZE);
      b.space.memset(a, 3, 10 * PAGE_SIZE);
      b.space.munmap(a + 2 * PAGE_SIZE, PAGE_SIZE);
      expect(mem.freeFrames()).to.equal(free - 9);
      AddressSpace.reclaim(b.handles, mem);
      expect(mem.freeFrames()).to.equal(free);
    });

    it('reclaim frees every present page even where the VMA table no longer lists an area (a torn table)', () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 1 });
      const free = mem.freeFrames();
      const b = bareSpace({}, mem);
      const a = b.space.mmap(16 * PAGE_SIZE);
      b.space.memset(a, 3, 16 * PAGE_SIZE);
      Atomics.store(b.space.ctl, CTL_VMA_COUNT, 0); // the dead guest's table lost its only entry
      AddressSpace.reclaim(b.handles, mem);
      expect(mem.freeFrames()).to.equal(free);
    });

    it('a dead writer\'s VMA table is recovered: the seqlock closed, out-of-range entries dropped', () => {
      const b = bareSpace({ vaPages: 1024 });
      const x = b.space.mmap(4 * PAGE_SIZE);
      b.space.mmap(4 * PAGE_SIZE, PROT_READ);
      const ctl = b.space.ctl;
      const table = new Int32Array(b.handles.vmaTable);
      expect(recoverVmaTable(ctl, table, 1024), 'nothing to recover while the seqlock is even').to.equal(false);
      Atomics.add(ctl, CTL_VMA_SEQ, 1); // the guest died inside publish()
      Atomics.store(table, VMA_START, 1022); // entry 0 half rewritten: start moved, length not yet (1022 + 4 > 1024)
      expect(recoverVmaTable(ctl, table, 1024)).to.equal(true);
      expect(Atomics.load(ctl, CTL_VMA_SEQ) % 2).to.equal(0);
      const left = readVmaTable(ctl, table, 0, []);
      expect(left.map((v) => v.start)).to.deep.equal([x / PAGE_SIZE + 4]);
    });

    it('two address spaces on one memory never see each other\'s bytes', () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 1 });
      const x = bareSpace({ pid: 1 }, mem);
      const y = bareSpace({ pid: 2 }, mem);
      const ax = x.space.mmap(16 * PAGE_SIZE);
      const ay = y.space.mmap(16 * PAGE_SIZE);
      expect(ax).to.equal(ay); // same virtual addresses, different frames
      x.space.memset(ax, 0xaa, 16 * PAGE_SIZE);
      expect(y.space.read(ay, 16 * PAGE_SIZE).every((v) => v === 0)).to.equal(true);
      y.space.memset(ay, 0xbb, 16 * PAGE_SIZE);
      x.space.madvise(ax, 16 * PAGE_SIZE, MADV_DONTNEED);
      y.space.memset(ay, 0xcc, 8 * PAGE_SIZE);
      expect(x.space.read(ax, 16 * PAGE_SIZE).every((v) => v === 0)).to.equal(true);
    });
  });
});
