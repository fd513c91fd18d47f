// address-space-errno.test.ts — every errno the address-space syscalls return, as mmap(2), munmap(2),
// mprotect(2), mbind(2), madvise(2) and prctl(2) document them, checked in-process on a bare AddressSpace.
import { expect } from 'chai';
import {
  MADV_DONTNEED, MADV_MERGEABLE, MADV_NORMAL, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PR_GET_MEMORY_MERGE,
  PR_SET_MEMORY_MERGE, PROT_NONE, PROT_READ, PROT_WRITE,
} from '../../src/mem/constants.ts';
import { CTL_HAZARD, CTL_VMA_SEQ, HAZARD_NONE, MAX_VMAS, VM_MERGEABLE, readVmaTable } from '../../src/mem/guest-control.ts';
import { bareSpace, errnoOf } from '../helpers/bare-space.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** Map three pages and unmap the middle one: [a, a+P) and [a+2P, a+3P) mapped, a gap between. */
function withGap(): { b: ReturnType<typeof bareSpace>; a: number } {
  const b = bareSpace();
  const a = b.space.mmap(3 * PAGE_SIZE);
  b.space.munmap(a + PAGE_SIZE, PAGE_SIZE);
  return { b, a };
}

function vmaFlagsAt(b: ReturnType<typeof bareSpace>, addr: number): number {
  return b.space.vmas.find(addr / PAGE_SIZE)!.flags;
}

