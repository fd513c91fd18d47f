// proc-memory.test.ts — reading what the kernel says about a guest process's own memory and about
// ksmd: smaps summed over the guest's mappings only, ksmd found by name and parent, its CPU time;
// and a guest process reporting its mappings to the parent as they change.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import {
  findKsmdPid, readGuestVmaBytes, readMemAvailable, readThreadCpu, sumSmapsInRanges,
} from '../../../src/backend/linux/proc-memory.ts';
import { startLinuxGuest } from '../../../src/backend/linux/run-linux-guest.ts';
import { skipUnlessLinuxBackend } from './skip-unless-available.ts';

const SMAPS = `00400000-00402000 r-xp 00000000 fe:00 1 /usr/bin/node
Rss:                   8 kB
Pss:                   8 kB
Anonymous:             0 kB
KSM:                   0 kB
7f0000000000-7f0000004000 rw-p 00000000 00:00 0
Rss:                  16 kB
Pss:                   6 kB
Anonymous:            16 kB
KSM:                  12 kB
VmFlags: rd wr mr mw me ac nh mg
7f0000004000-7f0000005000 rw-p 00000000 00:00 0
Rss:                   4 kB
Pss:                   4 kB
Anonymous:             4 kB
KSM:                   0 kB
7f0000010000-7f0000011000 rw-p 00000000 00:00 0
Rss:                   4 kB
Pss:                   4 kB
Anonymous:             4 kB
`;

describe('linux backend: the kernel\'s view of a guest\'s memory', function () {
  this.timeout(30_000);

  it('sums Rss, Pss, Anonymous and KSM of the VMAs inside the guest\'s mappings only', () => {
    const base = 0x7f0000000000;
    expect(sumSmapsInRanges(SMAPS, [[base, base + 5 * 4096]])).to.deep.equal({ rss: 20 * 1024, pss: 10 * 1024, anonymous: 20 * 1024, ksm: 12 * 1024 });
  });

  it('counts nothing when no VMA lies in the ranges', () => {
    expect(sumSmapsInRanges(SMAPS, [[0x1000, 0x2000]])).to.deep.equal({ rss: 0, pss: 0, anonymous: 0, ksm: 0 });
  });

  it('finds ksmd, a kernel thread, and reads its CPU time', function () {
    skipUnlessLinuxBackend(this);
    const pid = findKsmdPid();
    expect(pid).to.be.a('number');
    const cpu = readThreadCpu(pid!);
    expect(cpu?.ms).to.be.a('number').and.at.least(0);
    expect(readMemAvailable()).to.be.greaterThan(0);
  });

  it('a guest process reports its mappings after every mmap and munmap; its smaps reads as nothing once it is gone', async function () {
    skipUnlessLinuxBackend(this);
    const reports: Array<ReadonlyArray<readonly [number, number]>> = [];
    const logs: string[] = [];
    const g = startLinuxGuest({ program: fileURLToPath(new URL('./fixtures/map-and-unmap.ts', import.meta.url)) }, {
      onMaps: (r) => reports.push(r), onLog: (l) => logs.push(l), timeoutMs: 25_000,
    });
    const r = await g.done;
    expect(r.exitCode, r.error).to.equal(0);
    const { a, b } = JSON.parse(logs[0]!.replace(/^\[[^\]]+\] /, '')) as { a: number; b: number };
    expect(reports).to.have.length(3);
    expect(reports[0]).to.deep.equal([[a, a + 3 * 4096]]);
    expect([...reports[1]!].sort((x, y) => x[0] - y[0])).to.deep.equal([[a, a + 3 * 4096], [b, b + 5 * 4096]].sort((x, y) => x[0] - y[0]));
    expect(reports[2]).to.deep.equal([[b, b + 5 * 4096]]);
    // The process has ended: its smaps reads as nothing, not an error.
    expect(readGuestVmaBytes(r.pid, reports[2]!)).to.deep.equal({ rss: 0, pss: 0, anonymous: 0, ksm: 0 });
  });
});
