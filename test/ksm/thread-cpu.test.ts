// thread-cpu.test.ts — ksmd's CPU figure is the CPU time of its own thread (/proc/thread-self, read by
// the thread itself), never more than the wall time the thread has existed; the /proc parsers.
import { expect } from 'chai';
import { MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { parseSchedstatMs, parseStatCpuMs } from '../../src/ksm/thread-cpu.ts';
import { KsmHarness } from '../helpers/ksm-harness.ts';

describe('ksmd thread CPU time', function () {
  this.timeout(60_000);
  let h: KsmHarness | undefined;

  after(async () => {
    await h?.shutdown();
  });

  it('after a scan, ksmd reports a thread CPU time above zero and at most the wall time since it was spawned', async () => {
    h = await KsmHarness.start({ memoryBytes: 16 * 2 ** 20, knobs: { sleep_millisecs: 0, pages_to_scan: 10_000 } });
    const g = await h.guest();
    await g.do({ op: 'mmap', region: 'r', pages: 256 });
    await g.do({ op: 'fill', region: 'r', kind: 'seeded', seed: 7 });
    await g.do({ op: 'madvise', region: 'r', advice: MADV_MERGEABLE });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const s = await h.host.ksmd!.stats();
    expect(s.cpuClock).to.equal('schedstat');
    expect(s.cpuMs).to.be.a('number').greaterThan(0);
    expect(s.cpuMs!).to.be.at.most(s.threadWallMs);
  });

  it('takes sum_exec_runtime, the first schedstat field, in nanoseconds', () => {
    expect(parseSchedstatMs('1888306938 3627816682 956\n')).to.equal(1888.306938);
  });

  it('takes utime + stime from stat after the last ")", whatever the command name holds', () => {
    const line = '6316 (a) b) c) R 6304 6304 3205 0 -1 4194368 2299 0 0 0 187 13 0 0 20 0 8 0 22648 1631875072 14643\n';
    expect(parseStatCpuMs(line)).to.equal(2000);
  });
});
