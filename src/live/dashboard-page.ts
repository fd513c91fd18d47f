// dashboard-page.ts — owns the dashboard's one HTML page: markup, style and the script that draws the
// host's state from the event stream (no external resources: it works with no network).

import { PALETTE, esc } from '../report/svg-chart.ts';

export interface PageSpec {
  /** The engine's directory (/sys/kernel/mm/ksm/, dksm/ or uksm/), its knobs, its status rows and charted counters (engine-view.ts). */
  readonly dir: string;
  readonly counters: readonly string[];
  readonly chart: readonly string[];
  readonly knobs: readonly string[];
  readonly workloads: readonly string[];
  readonly numaNodes: number;
  readonly tickMs: number;
}

export function renderDashboardPage(spec: PageSpec): string {
  const knobRows = spec.knobs.map((k) =>
    `<tr><th>${esc(k)}</th><td class="cur" id="knob-cur-${esc(k)}"></td>` +
    `<td class="set"><input id="knob-${esc(k)}" data-knob="${esc(k)}" size="10"> <button class="knob-set" data-knob="${esc(k)}">set</button></td>` +
    `<td class="err" id="knob-error-${esc(k)}"></td></tr>`).join('\n');
  const workloadOptions = spec.workloads.map((w) => `<option value="${esc(w)}">${esc(w)}</option>`).join('');
  const nodeOptions = ['<option value="">auto</option>', ...Array.from({ length: spec.numaNodes }, (_, i) => `<option value="${i}">${i}</option>`)].join('');
  const legend = spec.chart.map((c, i) => `<span><i style="background:${PALETTE[i]}"></i>${c}</span>`).join(' ');
  const config = JSON.stringify({ counters: spec.chart, rows: spec.counters, palette: PALETTE, tickMs: spec.tickMs });
  const title = `${spec.dir.replace(/\/$/, '')} counters`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ksmsim live host</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}
