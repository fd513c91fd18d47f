// density-compare.ts — owns `ksmsim density --backend both`'s comparison of the emulator with the
// real kernel on one fleet: each figure as emulator, kernel and ratio (emulator / kernel), the
// documented tolerance (docs/density-vs-kernel.md) and the text table.

import type { DensityResult } from './density-types.ts';

export interface ComparedFigure {
  readonly emulator: number | null;
  readonly linux: number | null;
  /** emulator / linux; null when either is missing or the kernel's is 0 (1 when both are 0). */
  readonly ratio: number | null;
}

export interface DensityComparison {
  readonly saved_bytes: ComparedFigure;
  readonly pages_shared: ComparedFigure;
  readonly pages_sharing: ComparedFigure;
  readonly converge_seconds: ComparedFigure;
  readonly converge_full_scans: ComparedFigure;
  readonly ksmd_cpu_seconds: ComparedFigure;
}

/** `ksmsim density --backend both --json`: the kernel half is null (and linux_error says why) when it could not run. */
export interface DensityBothResult {
  readonly emulator: DensityResult;
  readonly linux: DensityResult | null;
  readonly comparison: DensityComparison | null;
  readonly linux_error?: string;
}

export const COMPARED_FIGURES = ['saved_bytes', 'pages_shared', 'pages_sharing', 'converge_seconds', 'converge_full_scans', 'ksmd_cpu_seconds'] as const;

export function compareFigure(emulator: number | null, linux: number | null): ComparedFigure {
  let ratio: number | null = null;
  if (emulator !== null && linux !== null) ratio = linux !== 0 ? emulator / linux : emulator === 0 ? 1 : null;
  return { emulator, linux, ratio };
}

export function compareDensity(e: DensityResult, l: DensityResult): DensityComparison {
  const out = {} as Record<(typeof COMPARED_FIGURES)[number], ComparedFigure>;
  for (const k of COMPARED_FIGURES) out[k] = compareFigure(e[k], l[k]);
  return out;
}

/** The tolerance of docs/density-vs-kernel.md: what a deterministic fleet must show on both backends. */
export const TOLERANCE = {
  /** |saved_bytes ratio − 1| at most this. */
  savedShare: 0.02,
  /** |converge_full_scans difference| at most this. */
  fullScans: 1,
} as const;

/**
 * The ways `c` falls outside the tolerance (empty: within it). `deterministic`: the fleet's content
 * does not depend on timing (no rewrites while ksmd scans, smart_scan=0), so the page counters must
 * be equal, not merely close.
 */
export function toleranceFailures(c: DensityComparison, deterministic: boolean): string[] {
  const out: string[] = [];
  const saved = c.saved_bytes;
  if (saved.ratio === null || Math.abs(saved.ratio - 1) > TOLERANCE.savedShare) {
    out.push(`saved_bytes: emulator ${saved.emulator}, kernel ${saved.linux} (ratio ${saved.ratio?.toFixed(4) ?? 'n/a'}, tolerance ±${TOLERANCE.savedShare * 100} %)`);
  }
  if (deterministic) {
    for (const k of ['pages_shared', 'pages_sharing'] as const) {
      if (c[k].emulator !== c[k].linux) out.push(`${k}: emulator ${c[k].emulator}, kernel ${c[k].linux} (must be equal)`);
    }
  }
  const fs = c.converge_full_scans;
  if (fs.emulator === null || fs.linux === null || Math.abs(fs.emulator - fs.linux) > TOLERANCE.fullScans) {
    out.push(`converge_full_scans: emulator ${fs.emulator}, kernel ${fs.linux} (tolerance ±${TOLERANCE.fullScans})`);
  }
  return out;
}

function fmt(key: string, v: number | null): string {
  if (v === null) return 'n/a';
  if (key.endsWith('_bytes')) return `${(v / 2 ** 20).toFixed(2)} MiB`;
  if (key.endsWith('_seconds')) return `${v.toFixed(2)} s`;
  return String(v);
}

/** The comparison as aligned text lines: figure, emulator, kernel, ratio. */
export function comparisonTable(e: DensityResult, l: DensityResult, c: DensityComparison): string[] {
  const rows: Array<[string, string, string, string]> = [['', 'emulator', 'kernel', 'emulator/kernel']];
  const row = (key: string, f: ComparedFigure): void => {
    rows.push([key, fmt(key, f.emulator), fmt(key, f.linux), f.ratio === null ? 'n/a' : f.ratio.toFixed(3)]);
  };
  row('memory_without_ksm_bytes', compareFigure(e.memory_without_ksm_bytes, l.memory_without_ksm_bytes));
  row('memory_with_ksm_bytes', compareFigure(e.memory_with_ksm_bytes, l.memory_with_ksm_bytes));
  for (const k of COMPARED_FIGURES) row(k, c[k]);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}  ${r[3].padStart(w[3])}`.trimEnd());
}
