// tuner-report.ts — owns how `ksmsim density --tuner` is shown: the comparison table (text and
// Markdown) and one self-contained HTML page with the charts — saving over time, the knobs each
// tuner chose (run, pages_to_scan, sleep_millisecs) and ksmd's thread CPU time, schedule marked.

import type { TunerComparison, TunerRun } from '../density/tuner-run.ts';
import { esc, lineChart, PALETTE, type Marker } from './svg-chart.ts';
import { formatBytes } from './html-report.ts';
import { htmlPage } from './html-page.ts';

export const TUNER_CHART_TITLES = {
  saving: 'Memory saved over time (pages_sharing + ksm_zero_pages)',
  pagesToScan: 'pages_to_scan each tuner chose (0 while run=0)',
  sleep: 'sleep_millisecs each tuner chose',
  cpu: 'ksmd thread CPU time since the fleet was up',
} as const;

const COLOR: Record<TunerRun['tuner'], string> = { fixed: PALETTE[0], ksmtuned: PALETTE[1], advisor: PALETTE[2] };

/** fixed blue, ksmtuned vermillion, advisor green; a second ksmtuned (another conf) in the next free colours. */
function colors(c: TunerComparison): string[] {
  const used = new Set<string>();
  let spare = 3;
  return c.runs.map((r) => {
    let col = COLOR[r.tuner];
    if (used.has(col)) col = PALETTE[spare++ % PALETTE.length]!;
    used.add(col);
    return col;
  });
}

function labelOf(r: TunerRun): string {
  return r.label ?? r.tuner;
}

function secs(v: number | null): string {
  return v === null ? 'never' : `${v.toFixed(1)} s`;
}

function lastKnobs(r: TunerRun): string {
  const s = r.series.at(-1);
  return s ? `run=${s.run} pages_to_scan=${s.pages_to_scan} sleep_millisecs=${s.sleep_millisecs}` : '';
}

export interface TunerRow {
  readonly tuner: string;
  readonly final: string;
  readonly mean: string;
  readonly t95: string;
  readonly cpu: string;
  readonly knobs: string;
}

export function tunerRows(c: TunerComparison): TunerRow[] {
  return c.runs.map((r) => ({
    tuner: labelOf(r),
    final: formatBytes(r.final_saved_bytes),
    mean: formatBytes(r.mean_saved_bytes),
    t95: secs(r.time_to_95_seconds),
    cpu: r.ksmd_cpu_seconds === null ? 'n/a' : `${r.ksmd_cpu_seconds.toFixed(2)} s`,
    knobs: lastKnobs(r),
  }));
}

const HEAD = ['tuner', 'saved at end', 'mean saved', 'time to 95 % of final', 'ksmd CPU (thread)', 'knobs at end'];

export function tunerMarkdown(c: TunerComparison): string {
  const rows = tunerRows(c).map((r) => [r.tuner, r.final, r.mean, r.t95, r.cpu, `\`${r.knobs}\``]);
  return [`| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

export function tunerText(c: TunerComparison): string[] {
  const rows = tunerRows(c).map((r) => [r.tuner, r.final, r.mean, r.t95, r.cpu, r.knobs]);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(HEAD), ...rows.map(line)];
}

function markers(c: TunerComparison): Marker[] {
  return [{ x: 0, label: 'fleet up', color: '#777' }, ...c.schedule.map((e) => ({ x: e.at, label: e.event, color: '#777' }))];
}

function chart(c: TunerComparison, id: string, title: string, yLabel: string, y: (s: TunerRun['series'][number]) => number | null): string {
  const col = colors(c);
  return lineChart({
    id, title, xLabel: 'seconds after the starting fleet was up', yLabel, markers: markers(c), width: 620, height: 340,
    series: c.runs.map((r, i) => ({
      name: labelOf(r), color: col[i]!,
      points: r.series.filter((s) => y(s) !== null).map((s) => [s.t, y(s)!] as const),
    })),
  });
}

export function tunerCharts(c: TunerComparison): string[] {
  const mib = (b: number) => b / 2 ** 20;
  return [
    chart(c, 'tuner-saving', TUNER_CHART_TITLES.saving, 'MiB saved', (s) => mib(s.saved_bytes)),
    chart(c, 'tuner-pages', TUNER_CHART_TITLES.pagesToScan, 'pages per batch', (s) => (s.run === 1 ? s.pages_to_scan : 0)),
    chart(c, 'tuner-sleep', TUNER_CHART_TITLES.sleep, 'ms', (s) => s.sleep_millisecs),
    chart(c, 'tuner-cpu', TUNER_CHART_TITLES.cpu, 'CPU seconds', (s) => s.ksmd_cpu_seconds),
  ];
}

const CSS = `body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,sans-serif;margin:0;background:#fff;color:#1b1f24}
main{max-width:1280px;margin:0 auto;padding:16px 24px}h1{font-size:22px;margin:8px 0 2px}.sub{color:#555;margin:0 0 12px}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}figure{margin:0}svg.chart{max-width:100%;height:auto}
figcaption{color:#555;font-size:13px}table{border-collapse:collapse;margin:14px 0;font-size:14px}th,td{border-bottom:1px solid #d0d4da;padding:4px 10px;text-align:left}
th{background:#f6f7f9}td.num{text-align:right}footer{color:#555;font-size:12px;margin-top:12px}`;

export function renderTunerHtml(c: TunerComparison): string {
  const fleet = c.fleet.map((e) => `${e.count}× ${e.workload}`).join(', ');
  const sched = c.schedule.length ? c.schedule.map((e) => `at ${e.at} s ${e.event}`).join('; ') : 'no schedule';
  const rows = tunerRows(c);
  const table = `<table><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>`
    + rows.map((r) => `<tr><td>${esc(r.tuner)}</td><td class="num">${esc(r.final)}</td><td class="num">${esc(r.mean)}</td><td class="num">${esc(r.t95)}</td><td class="num">${esc(r.cpu)}</td><td><code>${esc(r.knobs)}</code></td></tr>`).join('')
    + '</tbody></table>';
  const title = `ksmsim density --tuner — ${fleet}`;
  return htmlPage(title, CSS, `<header><h1>KSM tuners compared</h1><p class="sub">${esc(`Fleet ${fleet} on a ${formatBytes(c.host.memory_bytes)} host; schedule: ${sched}; each run lasts ${c.run_seconds} s after the starting fleet is up, on a fresh host.`)}</p></header>
${table}
<section class="charts">
${tunerCharts(c).map((svg) => `<figure>${svg}</figure>`).join('\n')}
</section>
<footer>Generated by ksmsim density --tuner. fixed: the density defaults (run=1, pages_to_scan=4000, sleep_millisecs=10) and --ksm; ksmtuned: the ksm service then ksmtuned from the kernel's defaults; advisor: advisor_mode=scan-time, run=1, from the kernel's defaults.</footer>`);
}
