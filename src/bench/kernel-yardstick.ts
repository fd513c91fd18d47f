// kernel-yardstick.ts — owns measuring the real kernel for `npm run bench`, in the same run as the
// emulator's figures: the bench guests (guests/bench/) on the linux backend alone — merge speed
// (`ksm_tests -P`) per area size, the scan rate of unique pages, copy-on-write — or the reason the
// kernel cannot be measured here. No kernel figure is ever typed into the benches.

import { release } from 'node:os';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { runOnLinux } from '../fidelity/backends.ts';
import { loadScenario } from '../fidelity/scenarios.ts';
import { BENCH_GUEST_DIR, benchValues, ksmdCpuSeconds, readPagesScanned } from './vs-linux.ts';

export interface KernelMerge {
  readonly mib: number;
  /** Wall clock, the median of the timed rounds (ksm_tests -P). */
  readonly wall_mib_s: number;
  /** MiB merged per second of ksmd CPU time over all rounds (null when ksmd's CPU time is unreadable). */
  readonly per_ksmd_cpu_mib_s: number | null;
}

export type KernelYardstick =
  | {
      readonly measured: true;
      readonly kernel: string;
      readonly merge: readonly KernelMerge[];
      readonly scan_mib_s: number;
      readonly scan_per_ksmd_cpu_mib_s: number | null;
      readonly cow_ns_per_page: number;
      readonly write_ns_per_page: number;
    }
  | { readonly measured: false; readonly reason: string };

export interface YardstickOptions {
  /** Area sizes for merge speed (one run of the merge-speed guest each). */
  readonly mergeMiB: readonly number[];
  /** Area size for the scan rate. */
  readonly scanMiB: number;
  /** Rounds of the merge-speed guest (the first is a warm-up; default 4). */
  readonly mergeRounds?: number;
  readonly onProgress?: (line: string) => void;
}

/** Measure the kernel now, or say why it cannot be (no linux backend here, or a guest failed). */
export async function measureKernel(options: YardstickOptions): Promise<KernelYardstick> {
  const avail = linuxBackendAvailable();
  if (!avail.ok) return { measured: false, reason: avail.reason ?? 'the linux backend is not available' };
  try {
    const merge: KernelMerge[] = [];
    const mergeGuest = await loadScenario('merge-speed', BENCH_GUEST_DIR);
    const rounds = options.mergeRounds ?? 4;
    for (const mib of options.mergeMiB) {
      options.onProgress?.(`kernel: merge speed, ${mib} MiB`);
      const cpu0 = ksmdCpuSeconds();
      const v = benchValues(await runOnLinux(mergeGuest, 10 * 60_000, { args: [String(mib), String(rounds)] }));
      const cpu = perSecond(mib * rounds, cpu0);
      merge.push({ mib, wall_mib_s: round(need(v, 'merge_mib_s')), per_ksmd_cpu_mib_s: cpu });
    }
    options.onProgress?.(`kernel: scan rate, ${options.scanMiB} MiB`);
    const scanGuest = await loadScenario('scan-rate', BENCH_GUEST_DIR);
    const cpu0 = ksmdCpuSeconds();
    const scanned0 = readPagesScanned();
    const scan = benchValues(await runOnLinux(scanGuest, 10 * 60_000, { args: [String(options.scanMiB)] }));
    const scanCpu = perSecond(((readPagesScanned() - scanned0) * 4096) / 2 ** 20, cpu0);
    options.onProgress?.('kernel: copy-on-write');
    const cow = benchValues(await runOnLinux(await loadScenario('cow-cost', BENCH_GUEST_DIR), 10 * 60_000));
    return {
      measured: true,
      kernel: release(),
      merge,
      scan_mib_s: round(need(scan, 'scan_mib_s')),
      scan_per_ksmd_cpu_mib_s: scanCpu,
      cow_ns_per_page: round(need(cow, 'cow_ns_per_page')),
      write_ns_per_page: round(need(cow, 'write_ns_per_page')),
    };
  } catch (e) {
    return { measured: false, reason: `measuring the kernel failed: ${(e as Error).message}` };
  }
}

/**
 * The kernel's merge speed to judge an emulator figure of an `mib` area against: per second of ksmd
 * CPU time where known (CPU time against CPU time: neither side is slowed by the shared machine's
 * other load), else wall clock; undefined when the kernel was not measured at that size.
 */
export function kernelMergeFor(y: KernelYardstick, mib: number): { mib_s: number; basis: 'ksmd CPU' | 'wall' } | undefined {
  if (!y.measured) return undefined;
  const m = y.merge.find((x) => x.mib === mib);
  if (!m) return undefined;
  return m.per_ksmd_cpu_mib_s !== null ? { mib_s: m.per_ksmd_cpu_mib_s, basis: 'ksmd CPU' } : { mib_s: m.wall_mib_s, basis: 'wall' };
}

function need(v: Record<string, number>, name: string): number {
  const x = v[name];
  if (x === undefined || !Number.isFinite(x)) throw new Error(`the bench guest did not report ${name}`);
  return x;
}

/** `amount` per second of ksmd CPU time since `cpu0`, or null when ksmd's CPU time is not readable or too small to trust. */
function perSecond(amount: number, cpu0: number | undefined): number | null {
  const cpu1 = ksmdCpuSeconds();
  if (cpu0 === undefined || cpu1 === undefined) return null;
  const cpu = cpu1 - cpu0;
  // /proc/<pid>/stat counts 10 ms ticks: under 0.1 s the error passes 10 %.
  return cpu >= 0.1 ? round(amount / cpu) : null;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
