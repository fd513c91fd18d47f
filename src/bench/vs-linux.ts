// vs-linux.ts — owns `ksmsim bench --vs-linux`: the kernel selftest methods (merge speed as
// `ksm_tests -P`, copy-on-write cost as `ksm_tests -C`, the scan rate of unique pages) run as guest
// programs (guests/bench/) on the emulator and on the real kernel in one run, side by side.

import { loadavg, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { runOnEmulator, runOnLinux, type BackendRun } from '../fidelity/backends.ts';
import { loadScenario, type Scenario } from '../fidelity/scenarios.ts';

export const BENCH_GUEST_DIR = fileURLToPath(new URL('../../guests/bench/', import.meta.url));

export const METRICS = ['merge_mib_s', 'scan_mib_s', 'cow_ns_per_page', 'write_ns_per_page'] as const;
export type Metric = (typeof METRICS)[number];

/** Which guest measures each metric, and whether more is better. */
const SOURCES: Record<Metric, { guest: string; higherIsBetter: boolean; unit: string }> = {
  merge_mib_s: { guest: 'merge-speed', higherIsBetter: true, unit: 'MiB/s' },
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
  const values: { emulator: Record<string, number>; linux: Record<string, number> } = { emulator: {}, linux: {} };
  for (const name of guests) {
    const s: Scenario = await loadScenario(name, BENCH_GUEST_DIR);
    const runOptions = { args: [String(size)], memoryBytes: Math.max(512, 4 * size) * 2 ** 20 };
    options.onProgress?.(`${name} on the emulator`);
    Object.assign(values.emulator, benchValues(await runOnEmulator(s, runOptions)));
    options.onProgress?.(`${name} on linux`);
    Object.assign(values.linux, benchValues(await runOnLinux(s, 60_000, runOptions)));
  }
  const out = { size_mib: size, kernel: release(), date: new Date().toISOString(), loadavg: { before: round(loadBefore), after: round(loadavg()[0]!) } } as VsLinuxResult;
  for (const m of METRICS) {
    const e = values.emulator[m];
    const l = values.linux[m];
    if (e === undefined || l === undefined) throw new Error(`bench guest ${SOURCES[m].guest} did not report ${m}`);
    (out as Record<Metric, { emulator: number; linux: number }>)[m] = { emulator: round(e), linux: round(l) };
  }
  return out;
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
    return [m, `${emulator} ${SOURCES[m].unit}`, `${linux} ${SOURCES[m].unit}`, ratio.toFixed(2), `${better.toFixed(2)}× ${better >= 1 ? 'faster' : 'slower'}`];
  });
  const head = ['metric', 'emulator', 'linux', 'emulator/linux', 'emulator is'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const goals = [
    `goal: merge speed ≥ 2× the kernel's: ${r.merge_mib_s.emulator >= 2 * r.merge_mib_s.linux ? 'met' : 'NOT met'}`,
    `goal: scan rate ≥ 1.5× the kernel's: ${r.scan_mib_s.emulator >= 1.5 * r.scan_mib_s.linux ? 'met' : 'NOT met'}`,
  ];
  return [`ksmsim bench --vs-linux (${r.size_mib} MiB areas, Linux ${r.kernel}, ${r.date.slice(0, 10)}, load average ${r.loadavg.before} → ${r.loadavg.after})`, line(head), line(head.map((_, i) => '-'.repeat(w[i]!))), ...rows.map(line), ...goals];
}
