// comparison-html.ts — owns the `ksmsim density --backend both --html FILE` page: the emulator and
// the real kernel on the same fleet, both time series on the same charts, and the comparison table
// (emulator, kernel, ratio). Self-contained like html-report.ts (inline CSS and SVG, no scripts).

import { compareFigure, COMPARED_FIGURES, type ComparedFigure, type DensityBothResult } from '../density/density-compare.ts';
import type { DensityResult, DensitySample } from '../density/density-types.ts';
import { backendName, byteUnit, fleetText, formatBytes, headlineSentence, REPORT_CSS } from './html-report.ts';
import { esc, lineChart, PALETTE, type LineSeries, type Marker } from './svg-chart.ts';
import { htmlPage } from './html-page.ts';

export const COMPARISON_CHART_TITLES = {
  memory: 'Fleet memory: emulator and kernel, KSM off and on',
  counters: 'KSM pages over time (KSM on): emulator and kernel',
  scans: 'Memory saved against full scans since fleet-up',
} as const;

const EMU: string = PALETTE[0];
const KERNEL: string = PALETTE[1];

function runs(b: DensityBothResult): Array<{ r: DensityResult; label: string; color: string }> {
  const out = [{ r: b.emulator, label: 'emulator', color: EMU }];
  if (b.linux) out.push({ r: b.linux, label: 'kernel', color: KERNEL });
  return out;
}

function markers(b: DensityBothResult): Marker[] {
  const out: Marker[] = [];
  for (const { r, label, color } of runs(b)) {
    if (r.converge_seconds !== null) out.push({ x: r.fleet_up_seconds + r.converge_seconds, label: `${label} converged`, color });
  }
  return out;
}

function memoryChart(b: DensityBothResult): string {
  const all = runs(b).flatMap(({ r }) => [...r.series.without_ksm, ...r.series.with_ksm]);
  const unit = byteUnit(Math.max(0, ...all.map((s) => s.memory_used_bytes)));
  const pts = (ss: readonly DensitySample[]): Array<[number, number]> => ss.map((s) => [s.t, s.memory_used_bytes / unit.div]);
  const series: LineSeries[] = runs(b).flatMap(({ r, label, color }) => [
    { name: `${label}, without KSM`, color, points: pts(r.series.without_ksm), dash: '7 4' },
    { name: `${label}, with KSM`, color, points: pts(r.series.with_ksm) },
  ]);
  return lineChart({
    id: 'chart-memory', title: COMPARISON_CHART_TITLES.memory, xLabel: 'time since the phase started (s)', yLabel: `memory used (${unit.name})`,
    series, markers: markers(b),
  });
}

function countersChart(b: DensityBothResult): string {
  const series: LineSeries[] = runs(b).flatMap(({ r, label, color }) => (['pages_sharing', 'pages_shared'] as const).map((key) => ({
    name: `${label} ${key}`, color, dash: key === 'pages_shared' ? '3 3' : undefined,
    points: r.series.with_ksm.filter((s) => typeof s.counters[key] === 'number').map((s) => [s.t, s.counters[key]!] as [number, number]),
  })));
  return lineChart({ id: 'chart-counters', title: COMPARISON_CHART_TITLES.counters, xLabel: 'time since the phase started (s)', yLabel: 'pages (4 KiB)', series, markers: markers(b) });
}

/** The saving on a full-scan axis: the two KSMs' scanning speeds differ, their work per scan should not. */
function scansChart(b: DensityBothResult): string {
  const all = runs(b).flatMap(({ r }) => r.series.with_ksm);
  const unit = byteUnit(Math.max(0, ...all.map((s) => savedOf(s))));
  const series: LineSeries[] = runs(b).map(({ r, label, color }) => {
    const from = r.full_scans_at_fleet_up ?? 0;
    return {
      name: label, color,
      points: r.series.with_ksm.filter((s) => typeof s.counters.full_scans === 'number').map((s) => [s.counters.full_scans! - from, savedOf(s) / unit.div] as [number, number]),
    };
  });
  return lineChart({ id: 'chart-scans', title: COMPARISON_CHART_TITLES.scans, xLabel: 'full scans since the fleet was up', yLabel: `saved (${unit.name})`, series });
}