describe('address space errors', () => {
  describe('mmap', () => {
    it('of length 0 fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.mmap(0))).to.equal('EINVAL');
    });

    it('of a negative length fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.mmap(-PAGE_SIZE))).to.equal('EINVAL');
    });

    it('with protection bits other than PROT_READ|PROT_WRITE|PROT_EXEC fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.mmap(PAGE_SIZE, RW | 0x100, ANON))).to.equal('EINVAL');
    });

    it('with neither MAP_SHARED nor MAP_PRIVATE fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.mmap(PAGE_SIZE, RW, MAP_ANONYMOUS))).to.equal('EINVAL');
    });

    it('with both MAP_SHARED and MAP_PRIVATE on anonymous memory fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.mmap(PAGE_SIZE, RW, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS))).to.equal('EINVAL');
    });

    it('without MAP_ANONYMOUS fails with EBADF (there is no file descriptor)', () => {
      expect(errnoOf(() => bareSpace().space.mmap(PAGE_SIZE, RW, MAP_PRIVATE))).to.equal('EBADF');
      expect(errnoOf(() => bareSpace().space.mmap(PAGE_SIZE, RW, MAP_SHARED))).to.equal('EBADF');
    });

    it('larger than the free address space fails with ENOMEM and maps nothing', () => {
      const b = bareSpace({ vaPages: 256 });
      expect(errnoOf(() => b.space.mmap(256 * PAGE_SIZE))).to.equal('ENOMEM');
      expect(b.space.vmas.all).to.have.length(0);
    });

    it('fails with ENOMEM once the address space is used up, and works again after a munmap', () => {
      const b = bareSpace({ vaPages: 256 });
      const addrs: number[] = [];
      for (;;) {
        try {
          addrs.push(b.space.mmap(16 * PAGE_SIZE));
        } catch (e) {
          expect((e as { code?: string }).code).to.equal('ENOMEM');
          break;
        }
      }
      expect(addrs.length).to.equal(15); // pages 16..255: below 64 KiB nothing is handed out
      b.space.munmap(addrs[3]!, 16 * PAGE_SIZE);
      expect(b.space.mmap(16 * PAGE_SIZE)).to.equal(addrs[3]);
    });

    it('a failed mmap reserves no frames', () => {
      const b = bareSpace({ vaPages: 256 });
      const free = b.mem.freeFrames();
      errnoOf(() => b.space.mmap(0));
      errnoOf(() => b.space.mmap(1 << 30));
      expect(b.mem.freeFrames()).to.equal(free);
    });
  });

  describe('munmap', () => {
    it('of an unaligned address fails with EINVAL and leaves the mapping in place', () => {
      const b = bareSpace();
      const a = b.space.mmap(2 * PAGE_SIZE);
      b.space.memset(a, 7, 2 * PAGE_SIZE);
      expect(errnoOf(() => b.space.munmap(a + 1, PAGE_SIZE))).to.equal('EINVAL');
      expect(b.space.read(a + PAGE_SIZE, 1)[0]).to.equal(7);
    });

    it('of length 0 fails with EINVAL', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.munmap(a, 0))).to.equal('EINVAL');
    });

    it('of a range with nothing mapped succeeds (as in Linux)', () => {
      const b = bareSpace();
      expect(() => b.space.munmap(64 * PAGE_SIZE, 8 * PAGE_SIZE)).to.not.throw();
    });
  });

  describe('mprotect', () => {
    it('of an unaligned address fails with EINVAL', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.mprotect(a + 8, PAGE_SIZE, PROT_READ))).to.equal('EINVAL');
    });

    it('with unknown protection bits fails with EINVAL and changes nothing', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.mprotect(a, PAGE_SIZE, PROT_READ | 0x40))).to.equal('EINVAL');
      expect(() => b.space.write(a, new Uint8Array([1]))).to.not.throw();
    });

    it('over a hole fails with ENOMEM after changing the part before the hole (mprotect_fixup stops there)', () => {
      const { b, a } = withGap();
      b.space.memset(a, 1, PAGE_SIZE);
      expect(errnoOf(() => b.space.mprotect(a, 3 * PAGE_SIZE, PROT_READ))).to.equal('ENOMEM');
      expect(errnoOf(() => b.space.write(a, new Uint8Array([2])))).to.equal('EFAULT');
      expect(b.space.read(a, 1)[0]).to.equal(1);
      expect(() => b.space.write(a + 2 * PAGE_SIZE, new Uint8Array([2]))).to.not.throw();
    });

    it('starting in a hole fails with ENOMEM', () => {
      const { b, a } = withGap();
      expect(errnoOf(() => b.space.mprotect(a + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ))).to.equal('ENOMEM');
    });
  });

  describe('mbind', () => {
    it('to a node the host does not have fails with EINVAL', () => {
      const b = bareSpace({ numaNodes: 2 });
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.mbind(a, PAGE_SIZE, 2))).to.equal('EINVAL');
      expect(errnoOf(() => b.space.mbind(a, PAGE_SIZE, -1))).to.equal('EINVAL');
    });

    it('of a range with unmapped pages fails with EFAULT', () => {
      const { b, a } = withGap();
      expect(errnoOf(() => b.space.mbind(a, 3 * PAGE_SIZE, 0))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.mbind(a + PAGE_SIZE, PAGE_SIZE, 0))).to.equal('EFAULT');
    });

    it('of an unaligned address fails with EINVAL', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.mbind(a + 1, PAGE_SIZE, 0))).to.equal('EINVAL');
    });
  });

  describe('madvise', () => {
    it('with an unknown advice fails with EINVAL', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.madvise(a, PAGE_SIZE, 999))).to.equal('EINVAL');
      expect(errnoOf(() => b.space.madvise(a, PAGE_SIZE, -1))).to.equal('EINVAL');
    });

    it('of an unaligned address fails with EINVAL', () => {
      const b = bareSpace();
      const a = b.space.mmap(2 * PAGE_SIZE);
      expect(errnoOf(() => b.space.madvise(a + 100, PAGE_SIZE, MADV_MERGEABLE))).to.equal('EINVAL');
    });

    it('(MADV_MERGEABLE) over an unmapped gap fails with ENOMEM but still marks the mapped parts', () => {
      const { b, a } = withGap();
      expect(errnoOf(() => b.space.madvise(a, 3 * PAGE_SIZE, MADV_MERGEABLE))).to.equal('ENOMEM');
      expect(vmaFlagsAt(b, a) & VM_MERGEABLE).to.equal(VM_MERGEABLE);
      expect(vmaFlagsAt(b, a + 2 * PAGE_SIZE) & VM_MERGEABLE).to.equal(VM_MERGEABLE);
    });

    it('(MADV_DONTNEED) over an unmapped gap fails with ENOMEM but still drops the mapped pages', () => {
      const { b, a } = withGap();
      const free = b.mem.freeFrames();
      b.space.memset(a, 9, PAGE_SIZE);
      b.space.memset(a + 2 * PAGE_SIZE, 9, PAGE_SIZE);
      expect(b.mem.freeFrames()).to.equal(free - 2);
      expect(errnoOf(() => b.space.madvise(a, 3 * PAGE_SIZE, MADV_DONTNEED))).to.equal('ENOMEM');
      expect(b.mem.freeFrames()).to.equal(free);
      expect(b.space.read(a, 1)[0]).to.equal(0);
      expect(b.space.read(a + 2 * PAGE_SIZE, 1)[0]).to.equal(0);
    });

    it('of a range with nothing mapped fails with ENOMEM', () => {
      const b = bareSpace();
      expect(errnoOf(() => b.space.madvise(64 * PAGE_SIZE, PAGE_SIZE, MADV_NORMAL))).to.equal('ENOMEM');
    });

    it('(MADV_MERGEABLE) on a MAP_SHARED mapping succeeds and leaves it unmergeable', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS);
      expect(() => b.space.madvise(a, PAGE_SIZE, MADV_MERGEABLE)).to.not.throw();
      expect(vmaFlagsAt(b, a) & VM_MERGEABLE).to.equal(0);
    });

    it('of length 0 succeeds and does nothing', () => {
      const b = bareSpace();
      expect(() => b.space.madvise(64 * PAGE_SIZE, 0, MADV_MERGEABLE)).to.not.throw();
    });
  });

  describe('prctl', () => {
    it('with an unknown option fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.prctl(9999))).to.equal('EINVAL');
    });

    it('PR_GET_MEMORY_MERGE with a non-zero argument fails with EINVAL', () => {
      expect(errnoOf(() => bareSpace().space.prctl(PR_GET_MEMORY_MERGE, 1))).to.equal('EINVAL');
    });

    it('PR_GET_MEMORY_MERGE reads back what PR_SET_MEMORY_MERGE set', () => {
      const { space } = bareSpace();
      expect(space.prctl(PR_GET_MEMORY_MERGE)).to.equal(0);
      space.prctl(PR_SET_MEMORY_MERGE, 1);
      expect(space.prctl(PR_GET_MEMORY_MERGE)).to.equal(1);
      space.prctl(PR_SET_MEMORY_MERGE, 0);
      expect(space.prctl(PR_GET_MEMORY_MERGE)).to.equal(0);
    });
  });

  describe('memory access', () => {
    it('a read of an unmapped address fails with EFAULT', () => {
      const b = bareSpace();
      expect(errnoOf(() => b.space.read(64 * PAGE_SIZE, 1))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.read(0, 1))).to.equal('EFAULT');
    });

    it('a read beyond the address space fails with EFAULT', () => {
      const b = bareSpace({ vaPages: 256 });
      expect(errnoOf(() => b.space.read(256 * PAGE_SIZE, 1))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.read(-PAGE_SIZE, 1))).to.equal('EFAULT');
    });

    it('a read longer than the whole address space fails with EFAULT (before any buffer is allocated)', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.read(a, 2 ** 33))).to.equal('EFAULT');
    });

    it('a write or memset of an unmapped address fails with EFAULT', () => {
      const b = bareSpace();
      expect(errnoOf(() => b.space.write(64 * PAGE_SIZE, new Uint8Array(8)))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.memset(64 * PAGE_SIZE, 1, 8))).to.equal('EFAULT');
    });

    it('an access running off the end of a mapping fails with EFAULT', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      expect(errnoOf(() => b.space.read(a + PAGE_SIZE - 4, 8))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.write(a + PAGE_SIZE - 4, new Uint8Array(8)))).to.equal('EFAULT');
    });

    it('an access after munmap fails with EFAULT', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE);
      b.space.memset(a, 1, PAGE_SIZE);
      b.space.munmap(a, PAGE_SIZE);
      expect(errnoOf(() => b.space.read(a, 1))).to.equal('EFAULT');
    });

    it('a write to a PROT_READ mapping fails with EFAULT and leaves the contents as they were', () => {
      const b = bareSpace();
      const fresh = b.space.mmap(PAGE_SIZE, PROT_READ);
      expect(errnoOf(() => b.space.write(fresh, new Uint8Array([1])))).to.equal('EFAULT');
      expect(b.space.read(fresh, 1)[0]).to.equal(0);
      const written = b.space.mmap(PAGE_SIZE);
      b.space.memset(written, 5, PAGE_SIZE);
      b.space.mprotect(written, PAGE_SIZE, PROT_READ);
      expect(errnoOf(() => b.space.memset(written, 6, 1))).to.equal('EFAULT');
      expect(b.space.read(written, 1)[0]).to.equal(5);
    });

    it('a read of a PROT_NONE mapping fails with EFAULT, whether or not the page was touched before', () => {
      const b = bareSpace();
      const never = b.space.mmap(PAGE_SIZE, PROT_NONE);
      expect(errnoOf(() => b.space.read(never, 1))).to.equal('EFAULT');
      const touched = b.space.mmap(PAGE_SIZE);
      b.space.memset(touched, 3, PAGE_SIZE);
      b.space.mprotect(touched, PAGE_SIZE, PROT_NONE);
      expect(errnoOf(() => b.space.read(touched, 1))).to.equal('EFAULT');
      expect(errnoOf(() => b.space.write(touched, new Uint8Array([1])))).to.equal('EFAULT');
      b.space.mprotect(touched, PAGE_SIZE, PROT_READ);
      expect(b.space.read(touched, 1)[0]).to.equal(3);
    });

    it('a faulting access leaves no page published in the hazard word', () => {
      const b = bareSpace();
      const a = b.space.mmap(PAGE_SIZE, PROT_READ);
      const ctl = b.space.ctl;
      errnoOf(() => b.space.write(a, new Uint8Array([1])));
      expect(Atomics.load(ctl, CTL_HAZARD)).to.equal(HAZARD_NONE);
      errnoOf(() => b.space.read(a + 8 * PAGE_SIZE, 1));
      expect(Atomics.load(ctl, CTL_HAZARD)).to.equal(HAZARD_NONE);
      b.space.mprotect(a, PAGE_SIZE, PROT_NONE);
      errnoOf(() => b.space.read(a, 1));
      expect(Atomics.load(ctl, CTL_HAZARD)).to.equal(HAZARD_NONE);
    });
  });
});

