// sweep-html.ts — owns the HTML report of a sweep (`ksmsim sweep-report DIR --html FILE`): one
// self-contained page with a table of every point, heatmaps of the saving and of ksmd's CPU over two
// axes (other axes averaged), and the saving against ksmd's CPU with the Pareto front marked.

import type { DensityResult } from '../density/density-types.ts';
import type { PointRecord } from '../sweep/point-run.ts';
import type { SweepManifest } from '../sweep/results-file.ts';
import { pointLabel, sweepPoints, type AxisValue } from '../sweep/sweep-file.ts';
import { htmlPage } from './html-page.ts';
import { REPORT_CSS } from './html-report.ts';
import { esc, heatmap, scatterChart } from './svg-chart.ts';

const CSS = `${REPORT_CSS}
td.err{color:#b42318;white-space:normal;max-width:420px}
tr.front td:first-child{border-left:3px solid #D55E00}
`;

/** Share of the fleet's memory KSM saved (0–1). */
export function savedShare(r: DensityResult): number {
  return r.memory_without_ksm_bytes > 0 ? r.saved_bytes / r.memory_without_ksm_bytes : 0;
}

/** CPU seconds the merging cost: ksmd's thread, or the engine's own (DKSM, UKSM); null where unmeasured. */
export function mergeCpuSeconds(r: DensityResult): number | null {
  return (r.engine ?? 'ksm') === 'ksm' ? r.ksmd_cpu_seconds : r.engine_cpu_seconds ?? null;
}

/**
 * Indices of the points no other point beats on both counts: none saves at least as much for at most
 * as much CPU, and strictly better on one of them.
 */
export function paretoFront(points: ReadonlyArray<{ readonly cpu: number; readonly saved: number }>): number[] {
  return points.flatMap((p, i) => (points.some((q) => q.cpu <= p.cpu && q.saved >= p.saved && (q.cpu < p.cpu || q.saved > p.saved)) ? [] : [i]));
}

