// csv-report.ts — owns `ksmsim density --csv DIR`: the result as four CSV files for spreadsheets and scripts.
//
//   series_with_ksm.csv, series_without_ksm.csv  t (s, to the ms), guests, memory_used_bytes, node<i>_used_bytes…, every counter…
//   per_guest.csv                                 one row per guest at the end of the KSM-on phase
//   summary.csv                                   metric,value — the headline numbers, capacity, NUMA and knobs
//
// With an --engine list (writeEnginesCsv) the same four files hold every engine's run, each row led by
// an `engine` column; a series file's columns are the union of the runs' columns (blank where a run
// has no such counter), so every row of a file has the same header.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DensityResult, DensitySample } from '../density/density-types.ts';

export const CSV_FILES = ['series_with_ksm.csv', 'series_without_ksm.csv', 'per_guest.csv', 'summary.csv'] as const;

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(fields: ReadonlyArray<string | number | null | undefined>): string {
  return fields.map(csvField).join(',') + '\n';
}

/** Counter names in first-seen order across the samples (the sampler may add one midway). */
function counterNames(samples: readonly DensitySample[]): string[] {
  const seen = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.counters)) seen.add(k);
  return [...seen];
}

type Field = string | number | null | undefined;

/** A CSV file before it is written: its header and its rows. */
interface Table {
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly Field[]>;
}

function csvText(t: Table): string {
  return csvLine(t.head) + t.rows.map((row) => csvLine(row)).join('');
}

function nodeCount(numaNodes: number, samples: readonly DensitySample[]): number {
  return Math.max(numaNodes, ...samples.map((s) => s.node_used_bytes.length));
}

function seriesTable(samples: readonly DensitySample[], nodes: number, counters: readonly string[]): Table {
  const nodeCols = Array.from({ length: nodes }, (_, i) => `node${i}_used_bytes`);
  return {
    head: ['t', 'guests', 'memory_used_bytes', ...nodeCols, ...counters],
    rows: samples.map((s) => [
      Math.round(s.t * 1000) / 1000, s.guests, s.memory_used_bytes,
      ...nodeCols.map((_, i) => s.node_used_bytes[i]),
      ...counters.map((c) => s.counters[c]),
    ]),
  };
}

export function seriesCsv(samples: readonly DensitySample[], numaNodes: number): string {
  return csvText(seriesTable(samples, nodeCount(numaNodes, samples), counterNames(samples)));
}

function perGuestTable(result: DensityResult): Table {
  return {
    head: ['name', 'workload', 'pid', 'ksm_merging_pages', 'ksm_process_profit', 'private_pages'],
    rows: result.per_guest.map((g) => [g.name, g.workload, g.pid, g.ksm_merging_pages, g.ksm_process_profit, g.private_pages]),
  };
}

export function perGuestCsv(result: DensityResult): string {
  return csvText(perGuestTable(result));
}

