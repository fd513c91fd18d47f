// svg-chart.ts — owns the small hand-written SVG charts of the reports (lines over time, grouped
// vertical bars, horizontal bars), rendered to strings in Node: no browser, no dependencies, no network.
//
// Callers pass values already in display units (MiB, pages, seconds) and say so in the axis labels.
// The SVG is meant to be inlined in an HTML5 page, so it carries no xmlns attribute (and therefore no URL).

/** Escapes text for HTML/SVG element content and double- or single-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#8C6D1F', '#000000'] as const;

const FONT = 12;
const CHAR_W = FONT * 0.58; // a rough average glyph width of a sans-serif face, for layout estimates only

function textWidth(s: string, size = FONT): number {
  return s.length * size * 0.58;
}

function num(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '0';
}

function finite(v: number): number {
  return Number.isFinite(v) ? v : 0;
}

/** Ticks at 1, 2, 2.5 or 5 × 10^k covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; step: number } {
  if (!(hi > lo)) {
    hi = lo === 0 ? 1 : lo + Math.abs(lo);
    if (lo > 0) lo = 0;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; first + i * step <= last + step * 1e-6; i++) ticks.push(first + i * step);
  return { ticks, step };
}

/** Formats a tick value; large values get k / M suffixes, decimals follow the step. */
export function formatTick(v: number, step: number, maxAbs: number): string {
  if (Math.abs(v) < step * 1e-6) return '0';
  if (maxAbs >= 1e6 && step >= 1e4) return trimZeros((v / 1e6).toFixed(Math.max(0, decimalsFor(step / 1e6)))) + 'M';
  if (maxAbs >= 1e4 && step >= 10) return trimZeros((v / 1e3).toFixed(Math.max(0, decimalsFor(step / 1e3)))) + 'k';
  return trimZeros(v.toFixed(decimalsFor(step)));
}

function decimalsFor(step: number): number {
  if (step >= 1) return Number.isInteger(step) ? 0 : 1;
  return Math.min(6, Math.ceil(-Math.log10(step)) + (Number.isInteger(step * 10 ** Math.ceil(-Math.log10(step))) ? 0 : 1));
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Formats a value for a label next to a bar: up to 3 significant digits, thousands grouped. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a === 0 ? 0 : 3;
  return v.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: d });
}

interface LegendItem {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly kind: 'line' | 'box';
}

/** Lays legend items out left to right from (x, y), wrapping at maxWidth; returns SVG and its height. */
function legend(items: readonly LegendItem[], x: number, y: number, maxWidth: number): { svg: string; height: number } {
  const parts: string[] = [];
  let cx = x;
  let cy = y;
  for (const it of items) {
    const w = 26 + textWidth(it.name) + 18;
    if (cx > x && cx + w > x + maxWidth) {
      cx = x;
      cy += 18;
    }
    const sym = it.kind === 'line'
      ? `<line x1="${num(cx)}" y1="${num(cy)}" x2="${num(cx + 20)}" y2="${num(cy)}" stroke="${esc(it.color)}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="${esc(it.dash)}"` : ''}/>`
      : `<rect x="${num(cx + 4)}" y="${num(cy - 6)}" width="12" height="12" fill="${esc(it.color)}"/>`;
    parts.push(`<g class="legend-item">${sym}<text x="${num(cx + 26)}" y="${num(cy + 4)}">${esc(it.name)}</text></g>`);
    cx += w;
  }
  return { svg: parts.join(''), height: cy - y + 18 };
}

function svgOpen(id: string | undefined, title: string, w: number, h: number, cls: string): string {
  const tid = id ? `${id}-title` : undefined;
  return `<svg class="chart ${esc(cls)}"${id ? ` id="${esc(id)}"` : ''} viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img"`
    + `${tid ? ` aria-labelledby="${esc(tid)}"` : ''} font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif" font-size="${FONT}">`
    + `<title${tid ? ` id="${esc(tid)}"` : ''}>${esc(title)}</title>`
    + `<text class="chart-title" x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`;
}