function savedOf(s: DensitySample): number {
  return ((s.counters.pages_sharing ?? 0) + (s.counters.ksm_zero_pages ?? 0)) * 4096;
}

function cell(key: string, v: number | null): string {
  if (v === null) return 'n/a';
  if (key.endsWith('_bytes')) return formatBytes(v);
  if (key.endsWith('_seconds')) return `${v.toFixed(2)} s`;
  return Math.round(v).toLocaleString('en-US');
}

function comparisonTable(b: DensityBothResult): string {
  const l = b.linux;
  const rows: Array<[string, ComparedFigure]> = [
    ['memory_without_ksm_bytes', compareFigure(b.emulator.memory_without_ksm_bytes, l?.memory_without_ksm_bytes ?? null)],
    ['memory_with_ksm_bytes', compareFigure(b.emulator.memory_with_ksm_bytes, l?.memory_with_ksm_bytes ?? null)],
    ...COMPARED_FIGURES.map((k) => [k, b.comparison?.[k] ?? compareFigure(b.emulator[k], null)] as [string, ComparedFigure]),
  ];
  const body = rows.map(([k, f]) => `<tr><td><code>${esc(k)}</code></td><td class="num">${esc(cell(k, f.emulator))}</td><td class="num">${esc(cell(k, f.linux))}</td>`
    + `<td class="num">${f.ratio === null ? 'n/a' : f.ratio.toFixed(3)}</td></tr>`).join('');
  return `<div class="card"><h2>Emulator against the kernel</h2><p class="hint">ratio = emulator ÷ kernel; the tolerance and why figures differ: docs/density-vs-kernel.md.</p>`
    + `<table><thead><tr><th>figure</th><th class="num">emulator</th><th class="num">kernel</th><th class="num">ratio</th></tr></thead><tbody>${body}</tbody></table></div>`;
}

function knobsTable(b: DensityBothResult): string {
  const names = [...new Set(runs(b).flatMap(({ r }) => Object.keys(r.knobs)))];
  const body = names.map((k) => `<tr><td>${esc(k)}</td><td>${esc(b.emulator.knobs[k] ?? '')}</td><td>${esc(b.linux?.knobs[k] ?? '')}</td></tr>`).join('');
  return `<div class="card"><h2>Knobs of the KSM-on run</h2><table class="knobs"><thead><tr><th>knob</th><th>emulator</th><th>kernel</th></tr></thead><tbody>${body}</tbody></table></div>`;
}

export function renderComparisonHtml(b: DensityBothResult): string {
  const title = `ksmsim density — emulator and kernel — ${fleetText(b.emulator)}`;
  const lines = runs(b).map(({ r }) => `<p class="lead"><b>${esc(backendName(r))}:</b> ${esc(headlineSentence(r))}</p>`);
  if (!b.linux) lines.push(`<p class="lead"><b>the real kernel:</b> not run — ${esc(b.linux_error ?? 'unknown reason')}</p>`);
  const figures = [
    { chart: memoryChart(b), caption: 'Dashed: the KSM-off phase (the kernel\'s guests with mergeable=0); solid: KSM on. Time 0 is the start of each phase.' },
    { chart: countersChart(b), caption: 'Solid: pages_sharing (the saving); dotted: pages_shared (KSM pages in use).' },
    { chart: scansChart(b), caption: 'The saving, (pages_sharing + ksm_zero_pages) × 4 KiB, against full_scans counted from the fleet being up.' },
  ];
  return htmlPage(title, REPORT_CSS, `<header><h1>KSM density: the emulator and the real kernel</h1><p class="sub">${esc(`Fleet ${fleetText(b.emulator)} · ksmsim density --backend both`)}</p></header>
${lines.join('\n')}
<section class="tables">
${comparisonTable(b)}
${knobsTable(b)}
</section>
<section class="charts">
${figures.map((f) => `<figure>${f.chart}<figcaption>${esc(f.caption)}</figcaption></figure>`).join('\n')}
</section>
<footer>Generated by ksmsim density --backend both. The same fleet (workloads, arguments, seeds) ran on the emulator and as real processes on this machine's KSM; the kernel's memory is the guests' own mappings in /proc/PID/smaps.</footer>`);
}
