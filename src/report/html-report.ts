// html-report.ts — owns the `ksmsim density --html FILE` page: one self-contained HTML document (inline
// CSS, inline SVG charts from svg-chart.ts, no scripts, no fonts, no URLs) that opens with no network.

import type { DensityResult, DensitySample, GuestProfit } from '../density/density-types.ts';
import { stopDetail } from '../density/capacity-run.ts';
import { capacitySentence, capText, gainText } from './capacity-text.ts';
import { esc, groupedBarChart, hBarChart, lineChart, PALETTE } from './svg-chart.ts';
import { htmlPage } from './html-page.ts';

const PAGE = 4096;
const MAX_GUEST_BARS = 40;

/** The chart titles, also used by tests and by readers who search the page. */
export const CHART_TITLES = {
  memory: 'Host memory used, with and without KSM',
  counters: 'KSM page counters over time (KSM on)',
  nodes: 'Memory per NUMA node at the end',
  guests: 'Profit per guest (ksm_process_profit)',
} as const;

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  const abs = Math.abs(bytes);
  if (abs >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (abs >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** A display unit for a byte axis whose largest value is maxBytes. */
export function byteUnit(maxBytes: number): { name: string; div: number } {
  const m = Math.abs(maxBytes);
  if (m >= 4 * 2 ** 30) return { name: 'GiB', div: 2 ** 30 };
  if (m >= 2 * 2 ** 20 || m === 0) return { name: 'MiB', div: 2 ** 20 };
  return { name: 'KiB', div: 2 ** 10 };
}

function pct(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const p = x * 100;
  return `${Math.abs(p) >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return 'n/a';
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`;
}

function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

/** "the emulator" or "the real kernel (Linux 6.18.4)": which KSM ran the fleet. */
export function backendName(r: DensityResult): string {
  return r.backend === 'linux' ? `the real kernel${r.kernel ? ` (Linux ${r.kernel.kernel})` : ''}` : 'the emulator';
}

export function fleetText(result: DensityResult): string {
  return result.fleet.map((f) => `${f.workload}×${f.count}${f.args.length ? ` (${f.args.join(', ')})` : ''}`).join(', ') || '(empty fleet)';
}

function guestCount(result: DensityResult): number {
  return result.fleet.reduce((a, f) => a + f.count, 0);
}

function last<T>(xs: readonly T[]): T | undefined {
  return xs[xs.length - 1];
}

// ───────────────────────────── charts ─────────────────────────────

function memoryChart(r: DensityResult): string {
  const w = r.series.without_ksm;
  const k = r.series.with_ksm;
  const max = Math.max(0, ...w.map((s) => s.memory_used_bytes), ...k.map((s) => s.memory_used_bytes));
  const host = r.host.memory_bytes;
  // Show the host's memory only when the curves come near it (capacity runs); otherwise it squashes them.
  const showHost = host > 0 && max >= host * 0.6;
  const unit = byteUnit(showHost ? Math.max(host, max) : max);
  const pts = (ss: readonly DensitySample[]): Array<[number, number]> => ss.map((s) => [s.t, s.memory_used_bytes / unit.div]);
  return lineChart({
    id: 'chart-memory',
    title: CHART_TITLES.memory,
    xLabel: 'time since the phase started (s)',
    yLabel: `memory used (${unit.name})`,
    series: [
      { name: 'without KSM', color: PALETTE[1], points: pts(w), dash: '7 4' },
      { name: 'with KSM', color: PALETTE[0], points: pts(k) },
    ],
    refLines: showHost ? [{ y: host / unit.div, label: `host memory (${formatBytes(host)})`, color: '#888' }] : [],
    markers: phaseMarkers(r),
  });
}

/** "fleet up" and "converged" on the KSM-on run's time axis. */
function phaseMarkers(r: DensityResult): Array<{ x: number; label: string }> {
  const up = r.fleet_up_seconds;
  if (!Number.isFinite(up)) return [];
  const out = [{ x: up, label: 'fleet up (with KSM)' }];
  if (r.converge_seconds !== null) out.push({ x: up + r.converge_seconds, label: 'converged' });
  return out;
}

const COUNTER_SERIES = [
  { key: 'pages_shared', color: PALETTE[0] },
  { key: 'pages_sharing', color: PALETTE[2] },
  { key: 'pages_unshared', color: PALETTE[3] },
  { key: 'pages_volatile', color: PALETTE[4] },
] as const;

function countersChart(r: DensityResult): string {
  const k = r.series.with_ksm;
  return lineChart({
    id: 'chart-counters',
    title: CHART_TITLES.counters,
    xLabel: 'time since the phase started (s)',
    yLabel: 'pages (4 KiB)',
    series: COUNTER_SERIES.map((c) => ({
      name: c.key,
      color: c.color,
      points: k.filter((s) => typeof s.counters[c.key] === 'number').map((s) => [s.t, s.counters[c.key]!] as [number, number]),
    })),
    markers: phaseMarkers(r),
  });
}

function nodesChart(r: DensityResult): string {
  const w = last(r.series.without_ksm)?.node_used_bytes ?? [];
  const k = last(r.series.with_ksm)?.node_used_bytes ?? [];
  const n = Math.max(w.length, k.length);
  const unit = byteUnit(Math.max(0, ...w, ...k));
  const groups = Array.from({ length: n }, (_, i) => `node ${i}`);
  return groupedBarChart({
    id: 'chart-nodes',
    title: CHART_TITLES.nodes,
    yLabel: `memory used (${unit.name})`,
    groups,
    series: [
      { name: 'without KSM', color: PALETTE[1], values: groups.map((_, i) => (w[i] ?? 0) / unit.div) },
      { name: 'with KSM', color: PALETTE[0], values: groups.map((_, i) => (k[i] ?? 0) / unit.div) },
    ],
  });
}

function workloadColors(guests: readonly GuestProfit[], fleet: DensityResult['fleet']): Map<string, string> {
  const names = [...new Set([...fleet.map((f) => f.workload), ...guests.map((g) => g.workload)])];
  return new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]!]));
}

