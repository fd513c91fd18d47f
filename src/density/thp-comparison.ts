// thp-comparison.ts — owns `ksmsim density --thp both`: the same fleet with transparent huge pages on
// (enabled=always) and off (never), each with KSM off and on, and the table that sets THP's cost
// (memory without KSM) against KSM's saving (memory with it).

import { runDensity, type DensityOptions } from './density-runner.ts';
import type { DensityResult, FleetEntry } from './density-types.ts';
import type { ThpMode } from '../mem/thp.ts';

/** The `--thp` choices: one setting for every host, or `both` (always and never). */
export const THP_CHOICES = ['always', 'madvise', 'never', 'both'] as const;
export type ThpChoice = (typeof THP_CHOICES)[number];
/** The two settings `--thp both` compares, THP on first. */
export const THP_BOTH: readonly ThpMode[] = ['always', 'never'];

export interface ThpRow {
  readonly thp: ThpMode;
  readonly memory_without_ksm_bytes: number;
  readonly memory_with_ksm_bytes: number;
  readonly saved_bytes: number;
  /** AnonHugePages at the end of the KSM-off and KSM-on phases. */
  readonly anon_huge_bytes_without_ksm: number;
  readonly anon_huge_bytes_with_ksm: number;
  /** Huge pages ksmd split to merge their subpages (vmstat thp_split_page). */
  readonly thp_split_pages: number;
  readonly pages_sharing: number;
  readonly converge_seconds: number | null;
}

export interface ThpComparison {
  readonly fleet: readonly FleetEntry[];
  readonly rows: readonly ThpRow[];
  /** Every run in full, in the order of `rows`. */
  readonly runs: readonly DensityResult[];
}

export function thpRow(r: DensityResult): ThpRow {
  return {
    thp: r.thp ?? 'madvise',
    memory_without_ksm_bytes: r.memory_without_ksm_bytes,
    memory_with_ksm_bytes: r.memory_with_ksm_bytes,
    saved_bytes: r.saved_bytes,
    anon_huge_bytes_without_ksm: r.anon_huge_bytes_without_ksm ?? 0,
    anon_huge_bytes_with_ksm: r.anon_huge_bytes_with_ksm ?? 0,
    thp_split_pages: r.thp_split_pages ?? 0,
    pages_sharing: r.pages_sharing,
    converge_seconds: r.converge_seconds,
  };
}

/** The fleet under each THP setting in turn (a fresh pair of hosts each), with KSM off and on. */
export async function compareThp(o: DensityOptions, fleet: readonly FleetEntry[], modes: readonly ThpMode[] = THP_BOTH): Promise<ThpComparison> {
  const runs: DensityResult[] = [];
  for (const thp of modes) runs.push(await runDensity({ ...o, thp }, fleet));
  return { fleet, rows: runs.map(thpRow), runs };
}

const MIB = 2 ** 20;

/** The comparison as a markdown table (the CLI prints it; docs/density.md holds one from docs/data). */
export function thpTable(rows: readonly ThpRow[]): string[] {
  const mib = (b: number): string => (b / MIB).toFixed(1);
  const lines = [
    '| THP (`enabled`) | memory without KSM (MiB) | AnonHugePages without KSM (MiB) | memory with KSM (MiB) | AnonHugePages with KSM (MiB) | saved by KSM (MiB) | huge pages split (`thp_split_page`) | converged (s) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.thp} | ${mib(r.memory_without_ksm_bytes)} | ${mib(r.anon_huge_bytes_without_ksm)} | ${mib(r.memory_with_ksm_bytes)} | ${mib(r.anon_huge_bytes_with_ksm)} | ${mib(r.saved_bytes)} | ${r.thp_split_pages} | ${r.converge_seconds === null ? 'no' : r.converge_seconds.toFixed(1)} |`);
  }
  return lines;
}

/** One sentence per pair: what THP costs without KSM, and what is left of it with KSM. */
export function thpSummary(rows: readonly ThpRow[]): string {
  const on = rows.find((r) => r.thp === 'always');
  const off = rows.find((r) => r.thp === 'never');
  if (!on || !off) return '';
  const mib = (b: number): string => `${(b / MIB).toFixed(1)} MiB`;
  return `THP always vs never: ${mib(on.memory_without_ksm_bytes)} vs ${mib(off.memory_without_ksm_bytes)} without KSM, ` +
    `${mib(on.memory_with_ksm_bytes)} vs ${mib(off.memory_with_ksm_bytes)} with KSM (ksmd split ${on.thp_split_pages} huge pages to merge them).`;
}
