// kernel-docs-table.ts — owns the tables of docs/density-vs-kernel.md: the fleets they measure, the
// committed JSON of each `--backend both` run (docs/data/density-vs-kernel/), trimming that JSON, and
// rendering the tables between their markers so the page never shows figures the record does not hold.

import { readFileSync } from 'node:fs';
import { projectPath } from '../platform/project-root.ts';
import { compareDensity, toleranceFailures, type DensityBothResult } from './density-compare.ts';
import type { DensityResult } from './density-types.ts';

export const KERNEL_DOC = projectPath('docs', 'density-vs-kernel.md');
export const KERNEL_DATA_DIR = projectPath('docs', 'data', 'density-vs-kernel');

export interface DocFleet {
  /** File name (without .json) under docs/data/density-vs-kernel/. */
  readonly name: string;
  /** `--fleet` spec. */
  readonly fleet: string;
  /** `--ksm` knobs besides density's defaults. */
  readonly knobs: ReadonlyArray<readonly [string, string]>;
  /** No page changes while ksmd scans and smart_scan=0: the page counters must be equal. */
  readonly deterministic: boolean;
}

/** The three fleets of different shapes, at `ksmsim density`'s own knobs (what a user runs). */
export const SHAPE_FLEETS: readonly DocFleet[] = [
  { name: 'os-image', fleet: 'os-image:6:size=16MiB', knobs: [], deterministic: false },
  { name: 'idle-web', fleet: 'idle:4:size=16MiB,web:4:size=16MiB', knobs: [], deterministic: false },
  { name: 'db-jvm', fleet: 'db:3:size=24MiB,jvm:3:size=16MiB', knobs: [], deterministic: false },
];

/**
 * The fleets of guests/workloads/README.md (N = 4 guests of 2 MiB), smart_scan=0, the kernel's scan
 * speed. Deterministic: every page a workload rewrites gets new unique content, so which pages merge
 * does not depend on timing.
 */
const README_KNOBS: ReadonlyArray<readonly [string, string]> = [['pages_to_scan', '100'], ['sleep_millisecs', '20'], ['smart_scan', '0']];
export const README_FLEETS: readonly DocFleet[] = [
  ['os-image', 'os-image:4:size=2MiB'],
  ['os-image-2-versions', 'os-image:2:size=2MiB;distro=1,os-image:2:size=2MiB;distro=2'],
  ['idle', 'idle:4:size=2MiB'],
  ['web', 'web:4:size=2MiB'],
  ['db', 'db:4:size=2MiB'],
  ['jvm', 'jvm:4:size=2MiB'],
  ['random', 'random:4:size=2MiB'],
  ['volatile', 'volatile:4:size=2MiB'],
].map(([name, fleet]): DocFleet => ({ name: `readme-${name}`, fleet: fleet!, knobs: README_KNOBS, deterministic: true })).concat([
  // Zero pages merged with the kernel's zero page (ksm_zero_pages, not pages_sharing; not in Rss at all).
  { name: 'readme-idle-use-zero-pages', fleet: 'idle:4:size=2MiB', knobs: [...README_KNOBS, ['use_zero_pages', '1']], deterministic: true },
]);

export const SHAPES_BEGIN = '<!-- BEGIN density-vs-kernel-shapes: generated from docs/data/density-vs-kernel/*.json by `node --import tsx scripts/density-vs-kernel.ts`; do not edit by hand -->';
export const SHAPES_END = '<!-- END density-vs-kernel-shapes -->';
export const README_BEGIN = '<!-- BEGIN density-vs-kernel-readme: generated from docs/data/density-vs-kernel/readme-*.json by `node --import tsx scripts/density-vs-kernel.ts`; do not edit by hand -->';
export const README_END = '<!-- END density-vs-kernel-readme -->';