function guestsChart(r: DensityResult, minHeight: number): string {
  const colors = workloadColors(r.per_guest, r.fleet);
  let guests = r.per_guest;
  let note: string | undefined;
  if (guests.length > MAX_GUEST_BARS) {
    // Too many bars to read: show the best and the worst, say how many are left out.
    const sorted = [...guests].sort((a, b) => b.ksm_process_profit - a.ksm_process_profit);
    const keepTop = MAX_GUEST_BARS - 5;
    const shown = [...sorted.slice(0, keepTop), ...sorted.slice(-5)];
    const hidden = sorted.slice(keepTop, -5);
    note = `${hidden.length} guests in the middle not drawn (profit ${formatBytes(hidden.reduce((a, g) => a + g.ksm_process_profit, 0))} in all); see the table below`;
    guests = shown;
  }
  const unit = byteUnit(Math.max(0, ...guests.map((g) => Math.abs(g.ksm_process_profit))));
  const present = new Set(guests.map((g) => g.workload));
  return hBarChart({
    id: 'chart-guests',
    title: CHART_TITLES.guests,
    xLabel: `profit (${unit.name}) = merged pages × 4 KiB − rmap_items × 64 B`,
    bars: guests.map((g) => ({ label: g.name, value: g.ksm_process_profit / unit.div, color: colors.get(g.workload) ?? '#777' })),
    legend: [...colors].filter(([n]) => present.has(n)).map(([name, color]) => ({ name, color })),
    note,
    minHeight,
    // Few guests get taller bars so the chart fills its cell; many get thin ones.
    rowHeight: Math.min(26, Math.max(15, Math.floor(300 / Math.max(1, guests.length)))),
  });
}