function emptyMessage(x: number, y: number, w: number, h: number, msg: string): string {
  return `<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}" fill="#f6f7f9" stroke="#d0d4da"/>`
    + `<text x="${num(x + w / 2)}" y="${num(y + h / 2)}" text-anchor="middle" fill="#555">${esc(msg)}</text>`;
}

// ───────────────────────────── line chart ─────────────────────────────

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** stroke-dasharray, e.g. "6 4". */
  readonly dash?: string;
}

export interface RefLine {
  readonly y: number;
  readonly label: string;
  readonly color?: string;
}

export interface LineChartSpec {
  readonly id?: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** Horizontal reference lines (e.g. host memory). */
  readonly refLines?: readonly RefLine[];
  /** Vertical markers (e.g. "fleet up" at a time), labelled at the top of the plot. */
  readonly markers?: readonly Marker[];
  readonly width?: number;
  readonly height?: number;
}

export interface Marker {
  readonly x: number;
  readonly label: string;
  readonly color?: string;
}

/** Keeps at most ~4 points per pixel column (first, min, max, last) so long runs stay light. */
export function thin(points: ReadonlyArray<readonly [number, number]>, x0: number, x1: number, columns: number): Array<readonly [number, number]> {
  if (points.length <= columns * 2) return points.slice();
  const out: Array<readonly [number, number]> = [];
  const span = x1 - x0 || 1;
  let col = -1;
  let bucket: Array<readonly [number, number]> = [];
  const flush = (): void => {
    if (bucket.length === 0) return;
    let lo = bucket[0]!;
    let hi = bucket[0]!;
    for (const p of bucket) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    const keep = [bucket[0]!, lo, hi, bucket[bucket.length - 1]!].sort((a, b) => a[0] - b[0]);
    for (const p of keep) if (out[out.length - 1] !== p) out.push(p);
    bucket = [];
  };
  for (const p of points) {
    const c = Math.floor(((p[0] - x0) / span) * columns);
    if (c !== col) {
      flush();
      col = c;
    }
    bucket.push(p);
  }
  flush();
  return out;
}

interface XyFrame {
  readonly out: string[];
  readonly left: number;
  readonly top: number;
  readonly pw: number;
  readonly ph: number;
  readonly x0: number;
  readonly x1: number;
  sx(x: number): number;
  sy(y: number): number;
}

/**
 * The frame of a chart with two numeric axes (line chart, scatter): margins from the tick labels and
 * the legend, grid lines, tick labels (x labels thinned so they don't collide), the plot's border and
 * the axis titles. Returns the SVG so far and the scales.
 */
function xyFrame(o: {
  id?: string; title: string; cls: string; W: number; H: number; items: readonly LegendItem[]; xLabel: string; yLabel: string;
  xt: { ticks: number[]; step: number }; yt: { ticks: number[]; step: number };
}): XyFrame {
  const { W, H, xt, yt } = o;
  const top = 36;
  const yMaxAbs = Math.max(...yt.ticks.map(Math.abs));
  const yLabels = yt.ticks.map((v) => formatTick(v, yt.step, yMaxAbs));
  const left = 30 + Math.max(...yLabels.map((l) => textWidth(l))) + 10;
  const right = 18;
  const bottom = 44 + legend(o.items, 0, 0, W - left - right).height + 6;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const [x0, x1] = [xt.ticks[0]!, xt.ticks[xt.ticks.length - 1]!];
  const [y0, y1] = [yt.ticks[0]!, yt.ticks[yt.ticks.length - 1]!];
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number): number => top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;

  const out: string[] = [svgOpen(o.id, o.title, W, H, o.cls)];
  // grid and y axis labels
  yt.ticks.forEach((v, i) => {
    const y = sy(v);
    out.push(`<line x1="${num(left)}" y1="${num(y)}" x2="${num(left + pw)}" y2="${num(y)}" stroke="${v === 0 ? '#888' : '#e3e6ea'}"/>`);
    out.push(`<text x="${num(left - 6)}" y="${num(y + 4)}" text-anchor="end" fill="#333">${esc(yLabels[i]!)}</text>`);
  });
  const xMaxAbs = Math.max(...xt.ticks.map(Math.abs));
  // Skip x labels when they would collide.
  const xLabelTexts = xt.ticks.map((v) => formatTick(v, xt.step, xMaxAbs));
  const widest = Math.max(...xLabelTexts.map((l) => textWidth(l)));
  const every = Math.max(1, Math.ceil((widest + 10) / (pw / Math.max(1, xt.ticks.length - 1))));
  xt.ticks.forEach((v, i) => {
    const x = sx(v);
    out.push(`<line x1="${num(x)}" y1="${num(top)}" x2="${num(x)}" y2="${num(top + ph)}" stroke="#f0f2f4"/>`);
    out.push(`<line x1="${num(x)}" y1="${num(top + ph)}" x2="${num(x)}" y2="${num(top + ph + 4)}" stroke="#888"/>`);
    if (i % every === 0) out.push(`<text x="${num(x)}" y="${num(top + ph + 17)}" text-anchor="middle" fill="#333">${esc(xLabelTexts[i]!)}</text>`);
  });
  out.push(`<rect x="${num(left)}" y="${num(top)}" width="${num(pw)}" height="${num(ph)}" fill="none" stroke="#b8bec6"/>`);
  // axis titles
  out.push(`<text class="axis-label" x="${num(left + pw / 2)}" y="${num(top + ph + 35)}" text-anchor="middle" fill="#222">${esc(o.xLabel)}</text>`);
  out.push(`<text class="axis-label" transform="translate(14 ${num(top + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(o.yLabel)}</text>`);
  return { out, left, top, pw, ph, x0, x1, sx, sy };
}

