// compare.test.ts — checkpoints from synthetic guest logs, the comparison of two backends, the
// documented deviations, and the table/JSON output.
import { expect } from 'chai';
import type { BackendRun, GuestRun } from '../../src/fidelity/backends.ts';
import { compareCheckpoints, compareRuns, observe } from '../../src/fidelity/compare.ts';
import { DEVIATIONS, findDeviation, type Deviation } from '../../src/fidelity/deviations.ts';
import { fidelityJson, fidelityTable } from '../../src/fidelity/report.ts';
import type { FidelityResult } from '../../src/fidelity/run-fidelity.ts';

const guest = (name: string, logs: string[], exitCode = 0, error?: string): GuestRun => ({ name, exitCode, error, logs });
const run = (backend: 'emulator' | 'linux', ...guests: GuestRun[]): BackendRun => ({ backend, guests, seconds: 1 });

describe('fidelity comparison', () => {
  it('reads CHECK lines in order, ignores other lines, keeps NOTE lines apart and adds the exit status', () => {
    const o = observe([guest('g0', ['hello', 'CHECK pages_shared 1', 'NOTE raw 555', 'CHECK stat.x "yes"', 'CHECK empty'])]);
    expect([...o.checks]).to.deep.equal([['pages_shared', '1'], ['stat.x', '"yes"'], ['empty', ''], ['exit', '0']]);
    expect([...o.notes]).to.deep.equal([['raw', '555']]);
  });

  it('prefixes checkpoints with the guest index when there are several guests, and numbers repeats', () => {
    const o = observe([guest('g0', ['CHECK a 1', 'CHECK a 2']), guest('g1', ['CHECK a 3'], 1, 'boom')]);
    expect([...o.checks]).to.deep.equal([['g0.a', '1'], ['g0.a#2', '2'], ['g0.exit', '0'], ['g1.a', '3'], ['g1.exit', '1 (boom)']]);
  });

  it('finds no difference between equal checkpoints', () => {
    const c = new Map([['a', '1'], ['b', '"x"']]);
    expect(compareCheckpoints('s', c, new Map(c), [])).to.deep.equal([]);
  });

  it('reports a differing value and a checkpoint missing on either side', () => {
    const e = new Map([['a', '1'], ['b', '2']]);
    const l = new Map([['a', '1'], ['b', '3'], ['c', '4']]);
    const d = compareCheckpoints('s', e, l, []);
    expect(d).to.deep.equal([
      { checkpoint: 'b', emulator: '2', linux: '3' },
      { checkpoint: 'c', emulator: undefined, linux: '4' },
    ]);
    expect(compareCheckpoints('s', l, e, []).map((x) => x.checkpoint)).to.deep.equal(['b', 'c']);
  });

  it('marks a difference listed as a deviation (by scenario, checkpoint pattern and values) as documented', () => {
    const devs: Deviation[] = [
      { scenario: 'numa', checkpoint: /^node\./, reason: 'one node here' },
      { scenario: '*', checkpoint: 'x', emulator: '1', reason: 'only when the emulator says 1' },
    ];
    expect(findDeviation('numa', 'node.0', '1', '2', devs)?.reason).to.equal('one node here');
    expect(findDeviation('other', 'node.0', '1', '2', devs)).to.equal(undefined);
    expect(findDeviation('any', 'x', '1', '5', devs)?.reason).to.contain('emulator says 1');
    expect(findDeviation('any', 'x', '2', '5', devs)).to.equal(undefined);
    const d = compareCheckpoints('numa', new Map([['node.0', '1']]), new Map([['node.0', '2']]), devs);
    expect(d).to.deep.equal([{ checkpoint: 'node.0', emulator: '1', linux: '2', deviation: 'one node here' }]);
  });

  it('agrees, deviates as documented, or fails', () => {
    const same = compareRuns('s', run('emulator', guest('g0', ['CHECK a 1'])), run('linux', guest('g0', ['CHECK a 1'])), []);
    expect(same).to.include({ agree: true, passed: true, checkpoints: 2 });
    const devs: Deviation[] = [{ scenario: 's', checkpoint: 'a', reason: 'why' }];
    const documented = compareRuns('s', run('emulator', guest('g0', ['CHECK a 1'])), run('linux', guest('g0', ['CHECK a 2'])), devs);
    expect(documented).to.include({ agree: false, passed: true });
    const failed = compareRuns('s', run('emulator', guest('g0', ['CHECK a 1'])), run('linux', guest('g0', ['CHECK a 2'])), []);
    expect(failed).to.include({ agree: false, passed: false });
  });

  it('compares exit statuses without their error text, but fails when a guest failed on both backends', () => {
    const e = run('emulator', guest('g0', [], 1, 'timed out (emulator words)'));
    const l = run('linux', guest('g0', [], 1, 'timed out (kernel words)'));
    const r = compareRuns('s', e, l, []);
    expect(r.passed).to.equal(false);
    expect(r.differences).to.have.length(1);
    expect(r.differences[0]).to.include({ checkpoint: 'exit' });
    expect(r.differences[0]!.emulator).to.contain('emulator words');
    const one = compareRuns('s', run('emulator', guest('g0', [])), run('linux', guest('g0', [], 3, 'exit status 3')), []);
    expect(one.differences).to.deep.equal([{ checkpoint: 'exit', emulator: '0', linux: '3 (exit status 3)' }]);
  });

  it('every documented deviation has a reason', () => {
    for (const d of DEVIATIONS) expect(d.reason.length, String(d.checkpoint)).to.be.above(20);
  });

  it('prints a table row per scenario with its differences, and JSON with name, agree and differences', () => {
    const results: FidelityResult[] = [
      { name: 'ok-one', description: 'd', checkpoints: 3, agree: true, passed: true, differences: [], seconds: { emulator: 1, linux: 1 } },
      {
        name: 'bad-one', description: 'd', checkpoints: 4, agree: false, passed: false, seconds: { emulator: 1, linux: 1 },
        differences: [{ checkpoint: 'a', emulator: '1', linux: '2' }, { checkpoint: 'b', emulator: undefined, linux: '3' }],
      },
    ];
    const table = fidelityTable(results).join('\n');
    expect(table).to.match(/ok-one\s+3\s+agree/);
    expect(table).to.match(/bad-one\s+4\s+DIFFER\s+a: emulator 1, linux 2/);
    expect(table).to.contain('b: emulator (missing), linux 3');
    expect(table).to.contain('2 scenarios: 1 agree, 0 deviate only as documented, 1 differ');
    const json = JSON.parse(fidelityJson(results, { kernel: 'k' })) as { kernel: string; scenarios: Array<{ name: string; agree: boolean; differences: unknown[] }> };
    expect(json.kernel).to.equal('k');
    expect(json.scenarios.map((s) => [s.name, s.agree, s.differences.length])).to.deep.equal([['ok-one', true, 0], ['bad-one', false, 2]]);
  });
});
