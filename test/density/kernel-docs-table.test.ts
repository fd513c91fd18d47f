// kernel-docs-table.test.ts — docs/density-vs-kernel.md's tables are generated from the committed JSON
// of the `--backend both` runs: the page shows exactly what docs/data/density-vs-kernel/*.json
// renders to, every recorded fleet is within the tolerance where the page says so, and trimming keeps
// the series but drops each sample's per-guest list.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { compareDensity, toleranceFailures } from '../../src/density/density-compare.ts';
import {
  KERNEL_DOC, README_BEGIN, README_END, README_FLEETS, SHAPES_BEGIN, SHAPES_END, SHAPE_FLEETS, linesBetween, readDocRun, renderDocTables,
  renderReadmeTable, renderShapesTable, replaceBetween, trimBoth,
} from '../../src/density/kernel-docs-table.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';

describe('docs/density-vs-kernel.md tables', () => {
  const doc = readFileSync(KERNEL_DOC, 'utf8');

  it('shows exactly the tables the committed JSON renders to', () => {
    expect(renderDocTables(doc)).to.equal(doc);
  });

  it('has a block for each of the three fleet shapes and a row for each README fleet', () => {
    const shapes = linesBetween(doc, SHAPES_BEGIN, SHAPES_END);
    for (const f of SHAPE_FLEETS) expect(shapes.some((l) => l.startsWith(`| \`${f.fleet}\` | memory without KSM |`)), f.name).to.equal(true);
    expect(linesBetween(doc, README_BEGIN, README_END)).to.have.length(2 + README_FLEETS.length);
  });

  it('records the kernel half of every fleet, and every README fleet within the tolerance', () => {
    for (const f of [...SHAPE_FLEETS, ...README_FLEETS]) {
      const run = readDocRun(f);
      expect(run.linux, f.name).to.not.equal(null);
      if (f.deterministic) expect(toleranceFailures(compareDensity(run.emulator, run.linux!), true), f.name).to.deep.equal([]);
    }
  });

  it('says "no" and names the figures of a fleet outside the tolerance', () => {
    const emulator = buildDensityResult();
    const linux = { ...emulator, backend: 'linux' as const, saved_bytes: emulator.saved_bytes * 2 };
    const [, , row] = renderReadmeTable([{ fleet: README_FLEETS[0]!, run: { emulator, linux, comparison: compareDensity(emulator, linux) } }]);
    expect(row).to.match(/\| no: saved_bytes \|$/);
  });

  it('marks a fleet whose kernel half did not run', () => {
    const emulator = buildDensityResult();
    const lines = renderShapesTable([{ fleet: SHAPE_FLEETS[0]!, run: { emulator, linux: null, comparison: null, linux_error: 'not root' } }]);
    expect(lines[2]).to.contain('the kernel half did not run: not root');
  });

  it('trims each sample\'s per-guest list and keeps the series and the per-guest summary', () => {
    const emulator = buildDensityResult();
    const t = trimBoth({ emulator, linux: null, comparison: null });
    expect(t.emulator.series.with_ksm).to.have.length(emulator.series.with_ksm.length);
    expect(t.emulator.series.with_ksm.every((s) => s.per_guest.length === 0)).to.equal(true);
    expect(t.emulator.per_guest).to.deep.equal(emulator.per_guest);
  });

  it('replaces only the lines between the markers, and says so when they are missing', () => {
    const d = `a\n${SHAPES_BEGIN}\nold\n${SHAPES_END}\nb\n`;
    expect(replaceBetween(d, SHAPES_BEGIN, SHAPES_END, ['x', 'y'])).to.equal(`a\n${SHAPES_BEGIN}\nx\ny\n${SHAPES_END}\nb\n`);
    expect(() => replaceBetween('none', SHAPES_BEGIN, SHAPES_END, [])).to.throw(/markers/);
  });
});
