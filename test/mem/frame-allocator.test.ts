// frame-allocator.test.ts — the per-node frame allocator, alone and hammered by real worker threads.
import { expect } from 'chai';
import type { Worker } from 'node:worker_threads';
import { PAGE_SIZE, ZERO_FRAME } from '../../src/mem/constants.ts';
import { pteFrame } from '../../src/mem/pte.ts';
import { bareSpace } from '../helpers/bare-space.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { firstMessage, startTsWorker } from '../helpers/ts-worker.ts';
import type { FrameChurnData, FrameChurnResult } from '../fixtures/frame-churn-worker.ts';

const CHURN = new URL('../fixtures/frame-churn-worker.ts', import.meta.url);
const MiB = 2 ** 20;

/** Frames whose bit says free, counted from the bitmap itself (not from the counters). */
function recountFree(mem: PhysicalMemory, node: number): number {
  const r = mem.nodes[node]!;
  let n = 0;
  for (let f = r.firstFrame; f < r.firstFrame + r.frameCount; f++) if (mem.allocator.isFree(f)) n++;
  return n;
}

describe('frame allocator', () => {
  describe('in one thread', () => {
    it('reserves the zero page: frame 0 is never free and never handed out', () => {
      const mem = PhysicalMemory.create({ bytes: MiB, numaNodes: 1 });
      expect(mem.allocator.isFree(ZERO_FRAME)).to.equal(false);
      expect(mem.freeFrames()).to.equal(mem.totalFrames - 1);
      const seen = new Set<number>();
      for (let f = mem.allocator.alloc(0); f >= 0; f = mem.allocator.alloc(0)) seen.add(f);
      expect(seen.has(ZERO_FRAME)).to.equal(false);
      expect(seen.size).to.equal(mem.totalFrames - 1);
    });

    it('returns -1 when the node is exhausted, and counts the refusal', () => {
      const mem = PhysicalMemory.create({ bytes: MiB, numaNodes: 1 });
      while (mem.allocator.alloc(0) >= 0);
      expect(mem.freeFrames(0)).to.equal(0);
      expect(mem.allocator.alloc(0)).to.equal(-1);
      expect(mem.allocator.alloc(0)).to.equal(-1);
      expect(mem.allocator.allocationFailures(0)).to.be.at.least(3);
    });

    it('allocates on the requested node only, and exhausting one node leaves the other untouched', () => {
      const mem = PhysicalMemory.create({ bytes: 2 * MiB, numaNodes: 2 });
      const before1 = mem.freeFrames(1);
      let n = 0;
      for (let f = mem.allocator.alloc(0); f >= 0; f = mem.allocator.alloc(0)) {
        expect(mem.nodeOf(f)).to.equal(0);
        n++;
      }
      expect(n).to.equal(mem.usableFrames(0));
      expect(mem.freeFrames(1)).to.equal(before1);
      const f1 = mem.allocator.alloc(1);
      expect(mem.nodeOf(f1)).to.equal(1);
    });

    it('throws on a double free and leaves the counters unchanged', () => {
      const mem = PhysicalMemory.create({ bytes: MiB, numaNodes: 1 });
      const f = mem.allocator.alloc(0);
      mem.allocator.free(f);
      const free = mem.freeFrames();
      expect(() => mem.allocator.free(f)).to.throw(/double free/);
      expect(mem.freeFrames()).to.equal(free);
    });

    it('address spaces search from their own start hints, on different 64-byte lines of the bitmap, not one shared word', () => {
      const mem = PhysicalMemory.create({ bytes: 64 * 2 ** 20, numaNodes: 1 });
      const a = bareSpace({ pid: 1 }, mem).space;
      const b = bareSpace({ pid: 2 }, mem).space;
      const frameOf = (s: typeof a): number => {
        const addr = s.mmap(PAGE_SIZE);
        s.write(addr, Uint8Array.of(1));
        return pteFrame(Atomics.load(s.pt, addr / PAGE_SIZE));
      };
      const line = (f: number): number => (f >>> 5) >>> 4; // 32 frames a word, 16 words a line
      const fa = frameOf(a);
      const fb = frameOf(b);
      expect(line(fa)).not.to.equal(line(fb));
      // Each goes on where it left off: its next frame is on its own line.
      expect(line(frameOf(a))).to.equal(line(fa));
      expect(line(frameOf(b))).to.equal(line(fb));
    });

    it('an address space whose start line is full takes frames from the rest of the node', () => {
      const mem = PhysicalMemory.create({ bytes: 64 * PAGE_SIZE, numaNodes: 1 });
      const s = bareSpace({ pid: 5 }, mem).space;
      const free = mem.freeFrames();
      const addr = s.mmap(free * PAGE_SIZE);
      s.memset(addr, 9, free * PAGE_SIZE);
      expect(mem.freeFrames()).to.equal(0);
    });

    it('hands out zero-filled frames from allocZeroed even after a frame was dirtied and freed', () => {
      const mem = PhysicalMemory.create({ bytes: MiB, numaNodes: 1 });
      const all: number[] = [];
      for (let f = mem.allocZeroed(0); f >= 0; f = mem.allocZeroed(0)) all.push(f);
      for (const f of all) {
        mem.bankU8[0]!.fill(0xa5, f * 4096, f * 4096 + 4096);
        mem.free(f);
      }
      for (let f = mem.allocZeroed(0); f >= 0; f = mem.allocZeroed(0)) {
        expect(mem.frameBytes(f).every((b) => b === 0), `frame ${f}`).to.equal(true);
      }
    });
  });

  describe('with four worker threads at once', function () {
    this.timeout(30_000);
    let workers: Worker[] = [];

    afterEach(async () => {
      await Promise.all(workers.map((w) => w.terminate()));
      workers = [];
    });

    function launch(mem: PhysicalMemory, mode: 'churn' | 'exhaust', ops: number, maxHeld: number, hugePercent = 0): { go: Int32Array; owner: Int32Array; results: Promise<FrameChurnResult>[] } {
      const goBuf = new SharedArrayBuffer(12);
      const ownerBuf = new SharedArrayBuffer(mem.totalFrames * 4);
      const results: Promise<FrameChurnResult>[] = [];
      for (let id = 0; id < 4; id++) {
        const data: FrameChurnData = {
          memory: mem.handles, owner: ownerBuf, go: goBuf, id, node: id % mem.nodes.length, mode, ops, maxHeld, seed: 0x5eed + id, hugePercent,
        };
        const w = startTsWorker(CHURN, data);
        workers.push(w);
        results.push(firstMessage<FrameChurnResult>(w, 25_000));
      }
      return { go: new Int32Array(goBuf), owner: new Int32Array(ownerBuf), results };
    }

    /** Wait until all four workers have booted and parked on the go word, then release them together. */
    async function release(go: Int32Array, index: number): Promise<void> {
      const deadline = Date.now() + 20_000;
      while (Atomics.load(go, 2) < 4) {
        if (Date.now() > deadline) throw new Error('workers did not start');
        await new Promise((r) => setTimeout(r, 5));
      }
      Atomics.store(go, index, 1);
      Atomics.notify(go, index);
    }

    it('never hands one frame to two workers, and every free returns exactly', async () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 2 }); // 512 frames per node
      const start = mem.nodes.map((_, n) => mem.freeFrames(n));
      // Two workers per node, each holding up to 300 frames: the nodes run dry now and then.
      const { go, owner, results } = launch(mem, 'churn', 200_000, 300);
      await release(go, 0);
      const out = await Promise.all(results);
      for (const r of out) {
        expect(r.duplicates, `worker ${r.id} duplicates`).to.equal(0);
        expect(r.stampsChanged, `worker ${r.id} stamps overwritten`).to.equal(0);
        expect(r.allocs, `worker ${r.id} allocs`).to.equal(r.frees);
        expect(r.allocs).to.be.greaterThan(10_000);
      }
      // Two workers of up to 300 frames share a 512-frame node, so both nodes ran dry meanwhile.
      for (let n = 0; n < 2; n++) expect(out.filter((r) => r.id % 2 === n).reduce((s, r) => s + r.refusals, 0), `refusals on node ${n}`).to.be.greaterThan(0);
      expect(mem.nodes.map((_, n) => mem.freeFrames(n))).to.deep.equal(start);
      expect(mem.nodes.map((_, n) => recountFree(mem, n))).to.deep.equal(start);
      expect(owner.every((o) => o === 0)).to.equal(true);
    });

    it('hands out 2 MiB folios (512 aligned frames) among racing single-frame allocations, never a frame twice', async () => {
      const mem = PhysicalMemory.create({ bytes: 32 * MiB, numaNodes: 2 }); // 4096 frames, 8 folios per node
      const start = mem.nodes.map((_, n) => mem.freeFrames(n));
      const { go, owner, results } = launch(mem, 'churn', 100_000, 900, 10);
      await release(go, 0);
      const out = await Promise.all(results);
      for (const r of out) {
        expect(r.duplicates, `worker ${r.id} duplicates`).to.equal(0);
        expect(r.stampsChanged, `worker ${r.id} stamps overwritten`).to.equal(0);
        expect(r.misaligned, `worker ${r.id} misaligned folios`).to.equal(0);
        expect(r.wrongNode, `worker ${r.id} wrong node`).to.equal(0);
        expect(r.allocs, `worker ${r.id} allocs`).to.equal(r.frees);
      }
      expect(out.reduce((s, r) => s + r.hugeAllocs, 0), 'folios taken').to.be.greaterThan(3);
      expect(mem.nodes.map((_, n) => mem.freeFrames(n))).to.deep.equal(start);
      expect(mem.nodes.map((_, n) => recountFree(mem, n))).to.deep.equal(start);
      expect(owner.every((o) => o === 0)).to.equal(true);
    });

    it('keeps every per-node allocation on its node', async () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 2 });
      const { go, results } = launch(mem, 'churn', 50_000, 200);
      await release(go, 0);
      for (const r of await Promise.all(results)) expect(r.wrongNode, `worker ${r.id}`).to.equal(0);
    });

    it('drains a node among racing workers exactly once per frame, then returns -1 until frames come back', async () => {
      const mem = PhysicalMemory.create({ bytes: 4 * MiB, numaNodes: 2 });
      const start = mem.nodes.map((_, n) => mem.freeFrames(n));
      const { go, owner, results } = launch(mem, 'exhaust', 0, 0);
      await release(go, 0);
      const drained = await Promise.all(results);
      for (const r of drained) {
        expect(r.duplicates, `worker ${r.id}`).to.equal(0);
        expect(r.stayedExhausted, `worker ${r.id} got a frame after -1`).to.equal(true);
      }
      for (let n = 0; n < mem.nodes.length; n++) {
        const taken = drained.filter((r) => r.id % mem.nodes.length === n).reduce((s, r) => s + r.heldAtExhaustion, 0);
        expect(taken, `frames taken on node ${n}`).to.equal(mem.usableFrames(n));
        expect(mem.freeFrames(n)).to.equal(0);
        expect(mem.allocator.alloc(n)).to.equal(-1);
      }
      const freed = workers.map((w) => firstMessage<FrameChurnResult>(w, 25_000));
      await release(go, 1);
      for (const r of await Promise.all(freed)) expect(r.frees).to.equal(r.allocs);
      expect(mem.nodes.map((_, n) => mem.freeFrames(n))).to.deep.equal(start);
      expect(mem.nodes.map((_, n) => recountFree(mem, n))).to.deep.equal(start);
      expect(owner.every((o) => o === 0)).to.equal(true);
    });
  });
});
