// errno-surface.test.ts — errors reach guest programs in real worker threads as ErrnoError with the
// kernel's code and number: memory syscalls, sysfs permissions and values, /proc/self/ksm_stat.
import { expect } from 'chai';
import { ERRNO } from '../../src/guest/index.ts';
import { Host, type GuestReport } from '../../src/host/host.ts';

const PROBE = new URL('../fixtures/errno-probe.ts', import.meta.url).pathname;
const UNCAUGHT = new URL('../fixtures/uncaught-efault.ts', import.meta.url).pathname;

interface Probe {
  case: string;
  code: string;
  errno?: number;
  isErrnoError?: boolean;
}

interface ProbeRun {
  report: GuestReport;
  probes: Map<string, Probe>;
  lines: string[];
}

describe('the GuestSys surface in a guest worker', function () {
  this.timeout(30_000);
  let host: Host;
  const logs = new Map<string, string[]>();
  let user: ProbeRun;
  let root: ProbeRun;
  let uncaught: GuestReport;

  before(async () => {
    host = await Host.start({
      memoryBytes: 16 * 2 ** 20,
      ksmd: false,
      onLog: (line) => {
        const m = /^\[([^\]]+)\] (.*)$/.exec(line);
        if (m) logs.set(m[1]!, [...(logs.get(m[1]!) ?? []), m[2]!]);
      },
    });
    const [u, r, x] = await Promise.all([
      host.launch(PROBE, { name: 'user' }).done,
      host.launch(PROBE, { name: 'root', root: true }).done,
      host.launch(UNCAUGHT, { name: 'uncaught' }).done,
    ]);
    const collect = (report: GuestReport): ProbeRun => {
      const lines = logs.get(report.name) ?? [];
      const probes = new Map<string, Probe>();
      for (const l of lines) {
        if (!l.startsWith('probe ')) continue;
        const p = JSON.parse(l.slice(6)) as Probe;
        probes.set(p.case, p);
      }
      return { report, probes, lines };
    };
    user = collect(u);
    root = collect(r);
    uncaught = x;
  });

  after(async () => {
    await host?.shutdown();
  });

  function code(run: ProbeRun, name: string): string {
    const p = run.probes.get(name);
    expect(p, `probe "${name}" ran (guest ${run.report.name}: ${run.report.status} ${run.report.error ?? ''})`).to.not.equal(undefined);
    if (p!.code !== 'OK') {
      expect(p!.isErrnoError, `"${name}" threw an ErrnoError`).to.equal(true);
      expect(p!.errno, `"${name}" errno number`).to.equal(ERRNO[p!.code as keyof typeof ERRNO]);
    }
    return p!.code;
  }

  it('the probe guests ran to completion, every failure an ErrnoError', () => {
    expect(user.report.status).to.equal('exited');
    expect(root.report.status).to.equal('exited');
    expect(user.probes.size).to.be.greaterThan(30);
  });

  describe('memory syscalls', () => {
    const cases: Array<[string, string]> = [
      ['mmap length 0', 'EINVAL'],
      ['mmap bad prot', 'EINVAL'],
      ['mmap neither shared nor private', 'EINVAL'],
      ['mmap both shared and private', 'EINVAL'],
      ['mmap without MAP_ANONYMOUS', 'EBADF'],
      ['mmap beyond the address space', 'ENOMEM'],
      ['munmap unaligned', 'EINVAL'],
      ['munmap length 0', 'EINVAL'],
      ['mprotect unaligned', 'EINVAL'],
      ['mprotect bad prot', 'EINVAL'],
      ['mprotect over a hole', 'ENOMEM'],
      ['mbind bad node', 'EINVAL'],
      ['mbind unmapped', 'EFAULT'],
      ['madvise bad advice', 'EINVAL'],
      ['madvise unaligned', 'EINVAL'],
      ['madvise over a gap', 'ENOMEM'],
      ['madvise MADV_MERGEABLE on MAP_SHARED', 'OK'],
      ['prctl unknown option', 'EINVAL'],
      ['prctl PR_GET_MEMORY_MERGE with an argument', 'EINVAL'],
      ['read unmapped', 'EFAULT'],
      ['write unmapped', 'EFAULT'],
      ['memset unmapped', 'EFAULT'],
      ['write PROT_READ', 'EFAULT'],
      ['read PROT_NONE', 'EFAULT'],
      ['read untouched', 'OK'],
    ];
    for (const [name, expected] of cases) {
      it(`${name}: ${expected === 'OK' ? 'succeeds' : `fails with ${expected}`}`, () => {
        expect(code(user, name)).to.equal(expected);
      });
    }

    it('an ErrnoError the program does not catch fails the guest, naming the errno', () => {
      expect(uncaught.status).to.equal('failed');
      expect(uncaught.exitCode).to.not.equal(0);
      expect(uncaught.error).to.contain('EFAULT');
    });
  });

  describe('sysfs and procfs', () => {
    it('a knob write by a non-root guest fails with EACCES', () => {
      expect(code(user, 'sysfs write run=1')).to.equal('EACCES');
      expect(code(user, 'sysfs write sleep_millisecs=50')).to.equal('EACCES');
    });

    it('a knob write by a root guest succeeds', () => {
      expect(code(root, 'sysfs write sleep_millisecs=50')).to.equal('OK');
    });

    it('a write to a read-only counter fails with EACCES even as root', () => {
      for (const run of [user, root]) {
        expect(code(run, 'sysfs write read-only pages_shared')).to.equal('EACCES');
        expect(code(run, 'sysfs write read-only full_scans')).to.equal('EACCES');
      }
    });

    it('an unknown file fails with ENOENT, for reads and writes, root or not', () => {
      for (const run of [user, root]) {
        expect(code(run, 'sysfs read unknown file')).to.equal('ENOENT');
        expect(code(run, 'sysfs write unknown file')).to.equal('ENOENT');
        expect(code(run, 'read outside sysfs and procfs')).to.equal('ENOENT');
      }
    });

    it('run 3 fails with EINVAL', () => {
      expect(code(root, 'sysfs write run 3')).to.equal('EINVAL');
    });

    it('pages_to_scan "abc" fails with EINVAL', () => {
      expect(code(root, 'sysfs write pages_to_scan abc')).to.equal('EINVAL');
    });

    it('sleep_millisecs -1 fails with EINVAL', () => {
      expect(code(root, 'sysfs write sleep_millisecs -1')).to.equal('EINVAL');
    });

    it('max_page_sharing 1 fails with EINVAL', () => {
      expect(code(root, 'sysfs write max_page_sharing 1')).to.equal('EINVAL');
    });

    it('knob files read as the kernel formats them: a number and a newline', () => {
      expect(user.lines).to.include('sysfs_max_page_sharing "256\\n"');
    });

    it('/proc/self/ksm_stat has the six kernel lines in order, with the guest\'s own state', () => {
      const line = user.lines.find((l) => l.startsWith('ksm_stat '));
      expect(line).to.not.equal(undefined);
      const text = JSON.parse(line!.slice('ksm_stat '.length)) as string;
      expect(text).to.match(
        /^ksm_rmap_items \d+\nksm_zero_pages \d+\nksm_merging_pages \d+\nksm_process_profit -?\d+\nksm_merge_any: (yes|no)\nksm_mergeable: (yes|no)\n$/,
      );
      // No ksmd ran; the probe's madvise over a gap still marked its mapped parts MADV_MERGEABLE.
      expect(text).to.equal('ksm_rmap_items 0\nksm_zero_pages 0\nksm_merging_pages 0\nksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: yes\n');
    });
  });
});
