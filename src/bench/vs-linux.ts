// vs-linux.ts — owns `ksmsim bench --vs-linux`: the kernel selftest methods (merge speed as
// `ksm_tests -P`, copy-on-write cost as `ksm_tests -C`, the scan rate of unique pages) run as guest
// programs (guests/bench/) on the emulator and on the real kernel in one run, side by side.

import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, release } from 'node:os';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { runOnEmulator, runOnLinux, type BackendRun } from '../fidelity/backends.ts';
import { loadScenario, type Scenario } from '../fidelity/scenarios.ts';
import { projectPath } from '../platform/project-root.ts';
import { judgeAgainstKernel, type Verdict } from './goals.ts';

export const BENCH_GUEST_DIR = projectPath('guests', 'bench') + '/';

export const METRICS = ['merge_mib_s', 'merge_first_mib_s', 'scan_mib_s', 'cow_ns_per_page', 'write_ns_per_page'] as const;
export type Metric = (typeof METRICS)[number];

/** Which guest measures each metric, and whether more is better. */
const SOURCES: Record<Metric, { guest: string; higherIsBetter: boolean; unit: string }> = {
  // the median of the timed rounds, after one warm-up round (merge_first_mib_s)
  merge_mib_s: { guest: 'merge-speed', higherIsBetter: true, unit: 'MiB/s' },
  merge_first_mib_s: { guest: 'merge-speed', higherIsBetter: true, unit: 'MiB/s' },
  scan_mib_s: { guest: 'scan-rate', higherIsBetter: true, unit: 'MiB/s' },
  cow_ns_per_page: { guest: 'cow-cost', higherIsBetter: false, unit: 'ns' },
  write_ns_per_page: { guest: 'cow-cost', higherIsBetter: false, unit: 'ns' },
};

export interface VsLinuxOptions {
  /** Size of the merge and scan areas (default 100 MiB, as `ksm_tests -P -s 100`). */
  readonly sizeMiB?: number;
  readonly onProgress?: (line: string) => void;
}

export type VsLinuxResult = Record<Metric, { emulator: number; linux: number }> & {
  readonly size_mib: number;
  readonly kernel: string;
  readonly date: string;
  /** 1-minute load average before and after: ksmd runs at nice 5, so a busy machine slows the kernel's side first. */
  readonly loadavg: { before: number; after: number };
  /**
   * The kernel's rates per second of ksmd CPU time (from /proc/<ksmd>/stat, 10 ms ticks): what ksmd
   * does when it gets a whole CPU, whatever else the machine is doing. Absent when ksmd is not found.
   */
  readonly linux_per_ksmd_cpu_second?: { merge_mib_s: number; scan_mib_s: number };
};

/** Values `BENCH name value` logged by the guests of one run. */
export function benchValues(run: BackendRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of run.guests) {
    if (g.exitCode !== 0) throw new Error(`bench guest ${g.name} on the ${run.backend} failed: ${g.error ?? `exit ${g.exitCode}`}`);
    for (const line of g.logs) {
      const m = /^BENCH (\S+) (\S+)$/.exec(line);
      if (m) out[m[1]!] = Number(m[2]);
    }
  }
  return out;
}