function summaryTable(r: DensityResult): Table {
  const rows: Array<[string, Field]> = [
    ['backend', r.backend],
    ['fleet', r.fleet.map((f) => `${f.workload}:${f.count}${f.args.length ? ':' + f.args.join(';') : ''}`).join(',')],
    ['guests', r.fleet.reduce((a, f) => a + f.count, 0)],
    ['host_memory_bytes', r.host.memory_bytes],
    ['host_numa_nodes', r.host.numa_nodes],
    ['memory_without_ksm_bytes', r.memory_without_ksm_bytes],
    ['memory_with_ksm_bytes', r.memory_with_ksm_bytes],
    ['saved_bytes', r.saved_bytes],
    ['pages_shared', r.pages_shared],
    ['pages_sharing', r.pages_sharing],
    ['general_profit', r.general_profit],
    ['converge_seconds', r.converge_seconds],
    ['converge_full_scans', r.converge_full_scans],
    ['full_scans_at_fleet_up', r.full_scans_at_fleet_up],
    ['full_scans_at_converge', r.full_scans_at_converge],
    ['ksmd_cpu_seconds', r.ksmd_cpu_seconds],
    ['ksmd_cpu_clock', r.ksmd_cpu_clock],
    ['ksmd_wall_seconds', r.ksmd_wall_seconds],
    ['ksmd_cpu_share', r.ksmd_cpu_share],
    ['ksmd_scan_wall_seconds', r.ksmd_scan_wall_seconds],
  ];
  if (r.guests_fit_without_ksm !== undefined) rows.push(['guests_fit_without_ksm', r.guests_fit_without_ksm]);
  if (r.guests_fit_with_ksm !== undefined) rows.push(['guests_fit_with_ksm', r.guests_fit_with_ksm]);
  if (r.density_gain !== undefined) rows.push(['density_gain', r.density_gain]);
  if (r.capacity) {
    const c = r.capacity;
    rows.push(['density_gain_bound', c.density_gain_bound], ['capacity_max_guests', c.max_guests], ['capacity_max_guests_limited_by', c.max_guests_basis?.limited_by ?? 'flag'],
      ['capacity_stop_without_ksm', c.without_ksm.stop_text], ['capacity_stop_with_ksm', c.with_ksm.stop_text]);
    const w = c.with_swap;
    if (w) {
      rows.push(['swap_bytes', w.swap_bytes], ['guests_fit_with_swap_without_ksm', w.without_ksm.guests], ['guests_fit_with_swap_with_ksm', w.with_ksm.guests],
        ['extra_guests_with_swap_without_ksm', w.extra_guests_without_ksm], ['extra_guests_with_swap_with_ksm', w.extra_guests_with_ksm],
        ['swap_ins_per_guest_without_ksm', w.without_ksm.swap?.swap_ins_per_guest ?? ''], ['swap_ins_per_guest_with_ksm', w.with_ksm.swap?.swap_ins_per_guest ?? ''],
        ['capacity_stop_with_swap_without_ksm', w.without_ksm.stop_text], ['capacity_stop_with_swap_with_ksm', w.with_ksm.stop_text]);
    }
  }
  for (const n of r.numa ?? []) {
    const p = `numa.merge_across_nodes_${n.merge_across_nodes}`;
    rows.push([`${p}.memory_with_ksm_bytes`, n.memory_with_ksm_bytes], [`${p}.saved_bytes`, n.saved_bytes], [`${p}.remote_access_share`, n.remote_access_share]);
  }
  if (r.kernel) {
    const k = r.kernel;
    rows.push(['kernel', k.kernel], ['kernel.pss_with_ksm_bytes', k.pss_with_ksm_bytes], ['kernel.freed_by_ksm_bytes', k.freed_by_ksm_bytes],
      ['kernel.saved_minus_freed_bytes', k.saved_minus_freed_bytes], ['kernel.process_rss_with_ksm_bytes', k.with_ksm.process_rss_bytes]);
  }
  for (const [k, v] of Object.entries(r.knobs)) rows.push([`knob.${k}`, v]);
  return { head: ['metric', 'value'], rows };
}

export function summaryCsv(r: DensityResult): string {
  return csvText(summaryTable(r));
}

/** Writes the four CSV files into dir (created if missing); returns their paths. */
export function writeDensityCsv(result: DensityResult, dir: string): string[] {
  const files: Record<(typeof CSV_FILES)[number], string> = {
    'series_with_ksm.csv': seriesCsv(result.series.with_ksm, result.host.numa_nodes),
    'series_without_ksm.csv': seriesCsv(result.series.without_ksm, result.host.numa_nodes),
    'per_guest.csv': perGuestCsv(result),
    'summary.csv': summaryCsv(result),
  };
  return writeFiles(dir, files);
}

/** One table of several engines' tables of the same header: `engine` first, then each run's rows in turn. */
function byEngine(tables: ReadonlyArray<readonly [string, Table]>): Table {
  const head = tables[0]![1].head;
  for (const [engine, t] of tables) {
    if (t.head.join(',') !== head.join(',')) throw new Error(`CSV of engine ${engine}: its columns differ from ${tables[0]![0]}'s`);
  }
  return { head: ['engine', ...head], rows: tables.flatMap(([engine, t]) => t.rows.map((row) => [engine, ...row])) };
}

/**
 * `--engine a,b,… --csv DIR`: the four files of writeDensityCsv, each holding every engine's run with
 * an `engine` column first. Returns their paths.
 */
export function writeEnginesCsv(runs: ReadonlyArray<readonly [string, DensityResult]>, dir: string): string[] {
  if (runs.length === 0) throw new Error('writeEnginesCsv: no runs');
  const series = (pick: (r: DensityResult) => readonly DensitySample[]): string => {
    // One header for every engine: the most nodes any run sampled, every counter any run has.
    const nodes = Math.max(...runs.map(([, r]) => nodeCount(r.host.numa_nodes, pick(r))));
    const counters = counterNames(runs.flatMap(([, r]) => pick(r)));
    return csvText(byEngine(runs.map(([e, r]) => [e, seriesTable(pick(r), nodes, counters)] as const)));
  };
  const files: Record<(typeof CSV_FILES)[number], string> = {
    'series_with_ksm.csv': series((r) => r.series.with_ksm),
    'series_without_ksm.csv': series((r) => r.series.without_ksm),
    'per_guest.csv': csvText(byEngine(runs.map(([e, r]) => [e, perGuestTable(r)] as const))),
    'summary.csv': csvText(byEngine(runs.map(([e, r]) => [e, summaryTable(r)] as const))),
  };
  return writeFiles(dir, files);
}

function writeFiles(dir: string, files: Record<(typeof CSV_FILES)[number], string>): string[] {
  mkdirSync(dir, { recursive: true });
  return CSV_FILES.map((name) => {
    const path = join(dir, name);
    writeFileSync(path, files[name]);
    return path;
  });
}
