// bench-vs-linux.test.ts — `ksmsim bench --vs-linux` output from synthetic measurements: the BENCH
// lines a guest logs, the ratios and the goals (the real measurement takes minutes: not run here).
import { expect } from 'chai';
import { benchValues, vsLinuxTable, type VsLinuxResult } from '../../src/bench/vs-linux.ts';
import { loadScenario } from '../../src/fidelity/scenarios.ts';
import { BENCH_GUEST_DIR } from '../../src/bench/vs-linux.ts';

describe('bench --vs-linux', () => {
  it('reads BENCH lines of the guests and fails naming a guest that failed', () => {
    const v = benchValues({ backend: 'linux', seconds: 1, guests: [{ name: 'g0', exitCode: 0, logs: ['BENCH merge_mib_s 812.5', 'NOTE x 1', 'other'] }] });
    expect(v).to.deep.equal({ merge_mib_s: 812.5 });
    expect(() => benchValues({ backend: 'linux', seconds: 1, guests: [{ name: 'g0', exitCode: 1, error: 'timed out', logs: [] }] })).to.throw(/g0.*linux.*timed out/);
  });

  it('prints each metric with its ratio, and judges the goals in the run and against ksmd\'s CPU rate', () => {
    const r: VsLinuxResult = {
      size_mib: 100, kernel: '6.18', date: '2026-11-23T00:00:00Z', loadavg: { before: 1, after: 1 },
      merge_mib_s: { emulator: 1700, linux: 800 }, merge_first_mib_s: { emulator: 900, linux: 800 }, scan_mib_s: { emulator: 1300, linux: 800 },
      cow_ns_per_page: { emulator: 1500, linux: 3000 }, write_ns_per_page: { emulator: 100, linux: 50 },
      linux_per_ksmd_cpu_second: { merge_mib_s: 900, scan_mib_s: 810 },
    };
    const text = vsLinuxTable(r).join('\n');
    expect(text).to.match(/merge_mib_s\s+1700 MiB\/s\s+800 MiB\/s\s+2\.13\s+2\.13× faster/);
    expect(text).to.match(/cow_ns_per_page\s+1500 ns\s+3000 ns\s+0\.50\s+2\.00× faster/);
    expect(text).to.match(/write_ns_per_page.*2\.00× slower/);
    expect(text).to.contain("goal: merge speed ≥ 2× the kernel's: in this run met; against ksmd's per-CPU rate NOT met (1.89×)");
    expect(text).to.contain("goal: scan rate ≥ 1.5× the kernel's: in this run met; against ksmd's per-CPU rate met (1.60×)");
  });

  it('has a guest program for each measurement, with the knobs of the kernel selftests', async () => {
    for (const name of ['merge-speed', 'scan-rate', 'cow-cost']) {
      const s = await loadScenario(name, BENCH_GUEST_DIR);
      expect(s.meta.knobs, name).to.include({ pages_to_scan: '100000', sleep_millisecs: '0', run: '1' });
    }
  });
});