export async function benchVsLinux(options: VsLinuxOptions = {}): Promise<VsLinuxResult> {
  const avail = linuxBackendAvailable();
  if (!avail.ok) throw new Error(`bench --vs-linux needs the linux backend, which is not available here: ${avail.reason}`);
  const size = options.sizeMiB ?? 100;
  const loadBefore = loadavg()[0]!;
  const guests = [...new Set(Object.values(SOURCES).map((s) => s.guest))];
  const perCpu = { merge_mib_s: NaN, scan_mib_s: NaN };
  const values: { emulator: Record<string, number>; linux: Record<string, number> } = { emulator: {}, linux: {} };
  for (const name of guests) {
    const s: Scenario = await loadScenario(name, BENCH_GUEST_DIR);
    const runOptions = { args: [String(size)], memoryBytes: Math.max(512, 4 * size) * 2 ** 20 };
    options.onProgress?.(`${name} on the emulator`);
    Object.assign(values.emulator, benchValues(await runOnEmulator(s, runOptions)));
    options.onProgress?.(`${name} on linux`);
    const cpu0 = ksmdCpuSeconds();
    const scanned0 = readPagesScanned();
    Object.assign(values.linux, benchValues(await runOnLinux(s, 60_000, runOptions)));
    const cpu = (ksmdCpuSeconds() ?? NaN) - (cpu0 ?? NaN);
    if (name === 'merge-speed') perCpu.merge_mib_s = (size * (values.linux['merge_rounds'] ?? NaN)) / cpu;
    if (name === 'scan-rate') perCpu.scan_mib_s = ((readPagesScanned() - scanned0) * 4096) / 2 ** 20 / cpu;
  }
  const out = { size_mib: size, kernel: release(), date: new Date().toISOString(), loadavg: { before: round(loadBefore), after: round(loadavg()[0]!) } } as VsLinuxResult;
  if (Number.isFinite(perCpu.merge_mib_s) && Number.isFinite(perCpu.scan_mib_s)) {
    (out as { linux_per_ksmd_cpu_second?: object }).linux_per_ksmd_cpu_second = { merge_mib_s: round(perCpu.merge_mib_s), scan_mib_s: round(perCpu.scan_mib_s) };
  }
  for (const m of METRICS) {
    const e = values.emulator[m];
    const l = values.linux[m];
    if (e === undefined || l === undefined) throw new Error(`bench guest ${SOURCES[m].guest} did not report ${m}`);
    (out as Record<Metric, { emulator: number; linux: number }>)[m] = { emulator: round(e), linux: round(l) };
  }
  return out;
}

/** ksmd's user+system CPU time in seconds, or undefined when there is no ksmd thread. */
export function ksmdCpuSeconds(): number | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'ksmd') continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      // After "pid (comm) ", field 3 is the state; utime and stime are fields 14 and 15 of the full line.
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the process went away
    }
  }
  return undefined;
}

export function readPagesScanned(): number {
  return Number(readFileSync('/sys/kernel/mm/ksm/pages_scanned', 'utf8').trim());
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The side-by-side table with ratios (emulator ÷ linux; "faster" follows each metric's sense). */
export function vsLinuxTable(r: VsLinuxResult): string[] {
  const rows = METRICS.map((m) => {
    const { emulator, linux } = r[m];
    const ratio = emulator / linux;
    const better = SOURCES[m].higherIsBetter ? ratio : 1 / ratio;
    return [m, `${emulator} ${SOURCES[m].unit}`, `${linux} ${SOURCES[m].unit}`, ratio.toFixed(2), better >= 1 ? `${better.toFixed(2)}× faster` : `${(1 / better).toFixed(2)}× slower`];
  });
  const head = ['metric', 'emulator', 'linux', 'emulator/linux', 'emulator is'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const cpu = r.linux_per_ksmd_cpu_second;
  const notes = cpu
    ? [`linux per second of ksmd CPU time (ksmd runs at nice 5; a busy machine slows it first): merge ${cpu.merge_mib_s} MiB/s, scan ${cpu.scan_mib_s} MiB/s`]
    : [];
  const word = (v: Verdict): string => (v === 'not met' ? 'NOT met' : v);
  const goal = (what: string, metric: 'merge_mib_s' | 'scan_mib_s', factor: number): string => {
    const e = r[metric].emulator;
    const inRun = judgeAgainstKernel(e, r[metric].linux, factor);
    const onCpu = cpu ? judgeAgainstKernel(e, cpu[metric], factor) : undefined;
    const perCpu = onCpu ? `; against ksmd's per-CPU rate ${word(onCpu.verdict)}${onCpu.ratio === null ? '' : ` (${onCpu.ratio.toFixed(2)}×)`}` : '';
    return `goal: ${what} ≥ ${factor}× the kernel's: in this run ${word(inRun.verdict)}${perCpu}`;
  };
  const goals = [goal('merge speed', 'merge_mib_s', 2), goal('scan rate', 'scan_mib_s', 1.5)];
  return [`ksmsim bench --vs-linux (${r.size_mib} MiB areas, Linux ${r.kernel}, ${r.date.slice(0, 10)}, load average ${r.loadavg.before} → ${r.loadavg.after})`, line(head), line(head.map((_, i) => '-'.repeat(w[i]!))), ...rows.map(line), ...notes, ...goals];
}