// ───────────────────────────── tables ─────────────────────────────

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>, numericFrom = 1, cls = ''): string {
  return `<div class="scroll"><table${cls ? ` class="${esc(cls)}"` : ''}><thead><tr>${head.map((h, i) => `<th${i >= numericFrom ? ' class="num"' : ''}>${esc(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${i >= numericFrom ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
}

function capacitySection(r: DensityResult): string {
  const c = r.capacity;
  if (!c) return '';
  const rows: string[][] = [
    ['guests that fit without KSM', int(c.without_ksm.guests)],
    ['stopped (KSM off)', stopDetail(c.without_ksm.stop)],
    ['guests that fit with KSM', int(c.with_ksm.guests)],
    ['stopped (KSM on)', stopDetail(c.with_ksm.stop)],
    ['density gain (with ÷ without)', gainText(c)],
    ['guest cap', capText(c)],
    ['host memory', formatBytes(r.host.memory_bytes)],
  ];
  const w = c.with_swap;
  if (w) {
    const perGuest = (x: typeof w.with_ksm): string => (x.swap ? `${x.swap.swap_ins_per_guest.toFixed(0)} swap-ins per guest over ${x.seconds.toFixed(0)} s` : '');
    rows.push(
      [`with ${formatBytes(w.swap_bytes)} of swap, without KSM`, `${int(w.without_ksm.guests)} (${w.extra_guests_without_ksm >= 0 ? '+' : ''}${w.extra_guests_without_ksm}; ${perGuest(w.without_ksm)})`],
      [`with ${formatBytes(w.swap_bytes)} of swap, with KSM`, `${int(w.with_ksm.guests)} (${w.extra_guests_with_ksm >= 0 ? '+' : ''}${w.extra_guests_with_ksm}; ${perGuest(w.with_ksm)})`],
    );
  }
  return `<section class="card"><h2>Capacity</h2><p class="hint">Guests were launched one at a time until one did not fit, once with KSM off and once with it on. `
    + `Each run says why it stopped: oom (memory full — the measurement), max-guests (the cap: more might fit, so the gain is a lower bound), guest-failed, or timeout.</p>${table(['', 'value'], rows)}</section>`;
}

function numaSection(r: DensityResult): string {
  if (!r.numa || r.numa.length === 0) return '';
  const rows = r.numa.map((n) => [
    n.merge_across_nodes === 1 ? '1 (merge across nodes)' : '0 (merge per node)',
    formatBytes(n.memory_with_ksm_bytes),
    formatBytes(n.saved_bytes),
    pct(n.remote_access_share),
  ]);
  const on = r.numa.find((n) => n.merge_across_nodes === 1);
  const off = r.numa.find((n) => n.merge_across_nodes === 0);
  let verdict = '';
  if (on && off) {
    const more = on.saved_bytes - off.saved_bytes;
    verdict = `<p>Merging across nodes saves ${esc(formatBytes(more))} ${more >= 0 ? 'more' : 'less'} than keeping merges node-local, `
      + `at the cost of ${esc(pct(on.remote_access_share))} of guest pages living on a remote node (against ${esc(pct(off.remote_access_share))}).</p>`;
  }
  return `<section class="card"><h2>NUMA trade-off</h2><p class="hint">Remote share: the guests' mapped pages whose frame is on another node than the guest's home node — each access to them pays the remote-node latency.</p>`
    + `${table(['merge_across_nodes', 'with KSM', 'saved', 'remote'], rows)}${verdict}</section>`;
}

function knobsSection(r: DensityResult): string {
  const rows = Object.entries(r.knobs).map(([k, v]) => [k, String(v)]);
  return `<section class="card"><h2>Knobs</h2>${rows.length ? table(['/sys/kernel/mm/ksm', 'value'], rows, 2, 'knobs') : '<p class="hint">No knobs recorded.</p>'}</section>`;
}

function fleetSection(r: DensityResult): string {
  const rows = r.fleet.map((f) => [f.workload, int(f.count), f.args.join(' ') || '—']);
  return `<section class="card"><h2>Fleet</h2>${table(['workload', 'guests', 'arguments'], rows, 1)}`
    + `<p class="hint">Host: ${esc(formatBytes(r.host.memory_bytes))} in ${esc(int(r.host.numa_nodes))} NUMA node${r.host.numa_nodes === 1 ? '' : 's'}.</p></section>`;
}

function guestTable(r: DensityResult): string {
  const rows = [...r.per_guest]
    .sort((a, b) => b.ksm_process_profit - a.ksm_process_profit)
    .map((g) => [g.name, g.workload, String(g.pid), int(g.ksm_merging_pages), formatBytes(g.ksm_process_profit), int(g.private_pages)]);
  return `<details class="card"><summary>All ${esc(int(r.per_guest.length))} guests (by profit)</summary>`
    + `${table(['guest', 'workload', 'pid', 'merging pages', 'profit', 'private pages'], rows, 2)}</details>`;
}

// ───────────────────────────── headline ─────────────────────────────

function stat(label: string, value: string, sub = '', cls = ''): string {
  return `<div class="stat${cls ? ` ${cls}` : ''}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>${sub ? `<div class="sub">${esc(sub)}</div>` : ''}</div>`;
}

export function headlineSentence(r: DensityResult): string {
  const savedShare = r.memory_without_ksm_bytes > 0 ? r.saved_bytes / r.memory_without_ksm_bytes : NaN;
  const parts = [
    `${guestCount(r)} guests (${fleetText(r)}) used ${formatBytes(r.memory_without_ksm_bytes)} without KSM and ${formatBytes(r.memory_with_ksm_bytes)} with it`
      + ` — ${formatBytes(r.saved_bytes)} saved (${pct(savedShare)}).`,
  ];
  if (r.capacity) parts.push(capacitySentence(r.capacity));
  parts.push(r.converge_seconds === null
    ? 'The saving had not settled within 1 % of its final value by the end of the run.'
    : `The saving came within 1 % of its final value ${seconds(r.converge_seconds)} after the fleet was up.`);
  const thread = r.backend === 'linux' ? 'ksmd (the kernel thread)' : 'ksmd\'s thread';
  parts.push(r.ksmd_cpu_seconds === null
    ? `${thread === 'ksmd\'s thread' ? 'ksmd\'s thread CPU time' : 'The CPU time of ksmd (the kernel thread)'} was not available on this system (${r.backend === 'linux' ? 'no ksmd in /proc' : 'no /proc/thread-self'}); the run lasted ${seconds(r.ksmd_wall_seconds)} of wall time.`
    : `${thread} used ${seconds(r.ksmd_cpu_seconds)} of CPU in ${seconds(r.ksmd_wall_seconds)} of wall time (${pct(r.ksmd_cpu_share ?? NaN)} of one core).`);
  return parts.join(' ');
}

function headline(r: DensityResult): string {
  const savedShare = r.memory_without_ksm_bytes > 0 ? r.saved_bytes / r.memory_without_ksm_bytes : NaN;
  const stats = [
    stat('Memory without KSM', formatBytes(r.memory_without_ksm_bytes), `${int(guestCount(r))} guests`),
    stat('Memory with KSM', formatBytes(r.memory_with_ksm_bytes), `of ${formatBytes(r.host.memory_bytes)} host memory`),
    stat('Saved', formatBytes(r.saved_bytes), `${pct(savedShare)} of memory without KSM`, r.saved_bytes > 0 ? 'good' : 'bad'),
  ];
  if (r.capacity) {
    const c = r.capacity;
    stats.push(stat('Density gain', gainText(c), `${c.with_ksm.guests} guests fit with KSM (${c.with_ksm.stop_text}), ${c.without_ksm.guests} without (${c.without_ksm.stop_text})`,
      c.density_gain_bound !== 'unknown' && (c.density_gain ?? 0) > 1 ? 'good' : ''));
  }
  stats.push(stat('Converged after', r.converge_seconds === null ? 'not yet' : seconds(r.converge_seconds), 'within 1 % of the final saving'));
  stats.push(stat('ksmd CPU s (thread)', r.ksmd_cpu_seconds === null ? 'n/a' : seconds(r.ksmd_cpu_seconds),
    `in ${seconds(r.ksmd_wall_seconds)} wall: ${r.ksmd_cpu_share === null ? 'n/a' : pct(r.ksmd_cpu_share)} of one core`));
  const small = [
    ['pages_shared', int(r.pages_shared)],
    ['pages_sharing', int(r.pages_sharing)],
    ['general_profit', `${int(r.general_profit)} B (${formatBytes(r.general_profit)})`],
    ['sharing ÷ shared', r.pages_shared > 0 ? (r.pages_sharing / r.pages_shared).toFixed(2) : 'n/a'],
  ];
  return `<section class="stats">${stats.join('')}</section>`
    + `<p class="lead">${esc(headlineSentence(r))}</p>`
    + `<p class="counters">${small.map(([k, v]) => `<span><code>${esc(k!)}</code> ${esc(v!)}</span>`).join('')}</p>`;
}

// ───────────────────────────── page ─────────────────────────────

export const REPORT_CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1260px;margin:0 auto;padding:18px 20px 40px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 8px}
header .sub{color:#57606a;margin:0 0 14px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:10px;margin-bottom:10px}
.stat{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:10px 14px}
.stat .label{color:#57606a;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.stat .value{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0}
.stat .sub{color:#57606a;font-size:12px}
.stat.good .value{color:#0a7a4f}
.stat.bad .value{color:#b42318}
.lead{font-size:15px;margin:6px 0 6px;max-width:1100px}
.counters{color:#57606a;margin:0 0 14px;display:flex;flex-wrap:wrap;gap:6px 20px}
code{font:12.5px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;color:#1f2328}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px;align-items:start}
figure{margin:0;background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:6px}
figure svg{display:block;width:100%;height:auto}
figcaption{color:#57606a;font-size:12px;padding:2px 8px 4px}
.tables{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px;margin-top:12px;align-items:start}
@media (min-width:1100px){.tables.three{grid-template-columns:1fr 1.35fr 1fr}}
.col{display:flex;flex-direction:column;gap:12px}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 14px}
details.card{margin-top:12px}
summary{cursor:pointer;font-weight:600}
.hint{color:#57606a;font-size:12.5px;margin:0 0 8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2}
th{font-weight:600;color:#57606a;font-size:12.5px}
td.num,th.num{text-align:right;white-space:nowrap}
table.knobs td:first-child{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
footer{color:#6e7781;font-size:12px;margin-top:18px}
@media (max-width:900px){.charts{grid-template-columns:1fr}}
`;

export function renderDensityHtml(result: DensityResult): string {
  const r = result;
  const nodes = Math.max(r.host.numa_nodes, last(r.series.with_ksm)?.node_used_bytes.length ?? 0);
  const dt = (ss: readonly DensitySample[]): string => {
    if (ss.length < 2) return `${ss.length} sample${ss.length === 1 ? '' : 's'}`;
    const step = (ss[ss.length - 1]!.t - ss[0]!.t) / (ss.length - 1);
    return `${int(ss.length)} samples, every ${seconds(step)}`;
  };
  const figures = [
    { chart: memoryChart(r), caption: `Both phases run the same fleet; time 0 is the start of each phase. Without KSM: ${dt(r.series.without_ksm)}; with KSM: ${dt(r.series.with_ksm)}.` },
    { chart: countersChart(r), caption: 'pages_shared: KSM pages in use; pages_sharing: extra mappings of them (the saving); pages_unshared: scanned, unique so far; pages_volatile: changing too fast to merge.' },
    { chart: nodesChart(r), caption: `Last sample of each phase, ${nodes} node${nodes === 1 ? '' : 's'}.` },
    { chart: guestsChart(r, 340), caption: 'From each guest\'s /proc/self/ksm_stat at the end of the KSM-on phase; negative when its rmap_items cost more than it merged.' },
  ];
  const title = `ksmsim density — ${fleetText(r)}`;
  const columns = [capacitySection(r) + fleetSection(r), numaSection(r), knobsSection(r)].filter(Boolean);
  return htmlPage(title, REPORT_CSS, `<header><h1>KSM density report — ${esc(backendName(r))}</h1><p class="sub">${esc(`Fleet ${fleetText(r)} on a ${formatBytes(r.host.memory_bytes)} ${r.backend === 'linux' ? 'machine' : 'host'} with ${r.host.numa_nodes} NUMA node${r.host.numa_nodes === 1 ? '' : 's'} · ksmsim density --backend ${r.backend}`)}</p></header>
${headline(r)}
<section class="charts">
${figures.map((f) => `<figure>${f.chart}<figcaption>${esc(f.caption)}</figcaption></figure>`).join('\n')}
</section>
<section class="tables${columns.length === 3 ? ' three' : ''}">
${columns.map((c) => `<div class="col">${c}</div>`).join('\n')}
</section>
${guestTable(r)}
<footer>Generated by ksmsim density. Page size ${PAGE} bytes. ${esc(r.backend === 'linux'
    ? 'Counters are this machine\'s /sys/kernel/mm/ksm; memory is the guests\' own mappings in /proc/PID/smaps (Σ Rss − pages_sharing × 4 KiB); per-guest numbers are each process\'s /proc/PID/ksm_stat.'
    : 'Counters are /sys/kernel/mm/ksm as the guests\' host exposes it; per-guest numbers are each guest\'s /proc/self/ksm_stat.')}</footer>`);
}
