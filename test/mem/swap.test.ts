// swap.test.ts — swap space: a guest under memory pressure pages out its own private pages and
// reads them back intact; slots are freed with the mapping; without swap the guest is OOM-killed.
import { expect } from 'chai';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { MADV_DONTNEED, PAGE_SIZE } from '../../src/mem/constants.ts';
import { OutOfMemoryKill } from '../../src/mem/errno.ts';
import { createGuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { summarizeSpace } from '../../src/mem/space-summary.ts';
import { PTE_SWAPPED } from '../../src/mem/pte.ts';

const FRAMES = 128; // 512 KiB of memory
const PAGES = 256; // the guest maps twice that

function pattern(page: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i++) b[i] = (page * 31 + i * 7) & 0xff;
  return b;
}

function setup(swapBytes?: number) {
  const mem = PhysicalMemory.create({ bytes: FRAMES * PAGE_SIZE, numaNodes: 1, swapBytes });
  const handles = createGuestSpaceHandles(1, 0, 4096);
  const space = new AddressSpace(handles, mem);
  const addr = space.mmap(PAGES * PAGE_SIZE);
  return { mem, space, addr, handles };
}

describe('swap', () => {
  it('pages out private pages when memory is full and reads them back intact', () => {
    const { mem, space, addr } = setup(1 << 20);
    for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    expect(mem.swap!.swappedOut()).to.be.greaterThan(PAGES - FRAMES);
    for (let p = 0; p < PAGES; p++) expect(Buffer.compare(space.read(addr + p * PAGE_SIZE, PAGE_SIZE), pattern(p)), `page ${p}`).to.equal(0);
    expect(mem.swap!.swappedIn()).to.be.greaterThan(0);
  });

  it('marks swapped pages in the page table and counts them in the summary', () => {
    const { mem, space, addr, handles } = setup(1 << 20);
    for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    const swapped = Array.from(space.pt.subarray(addr / PAGE_SIZE, addr / PAGE_SIZE + PAGES)).filter((pte) => pte & PTE_SWAPPED).length;
    const sum = summarizeSpace(handles, mem);
    expect(sum.swappedPages).to.equal(swapped);
    expect(sum.privatePages + sum.swappedPages).to.equal(PAGES);
  });

  it('frees the swap slots and frames of an unmapped range', () => {
    const { mem, space, addr } = setup(1 << 20);
    const freeFrames = mem.freeFrames();
    const freeSlots = mem.swap!.freeSlots();
    for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    space.munmap(addr, PAGES * PAGE_SIZE);
    expect(mem.freeFrames()).to.equal(freeFrames);
    expect(mem.swap!.freeSlots()).to.equal(freeSlots);
  });

  it('MADV_DONTNEED on swapped pages frees their slots and reads zeros after', () => {
    const { mem, space, addr } = setup(1 << 20);
    const freeSlots = mem.swap!.freeSlots();
    for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    space.madvise(addr, PAGES * PAGE_SIZE, MADV_DONTNEED);
    expect(mem.swap!.freeSlots()).to.equal(freeSlots);
    expect(space.read(addr, PAGE_SIZE).every((b) => b === 0)).to.equal(true);
  });

  it('kills the guest like the OOM killer when there is no swap', () => {
    const { space, addr } = setup(undefined);
    expect(() => {
      for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    }).to.throw(OutOfMemoryKill);
  });

  it('kills the guest when swap is full too', () => {
    const { space, addr } = setup(32 * PAGE_SIZE);
    expect(() => {
      for (let p = 0; p < PAGES; p++) space.write(addr + p * PAGE_SIZE, pattern(p));
    }).to.throw(OutOfMemoryKill, /swap full/);
  });
});