/** The result with each sample's per-guest list dropped (the summaries keep per_guest): the series stay, the file shrinks. */
export function trimBoth(b: DensityBothResult): DensityBothResult {
  const trim = (r: DensityResult): DensityResult => ({
    ...r,
    series: {
      without_ksm: r.series.without_ksm.map((s) => ({ ...s, t: Math.round(s.t * 1000) / 1000, per_guest: [] })),
      with_ksm: r.series.with_ksm.map((s) => ({ ...s, t: Math.round(s.t * 1000) / 1000, per_guest: [] })),
    },
  });
  return { ...b, emulator: trim(b.emulator), linux: b.linux && trim(b.linux) };
}

export function readDocRun(f: DocFleet): DensityBothResult {
  return JSON.parse(readFileSync(`${KERNEL_DATA_DIR}/${f.name}.json`, 'utf8')) as DensityBothResult;
}

function mib(b: number): string {
  return `${(b / 2 ** 20).toFixed(2)} MiB`;
}

function ratio(e: number | null, l: number | null): string {
  if (e === null || l === null) return 'n/a';
  if (l === 0) return e === 0 ? '1.000' : 'n/a';
  return (e / l).toFixed(3);
}

/** Full scans from the fleet being up to the end of the KSM-on run. */
function scansAfterUp(r: DensityResult): number {
  const last = r.series.with_ksm[r.series.with_ksm.length - 1];
  return (last?.counters.full_scans ?? 0) - (r.full_scans_at_fleet_up ?? 0);
}

function savedShare(r: DensityResult): number {
  return r.memory_without_ksm_bytes > 0 ? r.saved_bytes / r.memory_without_ksm_bytes : 0;
}