export function lineChart(spec: LineChartSpec): string {
  const W = spec.width ?? 600;
  const H = spec.height ?? 340;
  const series = spec.series.map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])) }));
  const all = series.flatMap((s) => s.points);
  const refs = (spec.refLines ?? []).filter((r) => Number.isFinite(r.y));

  const items: LegendItem[] = [
    ...series.map((s) => ({ name: s.name, color: s.color, dash: s.dash, kind: 'line' as const })),
    ...refs.map((r) => ({ name: r.label, color: r.color ?? '#777', dash: '3 3', kind: 'line' as const })),
  ];
  const xMinData = all.length ? Math.min(...all.map((p) => p[0])) : 0;
  const xMaxData = all.length ? Math.max(...all.map((p) => p[0])) : 1;
  const yMaxData = Math.max(0, ...all.map((p) => p[1]), ...refs.map((r) => r.y));
  const yMinData = Math.min(0, ...all.map((p) => p[1]));
  const { out, left, top, pw, ph, x0, x1, sx, sy } = xyFrame({
    id: spec.id, title: spec.title, cls: 'line-chart', W, H, items, xLabel: spec.xLabel, yLabel: spec.yLabel,
    yt: niceTicks(yMinData, yMaxData, 5), xt: niceTicks(Math.min(0, xMinData), xMaxData, 8),
  });

  if (all.length === 0) {
    out.push(emptyMessage(left + 1, top + 1, pw - 2, ph - 2, 'no samples'));
  }
  for (const r of refs) {
    const y = sy(r.y);
    out.push(`<line x1="${num(left)}" y1="${num(y)}" x2="${num(left + pw)}" y2="${num(y)}" stroke="${esc(r.color ?? '#777')}" stroke-dasharray="3 3" stroke-width="1.5"/>`);
  }
  // Markers: a dotted vertical line each, labels stacked in rows so neighbours don't overlap.
  const markers = (spec.markers ?? []).filter((m) => Number.isFinite(m.x) && m.x >= x0 && m.x <= x1).sort((a, b) => a.x - b.x);
  const rowEnds: number[] = [];
  for (const m of markers) {
    const x = sx(m.x);
    const w = textWidth(m.label, 11) + 8;
    const flip = x + w > left + pw; // label to the left of the line near the right edge
    const a = flip ? x - w : x;
    let rowIdx = rowEnds.findIndex((end) => a > end);
    if (rowIdx < 0) rowIdx = rowEnds.push(-Infinity) - 1;
    rowEnds[rowIdx] = a + w;
    const color = esc(m.color ?? '#555');
    out.push(`<line class="marker" x1="${num(x)}" y1="${num(top)}" x2="${num(x)}" y2="${num(top + ph)}" stroke="${color}" stroke-dasharray="2 3" stroke-width="1.2"/>`);
    out.push(`<text x="${num(flip ? x - 4 : x + 4)}" y="${num(top + 13 + rowIdx * 14)}" text-anchor="${flip ? 'end' : 'start'}" font-size="11" fill="${color}">${esc(m.label)}</text>`);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const pts = thin(s.points, x0, x1, Math.max(1, Math.round(pw)));
    const d = pts.map((p) => `${num(sx(p[0]))},${num(sy(p[1]))}`).join(' ');
    if (pts.length === 1) {
      out.push(`<circle cx="${num(sx(pts[0]![0]))}" cy="${num(sy(pts[0]![1]))}" r="3" fill="${esc(s.color)}"/>`);
    } else {
      out.push(`<polyline class="series" data-series="${esc(s.name)}" points="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="2.2" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : ''}/>`);
    }
  }
  out.push(legend(items, left, top + ph + 56, pw).svg);
  out.push('</svg>');
  return out.join('');
}