describe('address space map count limit (vm.max_map_count)', () => {
  const BIG = 64;
  /**
   * Exactly MAX_VMAS areas: single pages alternating PROT_READ / PROT_READ|PROT_WRITE, then one
   * BIG-page read-write area. (Built on the VMA list directly: 8192 mprotect calls would take seconds.)
   */
  function atTheLimit(): { b: ReturnType<typeof bareSpace>; big: number } {
    const b = bareSpace({ vaPages: MAX_VMAS + BIG + 64 });
    const first = 16;
    for (let i = 0; i < MAX_VMAS - 1; i++) b.space.vmas.insert({ start: first + i, end: first + i + 1, flags: i % 2 ? RW : PROT_READ, node: -1 });
    b.space.vmas.insert({ start: first + MAX_VMAS - 1, end: first + MAX_VMAS - 1 + BIG, flags: RW, node: -1 });
    b.space.vmas.publish();
    expect(b.space.vmas.all.length).to.equal(MAX_VMAS);
    return { b, big: (first + MAX_VMAS - 1) * PAGE_SIZE };
  }

  /** The shared VMA table other threads read is consistent and matches the guest's own list. */
  function expectTableIntact(b: ReturnType<typeof bareSpace>): void {
    const ctl = b.space.ctl;
    expect(Atomics.load(ctl, CTL_VMA_SEQ) % 2, 'seqlock left odd').to.equal(0);
    const shared = readVmaTable(ctl, new Int32Array(b.handles.vmaTable), 0, []);
    expect(shared.map((v) => [v.start, v.start + v.pages, v.flags])).to.deep.equal(b.space.vmas.all.map((m) => [m.start, m.end, m.flags]));
  }

  it('mmap of one more area fails with ENOMEM', () => {
    const { b } = atTheLimit();
    expect(errnoOf(() => b.space.mmap(PAGE_SIZE, PROT_NONE))).to.equal('ENOMEM');
    expectTableIntact(b);
  });

  it('mprotect that would split an area beyond the limit fails with ENOMEM and leaves the VMA table readable', () => {
    const { b, big } = atTheLimit();
    b.space.memset(big, 1, BIG * PAGE_SIZE);
    expect(errnoOf(() => b.space.mprotect(big + 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ))).to.equal('ENOMEM');
    expectTableIntact(b);
    expect(b.space.vmas.all.length).to.equal(MAX_VMAS);
    expect(() => b.space.write(big + 8 * PAGE_SIZE, new Uint8Array([2]))).to.not.throw();
  });

  it('munmap that would punch a hole beyond the limit fails with ENOMEM and frees nothing', () => {
    const { b, big } = atTheLimit();
    b.space.memset(big, 0x42, BIG * PAGE_SIZE);
    const free = b.mem.freeFrames();
    expect(errnoOf(() => b.space.munmap(big + 8 * PAGE_SIZE, PAGE_SIZE))).to.equal('ENOMEM');
    expect(b.mem.freeFrames()).to.equal(free);
    expect(b.space.read(big + 8 * PAGE_SIZE, 1)[0]).to.equal(0x42);
    expectTableIntact(b);
  });

  it('munmap of a whole area still works at the limit', () => {
    const { b, big } = atTheLimit();
    expect(() => b.space.munmap(big, BIG * PAGE_SIZE)).to.not.throw();
    expect(b.space.vmas.all.length).to.equal(MAX_VMAS - 1);
    expectTableIntact(b);
  });

  it('madvise that would split beyond the limit fails with EAGAIN (madvise turns ENOMEM into EAGAIN) and marks nothing', () => {
    const { b, big } = atTheLimit();
    expect(errnoOf(() => b.space.madvise(big + 8 * PAGE_SIZE, PAGE_SIZE, MADV_MERGEABLE))).to.equal('EAGAIN');
    expectTableIntact(b);
    expect(vmaFlagsAt(b, big + 8 * PAGE_SIZE) & VM_MERGEABLE).to.equal(0);
  });

  it('mbind that would split beyond the limit fails with ENOMEM', () => {
    const { b, big } = atTheLimit();
    expect(errnoOf(() => b.space.mbind(big + 8 * PAGE_SIZE, PAGE_SIZE, 0))).to.equal('ENOMEM');
    expectTableIntact(b);
    expect(b.space.vmas.find(big / PAGE_SIZE + 8)!.node).to.equal(-1);
  });

  it('a change that merges areas instead of splitting them still works at the limit', () => {
    const { b } = atTheLimit();
    expect(() => b.space.mprotect(17 * PAGE_SIZE, PAGE_SIZE, PROT_READ)).to.not.throw(); // page 17 joins 16 and 18
    expect(b.space.vmas.all.length).to.equal(MAX_VMAS - 2);
    expectTableIntact(b);
  });
});
