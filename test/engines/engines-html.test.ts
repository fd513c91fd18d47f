// engines-html.test.ts — the engine comparison's HTML report: one table row per engine and one chart.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { EngineComparison } from '../../src/density/engine-comparison.ts';
import { renderEngineComparisonHtml } from '../../src/report/engines-html.ts';

describe('engine comparison report', () => {
  const c = JSON.parse(readFileSync(new URL('../../docs/data/engines-readonly-fleet.json', import.meta.url), 'utf8')) as EngineComparison;
  const html = renderEngineComparisonHtml(c, '8× os-image');

  it('has one table row per engine, with its saving', () => {
    const rows = [...html.matchAll(/<tr><td>(\w+)<\/td>/g)].map((m) => m[1]);
    expect(rows).to.deep.equal(['ksm', 'dksm', 'uksm']);
    for (const r of c.rows) expect(html).to.contain(`${(r.saved_bytes / 2 ** 20).toFixed(1)} MiB (${(100 * r.saved_share).toFixed(1)} %)`);
  });

  it('has exactly one chart, and loads nothing from the network', () => {
    expect(html.match(/<svg/g)).to.have.length(1);
    expect(html).to.not.match(/https?:\/\//);
  });
});
