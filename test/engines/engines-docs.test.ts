// engines-docs.test.ts — docs/engines.md's comparison tables are exactly what the committed JSON renders.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { comparisonMarkdown, type EngineComparison } from '../../src/density/engine-comparison.ts';

const doc = (p: string) => new URL(`../../docs/${p}`, import.meta.url);

describe('docs/engines.md', () => {
  for (const name of ['engines-readonly-fleet', 'engines-writable-fleet']) {
    it(`shows the table rendered from docs/data/${name}.json`, () => {
      const c = JSON.parse(readFileSync(doc(`data/${name}.json`), 'utf8')) as EngineComparison;
      expect(c.engines).to.deep.equal(['ksm', 'dksm', 'uksm']);
      expect(readFileSync(doc('engines.md'), 'utf8')).to.contain(comparisonMarkdown(c));
    });
  }
});
