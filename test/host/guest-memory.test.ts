// guest-memory.test.ts — what a guest's MADV_DONTNEED, MAP_SHARED, mbind and munmap do to host memory,
// watched from the host between the steps of a real guest worker (two NUMA nodes).
import { expect } from 'chai';
import { Host, type GuestReport } from '../../src/host/host.ts';
import { raiseSignal, waitForLine } from '../helpers/guest-signal.ts';

const STEPS = new URL('../fixtures/memory-steps.ts', import.meta.url).pathname;
const MiB = 2 ** 20;

interface Snapshot {
  step: Record<string, unknown>;
  free: number[];
  used: number[];
}

describe('guest memory as the host sees it', function () {
  this.timeout(30_000);
  let host: Host;
  const lines: string[] = [];
  let start: number[];
  let usedAtStart: number[];
  const at: Record<string, Snapshot> = {};
  let report: GuestReport;

  before(async function () {
    this.timeout(30_000);
    host = await Host.start({ memoryBytes: 64 * MiB, numaNodes: 2, ksmd: false, onLog: (l) => lines.push(l) });
    await raiseSignal(host, 0);
    const freeByNode = (): number[] => host.memory.nodes.map((_, n) => host.memory.freeFrames(n));
    start = freeByNode();
    usedAtStart = host.nodeMemory().map((m) => m.usedBytes);
    const g = host.launch(STEPS, { name: 'steps', node: 0 });
    const names = ['filled', 'dropped', 'shared', 'bound', 'unmapped'];
    for (let i = 0; i < names.length; i++) {
      const line = await waitForLine(lines, new RegExp(`^\\[steps\\] step ${names[i]} `));
      at[names[i]!] = { step: JSON.parse(line.replace(/^\[steps\] step \w+ /, '')) as Record<string, unknown>, free: freeByNode(), used: host.nodeMemory().map((m) => m.usedBytes) };
      await raiseSignal(host, i + 1);
    }
    report = await g.done;
  });

  after(async () => {
    await host?.shutdown();
  });

  it('the guest ran every step and exited', () => {
    expect(report.status, report.error).to.equal('exited');
  });

  it('writing private memory takes one frame per page from the guest\'s home node', () => {
    expect(at.filled!.free).to.deep.equal([start[0]! - 256, start[1]]);
  });

  it('MADV_DONTNEED on private memory frees the frames, and reads afterwards return zeros without allocating', () => {
    expect(at.dropped!.step.zeros).to.equal(true);
    expect(at.dropped!.free).to.deep.equal(start);
  });

  it('MAP_SHARED anonymous memory keeps its data across MADV_DONTNEED', () => {
    expect(at.shared!.step.kept).to.equal(true);
    expect(at.shared!.free, 'and its munmap frees it').to.deep.equal(start);
  });

  it('mbind places new pages on the bound node', () => {
    expect(at.bound!.step.node).to.equal(0);
    expect(at.bound!.free).to.deep.equal([start[0], start[1]! - 128]);
  });

  it('host.nodeMemory() counts the bound pages as used on the bound node', () => {
    expect(at.bound!.used).to.deep.equal([usedAtStart[0], usedAtStart[1]! + 128 * 4096]);
  });

  it('munmap returns the frames to their nodes at once, before the guest exits', () => {
    expect(at.unmapped!.free).to.deep.equal(start);
  });

  it('nothing is left allocated after the guest exits', () => {
    expect(host.memory.nodes.map((_, n) => host.memory.freeFrames(n))).to.deep.equal(start);
  });
});
