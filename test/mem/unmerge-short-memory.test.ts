// unmerge-short-memory.test.ts — MADV_UNMERGEABLE when memory runs out half-way: the kernel's madvise
// fails (EAGAIN, as madvise reports ENOMEM) and the area stays VM_MERGEABLE, the pages already
// unmerged are private copies in that still-mergeable area, nothing is lost, and a retry once memory
// is back finishes the job. In one thread: an AddressSpace with ksmd's engine beside it.
import { expect } from 'chai';
import { MADV_MERGEABLE, MADV_UNMERGEABLE, PAGE_SIZE } from '../../src/mem/constants.ts';
import { CTL_MERGEABLE_VMAS } from '../../src/mem/guest-control.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { recountSpaces } from '../../src/stress/recount.ts';
import { bareSpace, errnoOf } from '../helpers/bare-space.ts';

const PAGES = 32;

describe('MADV_UNMERGEABLE with too little free memory', () => {
  function merged() {
    const b = bareSpace({ bytes: 64 * PAGE_SIZE }); // 64 frames: the zero page and 63 free
    const state = KsmState.create();
    state.set('pages_to_scan', 1000);
    state.set('run', 1);
    const engine = new KsmEngine(b.mem, state);
    engine.addGuest(b.handles);
    const a = b.space.mmap(PAGES * PAGE_SIZE);
    b.space.memset(a, 0x5a, PAGES * PAGE_SIZE);
    b.space.madvise(a, PAGES * PAGE_SIZE, MADV_MERGEABLE);
    for (let i = 0; i < 3; i++) engine.scanBatch(1000);
    expect(state.get('pages_shared') + state.get('pages_sharing')).to.equal(PAGES);
    // Take all but 10 free frames, so the unmerge runs out after 10 copies.
    const hog = b.space.mmap((b.mem.freeFrames() - 10) * PAGE_SIZE);
    b.space.memset(hog, 1, (b.mem.freeFrames() - 10) * PAGE_SIZE);
    return { ...b, a, hog, engine, state };
  }

  it('fails with EAGAIN and loses no data', () => {
    const b = merged();
    expect(errnoOf(() => b.space.madvise(b.a, PAGES * PAGE_SIZE, MADV_UNMERGEABLE))).to.equal('EAGAIN');
    const bytes = b.space.read(b.a, PAGES * PAGE_SIZE);
    expect(bytes.every((x) => x === 0x5a)).to.equal(true);
  });

  it('leaves the area mergeable, with every page marked so (the pages already copied stay mergeable)', () => {
    const b = merged();
    errnoOf(() => b.space.madvise(b.a, PAGES * PAGE_SIZE, MADV_UNMERGEABLE));
    const r = recountSpaces(b.mem, true, 256, [b.handles], true);
    expect(r.problems).to.deep.equal([]);
    expect(Atomics.load(new Int32Array(b.handles.control), CTL_MERGEABLE_VMAS)).to.equal(1); // ksm_mergeable: yes
  });

  it('a retry once memory is free again unmerges every page', () => {
    const b = merged();
    errnoOf(() => b.space.madvise(b.a, PAGES * PAGE_SIZE, MADV_UNMERGEABLE));
    b.space.munmap(b.hog, PAGE_SIZE); // gives a frame back...
    b.space.munmap(b.hog + PAGE_SIZE, 40 * PAGE_SIZE); // ...and enough for every copy
    b.space.madvise(b.a, PAGES * PAGE_SIZE, MADV_UNMERGEABLE);
    for (let i = 0; i < 2; i++) b.engine.scanBatch(1000);
    const r = recountSpaces(b.mem, true, 256, [b.handles], true);
    expect(r.problems).to.deep.equal([]);
    expect(r.counters.pages_shared + r.counters.pages_sharing).to.equal(0);
    expect(b.space.read(b.a, PAGES * PAGE_SIZE).every((x) => x === 0x5a)).to.equal(true);
  });
});
