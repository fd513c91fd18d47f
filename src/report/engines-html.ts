// engines-html.ts — owns the HTML report of `ksmsim density --engine a,b,…`: one table and one chart
// comparing the engines on the same fleet (self-contained: inline SVG and CSS, no network).

import type { EngineComparison } from '../density/engine-comparison.ts';
import { PALETTE, esc, groupedBarChart } from './svg-chart.ts';

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:900px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}figure{margin:1em 0}figcaption{color:#555;font-size:13px}`;

export function renderEngineComparisonHtml(c: EngineComparison, fleet: string): string {
  const mib = (b: number) => b / 2 ** 20;
  const chart = groupedBarChart({
    id: 'engines-memory',
    title: 'Memory used by the fleet, per engine',
    yLabel: 'MiB',
    groups: c.rows.map((r) => r.engine),
    series: [
      { name: 'without merging', color: PALETTE[1], values: c.rows.map((r) => mib(r.memory_without_bytes)) },
      { name: 'with the engine', color: PALETTE[0], values: c.rows.map((r) => mib(r.memory_with_bytes)) },
    ],
  });
  const where: Record<string, string> = { ksm: 'ksmd', dksm: 'in madvise', uksm: 'scanner' };
  const rows = c.rows.map((r) => `<tr><td>${esc(r.engine)}</td><td>${mib(r.memory_without_bytes).toFixed(1)} MiB</td><td>${mib(r.memory_with_bytes).toFixed(1)} MiB</td>`
    + `<td>${mib(r.saved_bytes).toFixed(1)} MiB (${(100 * r.saved_share).toFixed(1)} %)</td><td>${r.seconds_to_95 === null ? '—' : `${r.seconds_to_95.toFixed(2)} s`}</td>`
    + `<td>${r.merge_thread_cpu_seconds === null ? '—' : `${r.merge_thread_cpu_seconds.toFixed(2)} s (${where[r.engine]})`}</td><td>${r.considered_share === null ? '—' : `${(100 * r.considered_share).toFixed(1)} %`}</td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(`ksmsim density — engines ${c.engines.join(', ')}`)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Merge engines compared</h1>
<p>${esc(`Fleet ${fleet}, the same fleet under each engine (docs/engines.md).`)}</p>
<table>
<thead><tr><th>engine</th><th>memory without</th><th>memory with</th><th>saved</th><th>time to 95 %</th><th>merge CPU (thread)</th><th>pages considered</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<figure>${chart}<figcaption>${esc('Last sample of each engine\'s phases. Merge CPU: ksmd from the fleet being up; DKSM inside the guests\' madvise and UKSM\'s scanner over the whole phase.')}</figcaption></figure>
</body>
</html>
`;
}