// ───────────────────────────── grouped vertical bars ─────────────────────────────

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** One value per group. */
  readonly values: readonly number[];
}

export interface GroupedBarSpec {
  readonly id?: string;
  readonly title: string;
  readonly yLabel: string;
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  readonly width?: number;
  readonly height?: number;
}

export function groupedBarChart(spec: GroupedBarSpec): string {
  const W = spec.width ?? 600;
  const H = spec.height ?? 340;
  const items: LegendItem[] = spec.series.map((s) => ({ name: s.name, color: s.color, kind: 'box' }));
  const top = 36;
  const vals = spec.series.flatMap((s) => s.values.map(finite));
  const yt = niceTicks(Math.min(0, ...vals), Math.max(0, ...vals) * 1.08, 5);
  const yMaxAbs = Math.max(...yt.ticks.map(Math.abs));
  const yLabels = yt.ticks.map((v) => formatTick(v, yt.step, yMaxAbs));
  const left = 30 + Math.max(...yLabels.map((l) => textWidth(l))) + 10;
  const right = 18;
  const bottom = 30 + legend(items, 0, 0, W - left - right).height + 8;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const [y0, y1] = [yt.ticks[0]!, yt.ticks[yt.ticks.length - 1]!];
  const sy = (y: number): number => top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;

  const out: string[] = [svgOpen(spec.id, spec.title, W, H, 'bar-chart')];
  yt.ticks.forEach((v, i) => {
    const y = sy(v);
    out.push(`<line x1="${num(left)}" y1="${num(y)}" x2="${num(left + pw)}" y2="${num(y)}" stroke="#e3e6ea"/>`);
    out.push(`<text x="${num(left - 6)}" y="${num(y + 4)}" text-anchor="end" fill="#333">${esc(yLabels[i]!)}</text>`);
  });
  out.push(`<text class="axis-label" transform="translate(14 ${num(top + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`);
  const n = spec.groups.length;
  if (n === 0 || spec.series.length === 0) {
    out.push(emptyMessage(left + 1, top + 1, pw - 2, ph - 2, 'no data'));
  } else {
    const gw = pw / n;
    const inner = gw * 0.78;
    const bw = inner / spec.series.length;
    const showValues = bw >= 34;
    const groupEvery = Math.max(1, Math.ceil((Math.max(...spec.groups.map((g) => textWidth(g))) + 8) / gw));
    spec.groups.forEach((g, gi) => {
      const gx = left + gi * gw + (gw - inner) / 2;
      spec.series.forEach((s, si) => {
        const v = finite(s.values[gi] ?? 0);
        const ya = sy(Math.max(0, v));
        const yb = sy(Math.min(0, v));
        const x = gx + si * bw + 1;
        out.push(`<rect class="bar" x="${num(x)}" y="${num(ya)}" width="${num(Math.max(1, bw - 2))}" height="${num(Math.max(0.5, yb - ya))}" fill="${esc(s.color)}"><title>${esc(`${g} · ${s.name}: ${formatValue(v)}`)}</title></rect>`);
        if (showValues) out.push(`<text x="${num(x + (bw - 2) / 2)}" y="${num(v >= 0 ? ya - 4 : yb + 13)}" text-anchor="middle" font-size="11" fill="#333">${esc(formatValue(v))}</text>`);
      });
      if (gi % groupEvery === 0) out.push(`<text x="${num(left + gi * gw + gw / 2)}" y="${num(top + ph + 18)}" text-anchor="middle" fill="#222">${esc(g)}</text>`);
    });
  }
  out.push(`<line x1="${num(left)}" y1="${num(sy(0))}" x2="${num(left + pw)}" y2="${num(sy(0))}" stroke="#888"/>`);
  out.push(legend(items, left, top + ph + 40, W - left - right).svg);
  out.push('</svg>');
  return out.join('');
}

