// engine-comparison.ts — owns comparing density runs of one fleet under several merge engines
// (`ksmsim density --engine ksm,dksm,uksm`): one row per engine — memory saved, time to 95 % of the
// final saving, the merge thread's CPU where it is measured — and the text table.

import type { EngineName } from '../engines/engine.ts';
import type { DensityResult } from './density-types.ts';

export interface EngineComparisonRow {
  readonly engine: EngineName;
  readonly memory_without_bytes: number;
  readonly memory_with_bytes: number;
  readonly saved_bytes: number;
  readonly saved_share: number;
  /** Seconds from the fleet being up to 95 % of the final saving (memory-based, every engine alike); null if never. */
  readonly seconds_to_95: number | null;
  /** Thread CPU spent merging: ksmd's from the fleet being up (ksm); the guests' inside madvise (dksm) or the scanner's (uksm) over the whole phase. */
  readonly merge_thread_cpu_seconds: number | null;
  /** Share of the fleet's present pages the engine could consider (null in results from before engines). */
  readonly considered_share: number | null;
}

export interface EngineComparison {
  readonly engines: EngineName[];
  readonly rows: EngineComparisonRow[];
  readonly results: Record<string, DensityResult>;
}

/** Time to 95 % of the final saving, from the KSM-on phase's memory series (saving = without − used). */
export function secondsTo95(r: DensityResult): number | null {
  const series = r.series.with_ksm;
  if (series.length === 0) return null;
  const up = r.fleet_up_seconds;
  const final = r.memory_without_ksm_bytes - series[series.length - 1]!.memory_used_bytes;
  if (final <= 0) return null;
  const hit = series.find((s) => s.t >= up && r.memory_without_ksm_bytes - s.memory_used_bytes >= 0.95 * final);
  return hit ? Math.max(0, hit.t - up) : null;
}

export function compareEngines(results: ReadonlyArray<readonly [EngineName, DensityResult]>): EngineComparison {
  const rows = results.map(([engine, r]): EngineComparisonRow => ({
    engine,
    memory_without_bytes: r.memory_without_ksm_bytes,
    memory_with_bytes: r.memory_with_ksm_bytes,
    saved_bytes: r.saved_bytes,
    saved_share: r.memory_without_ksm_bytes > 0 ? r.saved_bytes / r.memory_without_ksm_bytes : 0,
    seconds_to_95: secondsTo95(r),
    merge_thread_cpu_seconds: engine === 'ksm' ? r.ksmd_cpu_seconds : (r.engine_cpu_seconds ?? null),
    considered_share: r.considered_pages !== undefined && r.present_pages ? r.considered_pages / r.present_pages : null,
  }));
  return { engines: results.map(([e]) => e), rows, results: Object.fromEntries(results.map(([e, r]) => [e, r])) };
}

export function comparisonLines(c: EngineComparison): string[] {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const lines = ['engine  memory without  memory with  saved               to 95 %   merge CPU   pages considered'];
  for (const r of c.rows) {
    lines.push(`${r.engine.padEnd(6)}  ${mib(r.memory_without_bytes).padStart(14)}  ${mib(r.memory_with_bytes).padStart(11)}  ${`${mib(r.saved_bytes)} (${(100 * r.saved_share).toFixed(1)} %)`.padEnd(18)}  ${(r.seconds_to_95 === null ? '—' : `${r.seconds_to_95.toFixed(2)} s`).padStart(7)}   ${(r.merge_thread_cpu_seconds === null ? '—' : `${r.merge_thread_cpu_seconds.toFixed(2)} s`).padEnd(10)}  ${r.considered_share === null ? '—' : `${(100 * r.considered_share).toFixed(1)} %`}`);
  }
  return lines;
}

const WHERE: Record<EngineName, string> = { ksm: 'ksmd', dksm: 'in madvise', uksm: 'scanner' };

/** The comparison as a Markdown table (docs/engines.md is generated from committed JSON with this). */
export function comparisonMarkdown(c: EngineComparison): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const lines = ['| engine | memory without | memory with | saved | time to 95 % | merge CPU (thread) | pages considered |', '|---|---|---|---|---|---|---|'];
  for (const r of c.rows) {
    lines.push(`| ${r.engine} | ${mib(r.memory_without_bytes)} | ${mib(r.memory_with_bytes)} | ${mib(r.saved_bytes)} (${(100 * r.saved_share).toFixed(1)} %) | ${r.seconds_to_95 === null ? '—' : `${r.seconds_to_95.toFixed(2)} s`} | ${r.merge_thread_cpu_seconds === null ? '—' : `${r.merge_thread_cpu_seconds.toFixed(2)} s (${WHERE[r.engine]})`} | ${r.considered_share === null ? '—' : `${(100 * r.considered_share).toFixed(1)} %`} |`);
  }
  return lines.join('\n');
}
