// linux-sys.test.ts — the linux backend's GuestSys against the real kernel, in this process:
// mappings, data access, errnos of mmap/madvise/mprotect/mbind/prctl, and the file view.
import { expect } from 'chai';
import { requireLinuxAddon } from '../../../src/backend/linux/addon.ts';
import { withKnobGuard } from '../../../src/backend/linux/knob-guard.ts';
import { LinuxSys } from '../../../src/backend/linux/linux-sys.ts';
import {
  ErrnoError, MADV_DONTNEED, MADV_MERGEABLE, MADV_UNMERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE,
  PR_GET_MEMORY_MERGE, PR_SET_MEMORY_MERGE, PROT_NONE, PROT_READ, PROT_WRITE,
} from '../../../src/guest/index.ts';
import { skipUnlessLinuxBackend } from './skip-unless-available.ts';

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(ErrnoError);
    return (e as ErrnoError).code;
  }
  throw new Error('expected an ErrnoError, but the call succeeded');
}

function ksmStat(sys: LinuxSys): Record<string, string> {
  return Object.fromEntries(sys.readFile('/proc/self/ksm_stat').trim().split('\n').map((l) => l.split(/:? /) as [string, string]));
}

describe('linux backend: LinuxSys on the real kernel', function () {
  let sys: LinuxSys;
  const logs: string[] = [];
  const mapped: Array<[number, number]> = [];

  beforeEach(function () {
    skipUnlessLinuxBackend(this);
    sys = new LinuxSys({ addon: requireLinuxAddon(), root: false, logLine: (l) => logs.push(l) });
  });

  afterEach(function () {
    for (const [a, n] of mapped.splice(0)) sys?.munmap(a, n);
  });

  function map(pages: number, prot?: number, flags?: number): number {
    const a = sys.mmap(pages * PAGE_SIZE, prot, flags);
    mapped.push([a, pages * PAGE_SIZE]);
    return a;
  }

  it('reports itself as the linux backend of this process', function () {
    expect(sys.backend).to.equal('linux');
    expect(sys.pid).to.equal(process.pid);
    expect(sys.pageSize).to.equal(4096);
  });

  it('maps page-aligned memory that reads back what was written, zeros elsewhere', function () {
    const a = map(3);
    expect(a % PAGE_SIZE).to.equal(0);
    sys.write(a + PAGE_SIZE - 2, new Uint8Array([1, 2, 3, 4]));
    sys.memset(a + 2 * PAGE_SIZE, 0xab, 10);
    expect([...sys.read(a + PAGE_SIZE - 3, 6)]).to.deep.equal([0, 1, 2, 3, 4, 0]);
    expect([...sys.read(a + 2 * PAGE_SIZE + 8, 4)]).to.deep.equal([0xab, 0xab, 0, 0]);
  });

  it('marks every mapping MADV_NOHUGEPAGE (nh in /proc/self/smaps)', function () {
    const a = map(2);
    const smaps = sys.readFile('/proc/self/smaps');
    const at = smaps.indexOf(`${a.toString(16)}-`);
    expect(at, 'mapping listed in smaps').to.be.greaterThan(-1);
    const flags = /VmFlags:([^\n]*)/.exec(smaps.slice(at))![1];
    expect(flags.split(' ')).to.include('nh');
  });

  it('gives EFAULT outside any mapping and for a write to a PROT_READ mapping', function () {
    const a = map(1, PROT_READ);
    expect([...sys.read(a, 2)]).to.deep.equal([0, 0]);
    expect(errnoOf(() => sys.write(a, new Uint8Array([1])))).to.equal('EFAULT');
    expect(errnoOf(() => sys.memset(a, 1, 1))).to.equal('EFAULT');
    expect(errnoOf(() => sys.read(a + PAGE_SIZE - 1, 2))).to.equal('EFAULT');
    expect(errnoOf(() => sys.read(4096, 1))).to.equal('EFAULT');
  });

  it('follows mprotect: PROT_NONE faults reads, PROT_WRITE again allows writes', function () {
    const a = map(2);
    sys.mprotect(a, PAGE_SIZE, PROT_NONE);
    expect(errnoOf(() => sys.read(a, 1))).to.equal('EFAULT');
    sys.write(a + PAGE_SIZE, new Uint8Array([7]));
    sys.mprotect(a, PAGE_SIZE, PROT_READ | PROT_WRITE);
    sys.write(a, new Uint8Array([9]));
    expect([...sys.read(a, 1)]).to.deep.equal([9]);
  });

  it('munmap of part of a mapping leaves the rest usable and the part EFAULT', function () {
    const a = sys.mmap(3 * PAGE_SIZE);
    sys.munmap(a + PAGE_SIZE, PAGE_SIZE);
    sys.memset(a, 1, PAGE_SIZE);
    sys.memset(a + 2 * PAGE_SIZE, 2, PAGE_SIZE);
    expect(errnoOf(() => sys.read(a + PAGE_SIZE, 1))).to.equal('EFAULT');
    sys.munmap(a, 3 * PAGE_SIZE);
    expect(errnoOf(() => sys.read(a, 1))).to.equal('EFAULT');
  });

  it('rejects what the kernel rejects in mmap', function () {
    expect(errnoOf(() => sys.mmap(0))).to.equal('EINVAL');
    expect(errnoOf(() => sys.mmap(PAGE_SIZE, PROT_READ, MAP_PRIVATE))).to.equal('EBADF');
    expect(errnoOf(() => sys.mmap(PAGE_SIZE, PROT_READ, MAP_ANONYMOUS))).to.equal('EINVAL');
    expect(errnoOf(() => sys.mmap(2 ** 50))).to.equal('ENOMEM');
  });

  it('madvise: bad advice and an unaligned start are EINVAL, a hole is ENOMEM', function () {
    const a = map(3);
    expect(errnoOf(() => sys.madvise(a, PAGE_SIZE, 999))).to.equal('EINVAL');
    expect(errnoOf(() => sys.madvise(a + 1, PAGE_SIZE, MADV_MERGEABLE))).to.equal('EINVAL');
    sys.munmap(a + PAGE_SIZE, PAGE_SIZE);
    expect(errnoOf(() => sys.madvise(a, 3 * PAGE_SIZE, MADV_MERGEABLE))).to.equal('ENOMEM');
    sys.madvise(a, PAGE_SIZE, MADV_UNMERGEABLE);
  });

  it('madvise(MADV_MERGEABLE) sets ksm_mergeable until MADV_UNMERGEABLE clears it', function () {
    const a = map(4);
    expect(ksmStat(sys).ksm_mergeable).to.equal('no');
    sys.madvise(a, 4 * PAGE_SIZE, MADV_MERGEABLE);
    expect(ksmStat(sys).ksm_mergeable).to.equal('yes');
    sys.madvise(a, 4 * PAGE_SIZE, MADV_UNMERGEABLE);
    expect(ksmStat(sys).ksm_mergeable).to.equal('no');
  });

  it('madvise(MADV_MERGEABLE) on a MAP_SHARED mapping succeeds', function () {
    const a = map(2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    sys.madvise(a, 2 * PAGE_SIZE, MADV_MERGEABLE);
    expect(ksmStat(sys).ksm_mergeable).to.equal('no');
  });

  it('MADV_DONTNEED drops the contents of a private mapping', function () {
    const a = map(1);
    sys.memset(a, 5, PAGE_SIZE);
    sys.madvise(a, PAGE_SIZE, MADV_DONTNEED);
    expect([...sys.read(a, 2)]).to.deep.equal([0, 0]);
  });

  it('mprotect over a hole is ENOMEM, unaligned is EINVAL', function () {
    const a = map(3);
    sys.munmap(a + PAGE_SIZE, PAGE_SIZE);
    expect(errnoOf(() => sys.mprotect(a, 3 * PAGE_SIZE, PROT_READ))).to.equal('ENOMEM');
    // The part before the hole was changed, as mprotect_fixup does.
    expect(errnoOf(() => sys.write(a, new Uint8Array([1])))).to.equal('EFAULT');
    expect(errnoOf(() => sys.mprotect(a + 1, PAGE_SIZE, PROT_READ))).to.equal('EINVAL');
  });

  it("a range over the runtime's own memory only reaches the guest's mappings", function () {
    const a = sys.mmap(2 * PAGE_SIZE);
    const huge = 2 ** 36; // from the mapping up across the libraries and the stack
    expect(errnoOf(() => sys.madvise(a, huge, MADV_MERGEABLE))).to.equal('ENOMEM');
    expect(ksmStat(sys).ksm_mergeable).to.equal('yes');
    expect(errnoOf(() => sys.mprotect(a, huge, PROT_READ))).to.equal('ENOMEM');
    expect(errnoOf(() => sys.write(a, new Uint8Array([1])))).to.equal('EFAULT');
    expect(errnoOf(() => sys.mbind(a, huge, 0))).to.equal('EFAULT');
    sys.munmap(a, huge);
    expect(errnoOf(() => sys.read(a, 1))).to.equal('EFAULT');
    expect(ksmStat(sys).ksm_mergeable).to.equal('no');
  });

  it('mbind binds to node 0 and rejects a node that does not exist', function () {
    const a = map(2);
    sys.mbind(a, 2 * PAGE_SIZE, 0);
    expect(errnoOf(() => sys.mbind(a, 2 * PAGE_SIZE, 63))).to.equal('EINVAL');
  });

  it('prctl: PR_SET_MEMORY_MERGE 1 then 0 is read back by PR_GET_MEMORY_MERGE and ksm_stat', function () {
    expect(sys.prctl(PR_GET_MEMORY_MERGE)).to.equal(0);
    try {
      expect(sys.prctl(PR_SET_MEMORY_MERGE, 1)).to.equal(0);
      expect(sys.prctl(PR_GET_MEMORY_MERGE)).to.equal(1);
      expect(ksmStat(sys)).to.include({ ksm_merge_any: 'yes', ksm_mergeable: 'yes' });
    } finally {
      sys.prctl(PR_SET_MEMORY_MERGE, 0);
    }
    expect(sys.prctl(PR_GET_MEMORY_MERGE)).to.equal(0);
    expect(ksmStat(sys)).to.include({ ksm_merge_any: 'no', ksm_mergeable: 'no' });
  });

  it('prctl: GET with an argument and options other than the KSM ones are EINVAL', function () {
    expect(errnoOf(() => sys.prctl(PR_GET_MEMORY_MERGE, 1))).to.equal('EINVAL');
    expect(errnoOf(() => sys.prctl(15 /* PR_SET_NAME */, 0))).to.equal('EINVAL');
  });

  it('reads /proc/self/ksm_stat and sysfs files in the kernel format', function () {
    expect(sys.readFile('/proc/self/ksm_stat')).to.match(
      /^ksm_rmap_items \d+\nksm_zero_pages \d+\nksm_merging_pages \d+\nksm_process_profit -?\d+\nksm_merge_any: (yes|no)\nksm_mergeable: (yes|no)\n$/,
    );
    expect(sys.readFile('/sys/kernel/mm/ksm/pages_shared')).to.match(/^\d+\n$/);
    expect(sys.readFile('/sys/kernel/mm/ksm/advisor_mode')).to.match(/\[(none|scan-time)\]/);
  });

  it('files: unknown is ENOENT, a write by a non-root guest is EACCES', function () {
    expect(errnoOf(() => sys.readFile('/sys/kernel/mm/ksm/no_such_knob'))).to.equal('ENOENT');
    expect(errnoOf(() => sys.readFile('/etc/passwd'))).to.equal('ENOENT');
    expect(errnoOf(() => sys.writeFile('/sys/kernel/mm/ksm/run', '1'))).to.equal('EACCES');
  });

  it('files as root: a read-only file is EACCES, a bad value EINVAL, an unknown file ENOENT', async function () {
    const root = new LinuxSys({ addon: requireLinuxAddon(), root: true, logLine: () => {} });
    await withKnobGuard(async () => {
      expect(errnoOf(() => root.writeFile('/sys/kernel/mm/ksm/pages_shared', '1'))).to.equal('EACCES');
      expect(errnoOf(() => root.writeFile('/sys/kernel/mm/ksm/run', '3'))).to.equal('EINVAL');
      expect(errnoOf(() => root.writeFile('/sys/kernel/mm/ksm/sleep_millisecs', '-1'))).to.equal('EINVAL');
      expect(errnoOf(() => root.writeFile('/sys/kernel/mm/ksm/max_page_sharing', '1'))).to.equal('EINVAL');
      expect(errnoOf(() => root.writeFile('/sys/kernel/mm/ksm/no_such_knob', '1'))).to.equal('ENOENT');
    }, { waitMs: 10_000 });
  });

  it('log formats its arguments like console.log', function () {
    sys.log('x=%d', 5, { a: 1 });
    expect(logs.at(-1)).to.equal('x=5 { a: 1 }');
  });
});