// ───────────────────────────── horizontal bars ─────────────────────────────

export interface HBar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

export interface HBarSpec {
  readonly id?: string;
  readonly title: string;
  readonly xLabel: string;
  readonly bars: readonly HBar[];
  readonly legend?: ReadonlyArray<{ readonly name: string; readonly color: string }>;
  /** A line of small print under the chart (e.g. "and 12 more guests"). */
  readonly note?: string;
  readonly width?: number;
  /** Height of one bar row. */
  readonly rowHeight?: number;
  /** Minimum total height, so short lists line up with their neighbours. */
  readonly minHeight?: number;
}

const MAX_LABEL_CHARS = 24;

function clip(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

export function hBarChart(spec: HBarSpec): string {
  const W = spec.width ?? 600;
  const row = spec.rowHeight ?? 18;
  const items: LegendItem[] = (spec.legend ?? []).map((l) => ({ name: l.name, color: l.color, kind: 'box' }));
  const labels = spec.bars.map((b) => clip(b.label, MAX_LABEL_CHARS));
  const left = 12 + Math.min(MAX_LABEL_CHARS * CHAR_W, Math.max(40, ...labels.map((l) => textWidth(l)))) + 8;
  const vals = spec.bars.map((b) => finite(b.value));
  const xt = niceTicks(Math.min(0, ...vals), Math.max(0, ...vals) * 1.02, 5);
  const valueLabels = vals.map(formatValue);
  const right = 16 + Math.max(30, ...valueLabels.map((l) => textWidth(l, 11))) + 6;
  const pw = W - left - right;
  const top = 36 + (items.length ? legend(items, 0, 0, pw).height + 6 : 0);
  const ph = Math.max(row * Math.max(1, spec.bars.length), 40);
  const bottom = 44 + (spec.note ? 18 : 0);
  const H = Math.max(spec.minHeight ?? 0, top + ph + bottom);
  const [x0, x1] = [xt.ticks[0]!, xt.ticks[xt.ticks.length - 1]!];
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0 || 1)) * pw;

  const out: string[] = [svgOpen(spec.id, spec.title, W, H, 'hbar-chart')];
  if (items.length) out.push(legend(items, left, 48, pw).svg);
  const xMaxAbs = Math.max(...xt.ticks.map(Math.abs));
  const xLabels = xt.ticks.map((v) => formatTick(v, xt.step, xMaxAbs));
  const every = Math.max(1, Math.ceil((Math.max(...xLabels.map((l) => textWidth(l))) + 10) / (pw / Math.max(1, xt.ticks.length - 1))));
  xt.ticks.forEach((v, i) => {
    const x = sx(v);
    out.push(`<line x1="${num(x)}" y1="${num(top)}" x2="${num(x)}" y2="${num(top + ph)}" stroke="${v === 0 ? '#888' : '#e3e6ea'}"/>`);
    if (i % every === 0) out.push(`<text x="${num(x)}" y="${num(top + ph + 16)}" text-anchor="middle" fill="#333">${esc(xLabels[i]!)}</text>`);
  });
  out.push(`<text class="axis-label" x="${num(left + pw / 2)}" y="${num(top + ph + 34)}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  if (spec.bars.length === 0) out.push(emptyMessage(left + 1, top + 1, pw - 2, ph - 2, 'no guests'));
  spec.bars.forEach((b, i) => {
    const v = vals[i]!;
    const y = top + i * row;
    const xa = sx(Math.min(0, v));
    const xb = sx(Math.max(0, v));
    out.push(`<text x="${num(left - 8)}" y="${num(y + row / 2 + 4)}" text-anchor="end" fill="#222">${esc(labels[i]!)}</text>`);
    out.push(`<rect class="bar" x="${num(xa)}" y="${num(y + 2)}" width="${num(Math.max(0.5, xb - xa))}" height="${num(row - 4)}" fill="${esc(b.color)}"><title>${esc(`${b.label}: ${valueLabels[i]}`)}</title></rect>`);
    out.push(`<text x="${num(xb + 4)}" y="${num(y + row / 2 + 4)}" font-size="11" fill="#333">${esc(valueLabels[i]!)}</text>`);
  });
  if (spec.note) out.push(`<text x="${num(left)}" y="${num(top + ph + 52)}" font-size="11" fill="#555">${esc(spec.note)}</text>`);
  out.push('</svg>');
  return out.join('');
}

// ───────────────────────────── heatmap ─────────────────────────────

export interface HeatmapSpec {
  readonly id?: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly columns: readonly string[];
  readonly rows: readonly string[];
  /** cells[row][column]; null: no value (the cell is hatched grey). */
  readonly cells: ReadonlyArray<ReadonlyArray<number | null>>;
  /** The text inside a cell and beside the scale. */
  readonly format: (v: number) => string;
  /** Colour of the lowest and the highest value (default: light to dark blue). */
  readonly low?: string;
  readonly high?: string;
  readonly width?: number;
}

function hexRgb(c: string): [number, number, number] {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** The colour a fraction t ∈ [0, 1] of the way from `a` to `b` (#rrggbb). */
export function mixColor(a: string, b: string, t: number): string {
  const [x, y] = [hexRgb(a), hexRgb(b)];
  const f = Math.max(0, Math.min(1, finite(t)));
  return '#' + x.map((v, i) => Math.round(v + (y[i]! - v) * f).toString(16).padStart(2, '0')).join('');
}

export function heatmap(spec: HeatmapSpec): string {
  const W = spec.width ?? 600;
  const low = spec.low ?? '#e8f1fa';
  const high = spec.high ?? PALETTE[0];
  const vals = spec.cells.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const [lo, hi] = vals.length ? [Math.min(...vals), Math.max(...vals)] : [0, 1];
  const left = 30 + Math.max(40, ...spec.rows.map((r) => textWidth(r))) + 10;
  const right = 18;
  const top = 40;
  const pw = W - left - right;
  const cw = pw / Math.max(1, spec.columns.length);
  const ch = Math.max(28, Math.min(60, cw * 0.6));
  const ph = ch * Math.max(1, spec.rows.length);
  const H = top + ph + 92;
  const out: string[] = [svgOpen(spec.id, spec.title, W, H, 'heatmap')];
  spec.rows.forEach((row, ri) => {
    const y = top + ri * ch;
    out.push(`<text x="${num(left - 6)}" y="${num(y + ch / 2 + 4)}" text-anchor="end" fill="#222">${esc(row)}</text>`);
    spec.columns.forEach((col, ci) => {
      const x = left + ci * cw;
      const v = spec.cells[ri]?.[ci] ?? null;
      if (v === null || !Number.isFinite(v)) {
        out.push(`<rect class="cell empty" x="${num(x)}" y="${num(y)}" width="${num(cw)}" height="${num(ch)}" fill="#eee" stroke="#fff"><title>${esc(`${row} · ${col}: no result`)}</title></rect>`);
        return;
      }
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      const fill = mixColor(low, high, t);
      const text = spec.format(v);
      out.push(`<rect class="cell" x="${num(x)}" y="${num(y)}" width="${num(cw)}" height="${num(ch)}" fill="${fill}" stroke="#fff"><title>${esc(`${spec.yLabel} ${row} · ${spec.xLabel} ${col}: ${text}`)}</title></rect>`);
      if (textWidth(text, 11) < cw - 4) out.push(`<text x="${num(x + cw / 2)}" y="${num(y + ch / 2 + 4)}" text-anchor="middle" font-size="11" fill="${t > 0.55 ? '#fff' : '#111'}">${esc(text)}</text>`);
    });
  });
  const every = Math.max(1, Math.ceil((Math.max(...spec.columns.map((c) => textWidth(c))) + 8) / cw));
  spec.columns.forEach((col, ci) => {
    if (ci % every === 0) out.push(`<text x="${num(left + ci * cw + cw / 2)}" y="${num(top + ph + 17)}" text-anchor="middle" fill="#222">${esc(col)}</text>`);
  });
  out.push(`<text class="axis-label" x="${num(left + pw / 2)}" y="${num(top + ph + 36)}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}</text>`);
  out.push(`<text class="axis-label" transform="translate(14 ${num(top + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}</text>`);
  // The scale: ten steps from the lowest to the highest value.
  const sy = top + ph + 52;
  const sw = Math.min(240, pw);
  for (let i = 0; i < 10; i++) out.push(`<rect x="${num(left + (i * sw) / 10)}" y="${num(sy)}" width="${num(sw / 10 + 0.5)}" height="10" fill="${mixColor(low, high, i / 9)}"/>`);
  out.push(`<text x="${num(left)}" y="${num(sy + 24)}" font-size="11" fill="#333">${esc(vals.length ? spec.format(lo) : '')}</text>`);
  out.push(`<text x="${num(left + sw)}" y="${num(sy + 24)}" text-anchor="end" font-size="11" fill="#333">${esc(vals.length ? spec.format(hi) : '')}</text>`);
  out.push('</svg>');
  return out.join('');
}

