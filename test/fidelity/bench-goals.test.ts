// bench-goals.test.ts — `npm run bench` judges goals stated against the kernel only against the kernel
// measured in the same run: with a measurement, met or not met by the factor; without one, "kernel not
// measured", never "met"; and no kernel figure is typed into the benches.
import { expect } from 'chai';
import { goalVerdict, judgeAgainstKernel, verdictWord } from '../../src/bench/goals.ts';
import { kernelMergeFor, type KernelYardstick } from '../../src/bench/kernel-yardstick.ts';
import * as ksmMerge from '../../bench/ksm-merge.bench.ts';

const NOT_MEASURED: KernelYardstick = { measured: false, reason: 'the linux backend needs Linux (this is darwin)' };
const MEASURED: KernelYardstick = {
  measured: true, kernel: '6.18', scan_mib_s: 1500, scan_per_ksmd_cpu_mib_s: 1650, cow_ns_per_page: 3000, write_ns_per_page: 60,
  merge: [{ mib: 64, wall_mib_s: 900, per_ksmd_cpu_mib_s: 1000 }, { mib: 256, wall_mib_s: 1100, per_ksmd_cpu_mib_s: null }],
};
const C64: ksmMerge.MergeConfig = { mib: 64, pages: 16384, maxSharing: 256, label: 'max_page_sharing 256' };
const timing = (cpuMs: number): ksmMerge.MergeTiming => ({ wallMeanMs: 50, wallMinMs: 40, cpuMeanMs: cpuMs, floorCpuMs: null, rmePct: 1, runs: 5 });

describe('bench goals against the kernel', () => {
  it('are met when the emulator reaches the factor times the kernel figure measured in the run', () => {
    expect(judgeAgainstKernel(2000, 1000, 2)).to.deep.equal({ verdict: 'met', ratio: 2, target: 2000 });
    expect(judgeAgainstKernel(1999, 1000, 2)).to.include({ verdict: 'not met' });
  });

  it('judge a cost the other way round: factor times lower', () => {
    expect(judgeAgainstKernel(1500, 3000, 2, false)).to.deep.equal({ verdict: 'met', ratio: 2, target: 1500 });
    expect(judgeAgainstKernel(1600, 3000, 2, false)).to.include({ verdict: 'not met' });
  });

  it('say "kernel not measured", never "met", without a kernel figure', () => {
    for (const k of [undefined, NaN, 0]) {
      expect(judgeAgainstKernel(1e9, k, 2)).to.deep.equal({ verdict: 'kernel not measured', ratio: null, target: null });
    }
    expect(verdictWord('kernel not measured')).to.equal('KERNEL NOT MEASURED');
    expect(goalVerdict({ what: 'x', value: 1, target: null, met: false, verdict: 'kernel not measured' })).to.equal('kernel not measured');
    expect(goalVerdict({ what: 'no kernel in it', value: 1, target: 0.5, met: true })).to.equal('met');
  });

  it('take the kernel\'s merge speed per ksmd CPU second at the same size, else its wall clock', () => {
    expect(kernelMergeFor(MEASURED, 64)).to.deep.equal({ mib_s: 1000, basis: 'ksmd CPU' });
    expect(kernelMergeFor(MEASURED, 256)).to.deep.equal({ mib_s: 1100, basis: 'wall' });
    expect(kernelMergeFor(MEASURED, 8)).to.equal(undefined);
    expect(kernelMergeFor(NOT_MEASURED, 64)).to.equal(undefined);
  });

  it('the merge table row shows the measured kernel figure, the ratio and the verdict', () => {
    const row = ksmMerge.mergeRow('in process', C64, timing(25), MEASURED); // 64 MiB in 25 ms of CPU: 2560 MiB/s
    expect(row).to.include({ 'kernel MiB/s': 1000, 'x kernel': 2.56, 'goal >= 2x': 'met' });
    expect(ksmMerge.mergeRow('in process', C64, timing(40), MEASURED)).to.include({ 'goal >= 2x': 'not met' });
  });

  it('the merge table row says "not measured" and the goal "kernel not measured" where the kernel could not be measured', () => {
    const row = ksmMerge.mergeRow('in process', C64, timing(1), NOT_MEASURED);
    expect(row).to.include({ 'kernel MiB/s': 'not measured', 'x kernel': null, 'goal >= 2x': 'kernel not measured' });
  });

  it('no kernel figure is typed into the merge bench', () => {
    expect(Object.keys(ksmMerge).filter((k) => /^KERNEL_/.test(k))).to.deep.equal([]);
  });
});