/** One table: a block of rows per fleet (figure, emulator, kernel, ratio). */
export function renderShapesTable(runs: ReadonlyArray<{ fleet: DocFleet; run: DensityBothResult }>): string[] {
  const out = ['| fleet | figure | emulator | kernel | emulator ÷ kernel |', '|---|---|---:|---:|---:|'];
  for (const { fleet, run } of runs) {
    const e = run.emulator;
    const l = run.linux;
    if (!l) {
      out.push(`| \`${fleet.fleet}\` | (the kernel half did not run: ${run.linux_error ?? '?'}) | | | |`);
      continue;
    }
    const rows: Array<[string, string, string, string]> = [
      ['memory without KSM', mib(e.memory_without_ksm_bytes), mib(l.memory_without_ksm_bytes), ratio(e.memory_without_ksm_bytes, l.memory_without_ksm_bytes)],
      ['memory with KSM', mib(e.memory_with_ksm_bytes), mib(l.memory_with_ksm_bytes), ratio(e.memory_with_ksm_bytes, l.memory_with_ksm_bytes)],
      ['saved', `${mib(e.saved_bytes)} (${(100 * savedShare(e)).toFixed(1)} %)`, `${mib(l.saved_bytes)} (${(100 * savedShare(l)).toFixed(1)} %)`, ratio(e.saved_bytes, l.saved_bytes)],
      ['pages_shared', String(e.pages_shared), String(l.pages_shared), ratio(e.pages_shared, l.pages_shared)],
      ['pages_sharing', String(e.pages_sharing), String(l.pages_sharing), ratio(e.pages_sharing, l.pages_sharing)],
      ['converged after (s)', secs(e.converge_seconds), secs(l.converge_seconds), ratio(e.converge_seconds, l.converge_seconds)],
      ['converged after (full scans)', String(e.converge_full_scans ?? 'n/a'), String(l.converge_full_scans ?? 'n/a'), ratio(e.converge_full_scans, l.converge_full_scans)],
      ['ksmd CPU (s)', secs(e.ksmd_cpu_seconds), secs(l.ksmd_cpu_seconds), ratio(e.ksmd_cpu_seconds, l.ksmd_cpu_seconds)],
      ['full scans per second after fleet-up', perSecond(e), perSecond(l), ratio(scansPerSecond(e), scansPerSecond(l))],
      ['ksmd CPU per full scan (ms)', cpuPerScan(e), cpuPerScan(l), ratio(cpuPerScanMs(e), cpuPerScanMs(l))],
    ];
    rows.forEach(([figure, a, b, c], i) => out.push(`| ${i === 0 ? `\`${fleet.fleet}\`` : ''} | ${figure} | ${a} | ${b} | ${c} |`));
  }
  return out;
}

function secs(s: number | null): string {
  return s === null ? 'n/a' : s.toFixed(2);
}

function scansPerSecond(r: DensityResult): number | null {
  return r.ksmd_wall_seconds > 0 ? scansAfterUp(r) / r.ksmd_wall_seconds : null;
}

function perSecond(r: DensityResult): string {
  const v = scansPerSecond(r);
  return v === null ? 'n/a' : v.toFixed(1);
}

function cpuPerScanMs(r: DensityResult): number | null {
  const n = scansAfterUp(r);
  return r.ksmd_cpu_seconds === null || n <= 0 ? null : (1000 * r.ksmd_cpu_seconds) / n;
}

function cpuPerScan(r: DensityResult): string {
  const v = cpuPerScanMs(r);
  return v === null ? 'n/a' : v.toFixed(2);
}

/** One row per README fleet: the three toleranced figures and whether the fleet is within the tolerance. */
export function renderReadmeTable(runs: ReadonlyArray<{ fleet: DocFleet; run: DensityBothResult }>): string[] {
  const out = [
    '| fleet | saved: emulator | kernel | ratio | pages_shared (emulator / kernel) | pages_sharing (emulator / kernel) | full scans to converge (emulator / kernel) | within tolerance |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const { fleet, run } of runs) {
    const e = run.emulator;
    const l = run.linux;
    const extra = fleet.knobs.filter(([k]) => !README_KNOBS.some(([r]) => r === k)).map(([k, v]) => ` with \`${k}=${v}\``).join('');
    const name = `\`${fleet.fleet}\`${extra}`;
    if (!l) {
      out.push(`| ${name} | ${mib(e.saved_bytes)} | not run | | | | | ${run.linux_error ?? ''} |`);
      continue;
    }
    const failures = toleranceFailures(compareDensity(e, l), fleet.deterministic).map((f) => f.split(':')[0]);
    out.push(`| ${name} | ${mib(e.saved_bytes)} | ${mib(l.saved_bytes)} | ${ratio(e.saved_bytes, l.saved_bytes)} | ${e.pages_shared} / ${l.pages_shared} | `
      + `${e.pages_sharing} / ${l.pages_sharing} | ${e.converge_full_scans ?? 'n/a'} / ${l.converge_full_scans ?? 'n/a'} | ${failures.length ? `no: ${failures.join(', ')}` : 'yes'} |`);
  }
  return out;
}

/** `doc` with the lines between `begin` and `end` replaced; throws when a marker is missing. */
export function replaceBetween(doc: string, begin: string, end: string, lines: readonly string[]): string {
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  if (b < 0 || e < b) throw new Error(`${KERNEL_DOC} has no markers ${begin.slice(0, 40)}… / ${end}`);
  return `${doc.slice(0, b + begin.length)}\n${lines.join('\n')}\n${doc.slice(e)}`;
}

/** The lines currently between two markers (for the test that the page matches the JSON). */
export function linesBetween(doc: string, begin: string, end: string): string[] {
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  if (b < 0 || e < b) throw new Error(`no markers ${begin.slice(0, 40)}…`);
  return doc.slice(b + begin.length, e).replace(/^\n/, '').replace(/\n$/, '').split('\n');
}

export function renderDocTables(doc: string): string {
  const shapes = SHAPE_FLEETS.map((fleet) => ({ fleet, run: readDocRun(fleet) }));
  const readme = README_FLEETS.map((fleet) => ({ fleet, run: readDocRun(fleet) }));
  return replaceBetween(replaceBetween(doc, SHAPES_BEGIN, SHAPES_END, renderShapesTable(shapes)), README_BEGIN, README_END, renderReadmeTable(readme));
}
