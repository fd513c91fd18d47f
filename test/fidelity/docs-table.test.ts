// docs-table.test.ts — the fidelity table of docs/fidelity.md is generated from the committed JSON of
// the latest run: the page shows exactly what docs/data/fidelity.json renders to, the renderer writes
// one row per scenario with its summary, and only the lines between the markers are replaced.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { FIDELITY_DOC, TABLE_BEGIN, TABLE_END, renderFidelityTable, replaceTable, tableIn } from '../../src/fidelity/docs-table.ts';
import { parseRecordedRun, readRecordedRun, type RecordedRun } from '../../src/fidelity/recorded.ts';
import { parseKnobList } from '../../src/cli/fidelity-command.ts';

const RUN: RecordedRun = {
  date: '2026-12-06T01:00:00.000Z',
  kernel: '6.18.44',
  nonDefaultKnobsBefore: { use_zero_pages: '1' },
  scenarios: [
    { name: 'ok-one', description: 'merges | things', agree: true, passed: true, checkpoints: 3, differences: [], seconds: { emulator: 1, linux: 1 }, kernelCheckpoints: { a: '1' } },
    { name: 'bad-one', description: 'd', agree: false, passed: false, checkpoints: 4, differences: [{ checkpoint: 'a', emulator: '1', linux: '2' }], seconds: { emulator: 1, linux: 1 }, kernelCheckpoints: { a: '2' } },
  ],
};

describe('fidelity docs table', () => {
  it('docs/fidelity.md shows exactly the table the committed docs/data/fidelity.json renders to', () => {
    expect(tableIn(readFileSync(FIDELITY_DOC, 'utf8'))).to.deep.equal(renderFidelityTable(readRecordedRun()));
  });

  it('renders the date, kernel, agreement count, the knobs the machine was left at, and a row per scenario', () => {
    const lines = renderFidelityTable(RUN);
    expect(lines[0]).to.contain('2026-12-06, Linux 6.18.44. **1/2 scenarios agree**').and.contain('7 checkpoints').and.contain('1 differ');
    expect(lines.join('\n')).to.contain('`use_zero_pages=1`');
    expect(lines).to.include('| ok-one | merges \\| things | 3 | agree |  |');
    expect(lines).to.include('| bad-one | d | 4 | DIFFER | a: emulator 1, linux 2 |');
  });

  it('replaces only the lines between the markers, and says so when they are missing', () => {
    const doc = `# t\n\n${TABLE_BEGIN}\nold\n${TABLE_END}\n\nafter\n`;
    const next = replaceTable(doc, ['new 1', 'new 2']);
    expect(next).to.equal(`# t\n\n${TABLE_BEGIN}\nnew 1\nnew 2\n${TABLE_END}\n\nafter\n`);
    expect(tableIn(next)).to.deep.equal(['new 1', 'new 2']);
    expect(replaceTable(next, ['new 1', 'new 2'])).to.equal(next);
    expect(() => replaceTable('# no markers\n', ['x'])).to.throw(/markers/);
  });

  it('rejects a record without kernel checkpoints, naming the scenario', () => {
    const bad = JSON.stringify({ ...RUN, scenarios: [{ ...RUN.scenarios[0], kernelCheckpoints: undefined }] });
    expect(() => parseRecordedRun(bad, 'x.json')).to.throw(/x\.json: ok-one: no kernelCheckpoints/);
  });

  it('--start-knobs takes name=value pairs in order and refuses a name that is not a writable knob', () => {
    expect(parseKnobList('run=2,use_zero_pages=1, run=1')).to.deep.equal([['run', '2'], ['use_zero_pages', '1'], ['run', '1']]);
    expect(() => parseKnobList('pages_shared=3')).to.throw(/pages_shared is not a writable KSM knob/);
    expect(() => parseKnobList('use_zero_pages')).to.throw(/"use_zero_pages" is not name=value/);
  });
});
