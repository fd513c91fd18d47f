// thp-docs-table.test.ts — docs/thp.md's "THP vs no THP" table is the one thpTable renders from the
// committed density JSON (docs/data/thp-density.json), and that JSON says what the docs say of it.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { thpTable, type ThpComparison } from '../../src/density/thp-comparison.ts';
import { projectPath } from '../../src/platform/project-root.ts';

describe('docs/thp.md THP vs no THP table', () => {
  const data = JSON.parse(readFileSync(projectPath('docs', 'data', 'thp-density.json'), 'utf8')) as ThpComparison;
  const doc = readFileSync(projectPath('docs', 'thp.md'), 'utf8');

  it('is thpTable of docs/data/thp-density.json, between the markers', () => {
    const m = /<!-- BEGIN thp-table -->\n([\s\S]*?)<!-- END thp-table -->/.exec(doc);
    expect(m, 'markers missing').to.not.equal(null);
    const table = m![1]!.split('\n').filter((l) => l.startsWith('|'));
    expect(table).to.deep.equal(thpTable(data.rows));
  });

  it('compares THP always with never on the same fleet, each with KSM off and on', () => {
    expect(data.rows.map((r) => r.thp)).to.deep.equal(['always', 'never']);
    expect(data.runs.map((r) => JSON.stringify(r.fleet))).to.deep.equal([JSON.stringify(data.fleet), JSON.stringify(data.fleet)]);
    for (const r of data.runs) expect(r.saved_bytes).to.equal(r.memory_without_ksm_bytes - r.memory_with_ksm_bytes);
  });
});