header{background:#1f2a37;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0} header .meta{color:#c9d1d9;font-size:13px}
#conn{margin-left:auto;font-size:13px} #conn.live{color:#7ee787} #conn.down{color:#ff7b72}
main{display:grid;grid-template-columns:minmax(420px,1.3fr) minmax(360px,1fr);gap:16px;padding:16px 20px}
section{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:12px 14px}
section h2{font-size:15px;margin:0 0 8px} .wide{grid-column:1/-1}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef1f4;font-variant-numeric:tabular-nums}
th{font-weight:600} td.num,th.num{text-align:right} .err{color:#cf222e;font-size:13px}
.legend span{margin-right:12px;font-size:12px} .legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.bar{background:#eef1f4;border-radius:3px;height:18px;position:relative;margin:4px 0 10px}
.bar div{background:${PALETTE[0]};height:100%;border-radius:3px} .bar span{position:absolute;left:8px;top:0;font-size:12px;line-height:18px}
.state-running{color:#1a7f37} .state-failed,.state-oom-killed{color:#cf222e} .state-exited{color:#57606a}
form{display:flex;gap:8px;flex-wrap:wrap;align-items:center} input,select,button{font:inherit}
button{cursor:pointer} #log{font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;max-height:160px;overflow:auto;margin:0;color:#57606a}
td.set,td.num{white-space:nowrap} section{overflow-x:auto} #guests th{font-size:12px;padding:3px 5px} #guests td{padding:3px 5px} #guests td:nth-child(3){white-space:nowrap} #knobs th{width:18em} #knobs td.cur{width:10em}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
</style></head>
<body>
<header><h1>ksmsim live host</h1><span class="meta" id="meta"></span><span id="conn" class="down">connecting…</span></header>
<main>
<section><h2>${esc(title)} over time</h2>
<svg id="chart" width="100%" height="260" viewBox="0 0 640 260" preserveAspectRatio="none" role="img" aria-label="${esc(title)} over time"></svg>
<div class="legend">${legend}</div></section>
<section><h2>${esc(title)}</h2><table id="counters"><tbody></tbody></table></section>
<section><h2>Memory per NUMA node</h2><div id="nodes"></div><div id="meminfo" class="meta"></div></section>
<section><h2>Start a guest</h2>
<form id="start-form" onsubmit="return false">
<input id="start-name" placeholder="name" size="10" required>
<select id="start-workload">${workloadOptions}</select>
<input id="start-args" placeholder="args, e.g. size=4MiB seed=1" size="24">
<label>node <select id="start-node">${nodeOptions}</select></label>
<button id="start-button" type="submit">start</button></form>
<div class="err" id="start-error"></div></section>
<section class="wide"><h2>Guests</h2>
<table id="guests"><thead><tr><th class="num">id</th><th>name</th><th>program</th><th>state</th><th class="num">node</th><th class="num">RSS</th>
<th class="num">ksm_rmap_items</th><th class="num">ksm_zero_pages</th><th class="num">ksm_merging_pages</th><th class="num">ksm_process_profit</th><th>merge_any</th><th>mergeable</th><th></th></tr></thead>
<tbody></tbody></table><div class="err" id="guest-error"></div></section>
<section class="wide"><h2>Knobs</h2><table id="knobs"><tbody>
${knobRows}
</tbody></table></section>
<section class="wide"><h2>Log</h2><pre id="log"></pre></section>
</main>
<script>
"use strict";
const CFG = ${config.replace(/</g, '\\u003c')};
const history = [];
let knobsSeen = false;
const $ = (id) => document.getElementById(id);
function fmtBytes(b) {
  const a = Math.abs(b);
  if (a >= 1073741824) return (b / 1073741824).toFixed(2) + ' GiB';
  if (a >= 1048576) return (b / 1048576).toFixed(1) + ' MiB';
  if (a >= 1024) return (b / 1024).toFixed(1) + ' KiB';
  return b + ' B';
}
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
async function call(op, args) {
  const r = await fetch('/api/' + op, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args || {}) });
  const j = await r.json();
  if (!j.ok) throw new Error(j.error.lead ? j.error.lead + ': ' + j.error.message : j.error.message);
  return j.result;
}
function drawChart() {
  const svg = $('chart'), W = 640, H = 260, L = 56, R = 10, T = 10, B = 24;
  if (history.length === 0) { svg.innerHTML = ''; return; }
  const t0 = history[0].t, t1 = Math.max(history[history.length - 1].t, t0 + 1);
  let max = 1;
  for (const s of history) for (const c of CFG.counters) max = Math.max(max, s.counters[c] || 0);
  const mag = Math.pow(10, Math.floor(Math.log10(max))), step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => max / s <= 5) || mag * 10;
  const top = Math.ceil(max / step) * step;
  const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R), y = (v) => H - B - v / top * (H - T - B);
  let out = '';
  for (let v = 0; v <= top + 1e-9; v += step) out += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) + '" stroke="#e5e9ee"/><text x="' + (L - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + v + '</text>';
  out += '<text x="' + L + '" y="' + (H - 6) + '">' + t0.toFixed(0) + ' s</text><text x="' + (W - R) + '" y="' + (H - 6) + '" text-anchor="end">' + t1.toFixed(0) + ' s</text>';
  CFG.counters.forEach((c, i) => {
    const pts = history.map((s) => x(s.t).toFixed(1) + ',' + y(s.counters[c] || 0).toFixed(1)).join(' ');
    out += '<polyline fill="none" stroke-width="2" stroke="' + CFG.palette[i] + '" points="' + pts + '" data-counter="' + c + '"/>';
  });
  svg.innerHTML = out;
}
function renderCounters(st) {
  const tb = $('counters').tBodies[0];
  const names = CFG.rows;
  if (tb.rows.length === 0) for (const n of names) { const tr = tb.insertRow(); tr.appendChild(el('th', n)); const td = el('td', '', 'num'); td.id = 'c-' + n; tr.appendChild(td); }
  // (UKSM's ksm_zero_pages is not a sysfs file: its KsmZeroPages line comes with the sample.)
  for (const n of names) { const v = n in st.files ? st.files[n] : st.sample.counters[n]; $('c-' + n).textContent = v + (n === 'general_profit' ? ' (' + fmtBytes(Number(v)) + ')' : ''); }
}
function renderNodes(st) {
  const box = $('nodes'); box.textContent = '';
  for (const n of st.nodes) {
    box.appendChild(el('div', 'node ' + n.node + ': ' + fmtBytes(n.usedBytes) + ' used of ' + fmtBytes(n.totalBytes) + ', ' + fmtBytes(n.freeBytes) + ' free'));
    const bar = el('div', undefined, 'bar'), fill = el('div');
    fill.style.width = (100 * n.usedBytes / n.totalBytes).toFixed(1) + '%';
    bar.appendChild(fill); bar.appendChild(el('span', (100 * n.usedBytes / n.totalBytes).toFixed(1) + '%')); box.appendChild(bar);
  }
}
function renderGuests(st) {
  // Rows are updated in place, not rebuilt: a destroy button replaced between mousedown and mouseup would lose the click.
  const tb = $('guests').tBodies[0], seen = new Set();
  for (const g of st.guests) {
    seen.add(g.name);
    let tr = tb.querySelector('tr[data-name="' + CSS.escape(g.name) + '"]');
    if (!tr) {
      tr = document.createElement('tr'); tr.dataset.name = g.name;
      for (let i = 0; i < 12; i++) tr.appendChild(el('td', '', [0, 4, 5, 6, 7, 8, 9].includes(i) ? 'num' : ''));
      const td = el('td'), b = el('button', 'destroy', 'destroy'); b.dataset.name = g.name;
      b.onclick = () => call('destroy', { name: g.name }).then(() => { $('guest-error').textContent = ''; }, (e) => { $('guest-error').textContent = e.message; });
      td.appendChild(b); tr.appendChild(td); tb.appendChild(tr);
    }
    const k = g.ksmStat, c = tr.cells;
    const text = [g.id, g.name, [g.program].concat(g.args).join(' '), g.state + (g.error ? ': ' + g.error : ''), g.node, fmtBytes(g.residentBytes),
      k.ksm_rmap_items, k.ksm_zero_pages, k.ksm_merging_pages, k.ksm_process_profit, k.ksm_merge_any ? 'yes' : 'no', k.ksm_mergeable ? 'yes' : 'no'];
    text.forEach((t, i) => { if (c[i].textContent !== String(t)) c[i].textContent = String(t); });
    c[3].className = 'state state-' + g.state;
  }
  for (const tr of Array.from(tb.rows)) if (!tr.dataset.name || !seen.has(tr.dataset.name)) tr.remove();
  if (st.guests.length === 0) { const tr = tb.insertRow(); const td = el('td', 'no guests: start one above'); td.colSpan = 13; tr.appendChild(td); }
}
function renderKnobs(st) {
  for (const input of document.querySelectorAll('input[data-knob]')) {
    const k = input.dataset.knob;
    $('knob-cur-' + k).textContent = st.files[k];
    if (!knobsSeen) { const m = /\\[(.*?)\\]/.exec(st.files[k]); input.value = m ? m[1] : st.files[k]; }
  }
  knobsSeen = true;
}
function render(st) {
  const h = st.hello;
  $('meta').textContent = 'pid ' + h.pid + ' · engine ' + h.engine + ' · ' + fmtBytes(h.memoryBytes) + ' on ' + h.numaNodes + ' node' + (h.numaNodes > 1 ? 's' : '') + (h.swapBytes ? ' · swap ' + fmtBytes(h.swapBytes) : '') + ' · ' + h.socket;
  renderCounters(st); renderNodes(st); renderGuests(st); renderKnobs(st);
  $('log').textContent = st.log.join('\\n');
  if (!history.length || st.sample.t > history[history.length - 1].t) history.push(st.sample);
  if (history.length > 480) history.splice(0, history.length - 480);
  drawChart();
}
for (const b of document.querySelectorAll('button.knob-set')) {
  b.onclick = () => {
    const k = b.dataset.knob, err = $('knob-error-' + k);
    call('sysfs', { file: k, value: $('knob-' + k).value }).then((r) => { err.textContent = ''; $('knob-' + k).value = r.value; }, (e) => { err.textContent = e.message; });
  };
}
$('start-form').onsubmit = () => {
  const node = $('start-node').value, args = $('start-args').value.trim();
  call('start', { name: $('start-name').value.trim(), program: $('start-workload').value, args: args ? args.split(/\\s+/) : [], node: node === '' ? undefined : Number(node) })
    .then(() => { $('start-error').textContent = ''; }, (e) => { $('start-error').textContent = e.message; });
  return false;
};
const es = new EventSource('/events');
es.addEventListener('history', (ev) => { history.length = 0; for (const s of JSON.parse(ev.data)) history.push(s); });
es.onmessage = (ev) => { $('conn').textContent = 'live'; $('conn').className = 'live'; render(JSON.parse(ev.data)); };
es.onerror = () => { $('conn').textContent = 'disconnected'; $('conn').className = 'down'; };
</script>
</body></html>
`;
}