function mean(xs: readonly number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

const show = (v: AxisValue): string => String(v);

export function renderSweepHtml(m: SweepManifest, records: readonly PointRecord[], o: { x?: string; y?: string } = {}): string {
  const names = m.axes.map((a) => a.name);
  for (const [flag, a] of [['--x', o.x], ['--y', o.y]] as const) {
    if (a !== undefined && !names.includes(a)) throw new Error(`${flag} ${a}: not an axis of this sweep (axes: ${names.join(', ')})`);
  }
  const xName = o.x ?? names.find((n) => n !== o.y)!;
  const yName = o.y ?? names.find((n) => n !== xName);
  if (yName === xName) throw new Error(`--x and --y: the same axis ${xName}`);
  const order = new Map(sweepPoints(m).map((p, i) => [p.key, i]));
  const sorted = [...records].sort((a, b) => (order.get(a.key) ?? 1e9) - (order.get(b.key) ?? 1e9));
  const ok = sorted.filter((r): r is PointRecord & { result: DensityResult } => r.result !== null);
  const mib = (b: number) => b / 2 ** 20;

  const scatterPoints = ok.map((r) => ({ r, cpu: mergeCpuSeconds(r.result), saved: mib(r.result.saved_bytes) }))
    .filter((p): p is typeof p & { cpu: number } => p.cpu !== null);
  const front = new Set(paretoFront(scatterPoints).map((i) => scatterPoints[i]!.r.key));

  const xAxis = m.axes.find((a) => a.name === xName)!;
  const yAxis = yName === undefined ? undefined : m.axes.find((a) => a.name === yName)!;
  const rows = yAxis ? yAxis.values : [''];
  const others = names.filter((n) => n !== xName && n !== yName);
  const cell = (f: (r: DensityResult) => number | null) => rows.map((yv) => xAxis.values.map((xv) => mean(ok
    .filter((r) => r.point[xName] === xv && (yName === undefined || r.point[yName] === yv))
    .map((r) => f(r.result)).filter((v): v is number => v !== null))));
  const perCell = ok.length / Math.max(1, xAxis.values.length * rows.length);
  const averaged = others.length ? ` Each cell is the mean over ${others.join(', ')} (${perCell.toFixed(perCell % 1 ? 1 : 0)} points a cell).` : '';
  const heat = (id: string, title: string, f: (r: DensityResult) => number | null, format: (v: number) => string, high?: string) => heatmap({
    id, title, xLabel: xName, yLabel: yName ?? '', columns: xAxis.values.map(show), rows: rows.map(show), cells: cell(f), format, ...(high ? { high } : {}),
  });
  const savingMap = heat('sweep-saving', 'Memory saved (% of the fleet without KSM)', (r) => 100 * savedShare(r), (v) => `${v.toFixed(1)} %`);
  const cpuMap = heat('sweep-cpu', 'ksmd CPU (thread seconds, fleet up → end)', mergeCpuSeconds, (v) => `${v.toFixed(2)} s`, '#D55E00');
  const scatter = scatterChart({
    id: 'sweep-pareto', title: 'Memory saved against ksmd CPU', xLabel: 'ksmd CPU (s)', yLabel: 'saved (MiB)',
    points: scatterPoints.map((p) => ({ x: p.cpu, y: p.saved, label: `${pointLabel(p.r.point)}: ${p.saved.toFixed(1)} MiB for ${p.cpu.toFixed(2)} s`, highlight: front.has(p.r.key) })),
    pointName: 'a point', highlightName: 'Pareto front (no point saves more for less CPU)',
  });

  const num = (v: number | null | undefined, d: number) => (v === null || v === undefined ? '—' : v.toFixed(d));
  const head = `<tr>${names.map((n) => `<th>${esc(n)}</th>`).join('')}<th class="num">saved</th><th class="num">saved %</th><th class="num">pages_sharing</th>`
    + '<th class="num">ksmd CPU s</th><th class="num">CPU % of a core</th><th class="num">converged after s</th><th class="num">wall s</th><th>runner</th><th>error</th></tr>';
  const body = sorted.map((r) => {
    const x = r.result;
    const axes = names.map((n) => `<td>${esc(String(r.point[n] ?? ''))}</td>`).join('');
    const runner = `${r.runner.via}${r.runner.pid === null ? '' : ` ${r.runner.pid}`}@${r.version.host}`;
    if (!x) return `<tr>${axes}<td colspan="7"></td><td>${esc(runner)}</td><td class="err">${esc(r.error ?? '')}</td></tr>`;
    return `<tr${front.has(r.key) ? ' class="front"' : ''}>${axes}<td class="num">${mib(x.saved_bytes).toFixed(1)} MiB</td><td class="num">${(100 * savedShare(x)).toFixed(1)}</td>`
      + `<td class="num">${x.pages_sharing}</td><td class="num">${num(mergeCpuSeconds(x), 2)}</td><td class="num">${num(x.ksmd_cpu_share === null ? null : 100 * x.ksmd_cpu_share, 1)}</td>`
      + `<td class="num">${num(x.converge_seconds, 2)}</td><td class="num">${r.wall_seconds.toFixed(1)}</td><td>${esc(runner)}</td><td></td></tr>`;
  }).join('\n');
  const failed = sorted.length - ok.length;
  const versions = [...new Set(sorted.map((r) => `ksmsim ${r.version.ksmsim}${r.version.commit ? ` (${r.version.commit.slice(0, 12)})` : ''}`))].join(', ');
  const missing = m.points - sorted.length;
  return htmlPage(`ksmsim sweep — ${m.file}`, CSS, `<header><h1>KSM sweep report</h1><p class="sub">${esc(`${m.file} · ${sorted.length} of ${m.points} points${missing ? ` (${missing} not run yet)` : ''}${failed ? `, ${failed} failed` : ''} · axes ${m.axes.map((a) => `${a.name} [${a.values.map(show).join(', ')}]`).join(' × ')} · ${versions || 'no results'}`)}</p></header>
<div class="charts">
<figure>${savingMap}<figcaption>${esc(`Saved memory as a share of the fleet's memory without KSM.${averaged}`)}</figcaption></figure>
<figure>${cpuMap}<figcaption>${esc(`CPU time of the ksmd thread from the fleet being up to the end of the run (DKSM, UKSM: the engine's own).${averaged}`)}</figcaption></figure>
<figure>${scatter}<figcaption>${esc('Every point that finished; the Pareto front (marked) are the points no other point beats on both counts — the settings worth choosing from.')}</figcaption></figure>
</div>
<div class="card" style="margin-top:12px"><h2>All points</h2><p class="hint">${esc('Rows on the Pareto front have an orange edge. The full density result of each point is its line of results.jsonl.')}</p><div class="scroll"><table class="points">
<thead>${head}</thead>
<tbody>
${body}
</tbody>
</table></div></div>
<footer>${esc(`Sweep ${m.sweep_id}. Run a point alone: ksmsim density followed by its density_args in results.jsonl.`)}</footer>`);
}
