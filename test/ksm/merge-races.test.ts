// merge-races.test.ts — interleavings of a guest with ksmd's merge of two pages (mergeTwo), scripted
// in one thread: the engine calls back at named protocol points (KsmEngineOptions.onStep, TEST
// ONLY) and the test runs the guest's operation there, where another thread's could land.
// Issue 11, findings 4, 5 and 6.
import { expect } from 'chai';
import { MADV_DONTNEED, MADV_MERGEABLE, PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import { CTL_HAZARD, HAZARD_NONE, hazardRead, hazardWrite } from '../../src/mem/guest-control.ts';
import { PTE_KSM, isPrivateFrame, pteFrame } from '../../src/mem/pte.ts';
import { KsmEngine, type MergeStep } from '../../src/ksm/ksm-engine.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { recountSpaces } from '../../src/stress/recount.ts';
import { bareSpace } from '../helpers/bare-space.ts';

type Script = (step: MergeStep, pid: number, vpage: number) => void;

function setup(frames = 64) {
  const b = bareSpace({ bytes: frames * PAGE_SIZE });
  const state = KsmState.create();
  state.set('pages_to_scan', 1000);
  state.set('smart_scan', 0);
  state.set('run', 1);
  const hook: { script?: Script } = {};
  const engine = new KsmEngine(b.mem, state, undefined, { onStep: (s, pid, v) => hook.script?.(s, pid, v) });
  engine.addGuest(b.handles);
  /** One full scan (ksmd's batch stops at the end of a pass). */
  const pass = (): void => void engine.scanBatch(100_000);
  return { ...b, state, engine, hook, pass };
}

describe('merging two pages while the guest runs (scripted interleavings)', () => {
  it('a page written between its checksum and its write-protection is filed under the content it merged with (finding 4)', () => {
    const t = setup();
    const a = t.space.mmap(3 * PAGE_SIZE);
    t.space.memset(a, 0x11, 2 * PAGE_SIZE);
    t.space.memset(a + 2 * PAGE_SIZE, 0x22, PAGE_SIZE);
    t.space.madvise(a, 3 * PAGE_SIZE, MADV_MERGEABLE);
    const p1 = a / PAGE_SIZE + 1;
    t.pass(); // every page's checksum recorded
    // Second pass: p0 goes into the unstable tree under 0x11's checksum; p1's checksum is taken
    // (0x11, unchanged, so it goes on); then the guest writes 0x22 into both before ksmd
    // write-protects them. They still merge (equal once write-protected): a KSM page of 0x22.
    t.hook.script = (step, _pid, vpage) => {
      if (step !== 'checksummed' || vpage !== p1) return;
      t.hook.script = undefined;
      t.space.memset(a, 0x22, 2 * PAGE_SIZE);
    };
    t.pass();
    t.pass();
    t.pass();
    // p2 (0x22 all along) finds that KSM page by its checksum: one KSM page, three mappers.
    expect(t.state.get('pages_shared')).to.equal(1);
    expect(t.state.get('pages_sharing')).to.equal(2);
    expect(t.space.read(a, 3 * PAGE_SIZE).every((x) => x === 0x22)).to.equal(true);
  });

  it('ksmd writes no metadata of page A\'s frame before the CAS that makes it a KSM page (finding 5)', () => {
    const t = setup();
    const a = t.space.mmap(2 * PAGE_SIZE);
    const q = t.space.mmap(PAGE_SIZE); // untouched: its first write takes a frame
    t.space.memset(a, 0x33, 2 * PAGE_SIZE);
    t.space.madvise(a, 2 * PAGE_SIZE, MADV_MERGEABLE);
    const p1 = a / PAGE_SIZE + 1;
    const qPage = q / PAGE_SIZE;
    const k = pteFrame(Atomics.load(t.space.pt, p1));
    t.pass();
    // Fill memory: the frame p1 gives back below is then the only free one.
    const hogBytes = t.mem.freeFrames() * PAGE_SIZE;
    t.space.memset(t.space.mmap(hogBytes), 1, hogBytes);
    let seen: { frame: number; mapcount: number; flags: number } | undefined;
    t.hook.script = (step, _pid, vpage) => {
      if (vpage !== p1) return;
      if (step === 'compared') {
        // Both pages are write-protected and equal. The guest releases p1 (its frame k is freed)
        // and its next first-touch write gets k as a private page.
        t.space.madvise(a + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
        t.space.write(q, Uint8Array.of(7));
      } else if (step === 'cas-a') {
        const f = pteFrame(Atomics.load(t.space.pt, qPage));
        seen = { frame: f, mapcount: t.mem.mapcount(f), flags: t.mem.frameFlags(f) };
      }
    };
    t.pass();
    t.hook.script = undefined;
    expect(seen?.frame, 'the guest\'s new page got frame k').to.equal(k);
    expect(seen).to.deep.equal({ frame: k, mapcount: 0, flags: 0 });
    expect(t.mem.mapcount(k)).to.equal(0);
    expect(isPrivateFrame(Atomics.load(t.space.pt, qPage))).to.equal(true);
    expect(t.space.read(q, 1)[0]).to.equal(7);
    expect(t.space.read(a, PAGE_SIZE).every((x) => x === 0x33)).to.equal(true);
  });

  it('B\'s CAS fails and A changed its protection meanwhile: A gets its page back as a private page (finding 6)', () => {
    const t = setup();
    const a = t.space.mmap(2 * PAGE_SIZE);
    t.space.memset(a, 0x44, 2 * PAGE_SIZE);
    t.space.madvise(a, 2 * PAGE_SIZE, MADV_MERGEABLE);
    const p1 = a / PAGE_SIZE + 1;
    const k = pteFrame(Atomics.load(t.space.pt, p1));
    t.pass();
    t.hook.script = (step, _pid, vpage) => {
      if (step !== 'merged-a' || vpage !== p1) return;
      t.hook.script = undefined;
      // A (p1) is now a KSM page. The guest writes B (p0): its write fault takes the page back,
      // so B's CAS will fail; and it makes A PROT_NONE, which changes A's PTE without a fault.
      t.space.write(a, Uint8Array.of(0x44));
      t.space.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_NONE);
    };
    t.pass();
    const pte = Atomics.load(t.space.pt, p1);
    expect(pte & PTE_KSM, 'A no longer maps a KSM page').to.equal(0);
    expect(isPrivateFrame(pte)).to.equal(true);
    expect(pteFrame(pte)).to.equal(k);
    expect(t.mem.mapcount(k), 'a private frame has mapcount 0').to.equal(0);
    expect(t.state.get('pages_shared') + t.state.get('pages_sharing')).to.equal(0);
    const r = recountSpaces(t.mem, true, 256, [t.handles], true);
    expect(r.problems).to.deep.equal([]);
    t.space.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE);
    expect(t.space.read(a, 2 * PAGE_SIZE).every((x) => x === 0x44)).to.equal(true);
  });

  describe('the hazard word says read or write (finding 7)', () => {
    function twoEqualPages() {
      const t = setup();
      const a = t.space.mmap(2 * PAGE_SIZE);
      t.space.memset(a, 0x55, 2 * PAGE_SIZE);
      t.space.madvise(a, 2 * PAGE_SIZE, MADV_MERGEABLE);
      t.pass();
      return { ...t, a, p0: a / PAGE_SIZE, f0: pteFrame(Atomics.load(t.space.pt, a / PAGE_SIZE)) };
    }

    it('ksmd merges a page a guest is reading, and frees its old frame only once the reader has left', () => {
      const t = twoEqualPages();
      Atomics.store(t.space.ctl, CTL_HAZARD, hazardRead(t.p0)); // as readInto, between its PTE load and its copy
      t.pass();
      expect(t.state.get('pages_shared')).to.equal(1);
      expect(t.state.get('pages_sharing')).to.equal(1);
      expect(t.engine.events.mergeAborts).to.equal(0);
      expect(t.engine.pendingFrees, 'the reader\'s frame waits').to.equal(1);
      expect(t.mem.allocator.isFree(t.f0)).to.equal(false);
      Atomics.store(t.space.ctl, CTL_HAZARD, HAZARD_NONE);
      t.engine.processDeferred();
      expect(t.engine.pendingFrees).to.equal(0);
      expect(t.mem.allocator.isFree(t.f0)).to.equal(true);
    });

    it('ksmd still gives up write-protecting a page a guest is writing', () => {
      const t = twoEqualPages();
      Atomics.store(t.space.ctl, CTL_HAZARD, hazardWrite(t.p0));
      t.pass();
      expect(t.state.get('pages_shared') + t.state.get('pages_sharing')).to.equal(0);
      Atomics.store(t.space.ctl, CTL_HAZARD, HAZARD_NONE);
      t.pass();
      t.pass();
      expect(t.state.get('pages_sharing')).to.equal(1);
    });
  });
});