// ───────────────────────────── scatter ─────────────────────────────

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly label: string;
  /** Drawn filled in the highlight colour, and joined by a line in x order (e.g. a Pareto front). */
  readonly highlight?: boolean;
}

export interface ScatterSpec {
  readonly id?: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly points: readonly ScatterPoint[];
  readonly pointName: string;
  readonly highlightName: string;
  readonly width?: number;
  readonly height?: number;
}

export function scatterChart(spec: ScatterSpec): string {
  const W = spec.width ?? 600;
  const H = spec.height ?? 360;
  const pts = spec.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const items: LegendItem[] = [{ name: spec.pointName, color: PALETTE[0], kind: 'box' }, { name: spec.highlightName, color: PALETTE[1], kind: 'line' }];
  const { out, left, top, pw, ph, sx, sy } = xyFrame({
    id: spec.id, title: spec.title, cls: 'scatter-chart', W, H, items, xLabel: spec.xLabel, yLabel: spec.yLabel,
    xt: niceTicks(Math.min(0, ...pts.map((p) => p.x)), Math.max(0, ...pts.map((p) => p.x)) * 1.05 || 1, 6),
    yt: niceTicks(Math.min(0, ...pts.map((p) => p.y)), Math.max(0, ...pts.map((p) => p.y)) * 1.05 || 1, 5),
  });
  if (!pts.length) out.push(emptyMessage(left + 1, top + 1, pw - 2, ph - 2, 'no points'));
  const front = pts.filter((p) => p.highlight).sort((a, b) => a.x - b.x);
  if (front.length > 1) out.push(`<polyline class="front" points="${front.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(' ')}" fill="none" stroke="${PALETTE[1]}" stroke-width="2" stroke-dasharray="5 3"/>`);
  for (const p of pts) {
    const [cx, cy] = [num(sx(p.x)), num(sy(p.y))];
    out.push(p.highlight
      ? `<circle class="point front-point" cx="${cx}" cy="${cy}" r="5.5" fill="${PALETTE[1]}" stroke="#fff"><title>${esc(p.label)}</title></circle>`
      : `<circle class="point" cx="${cx}" cy="${cy}" r="4.5" fill="${PALETTE[0]}" fill-opacity="0.75"><title>${esc(p.label)}</title></circle>`);
  }
  out.push(legend(items, left, top + ph + 56, pw).svg);
  out.push('</svg>');
  return out.join('');
}
