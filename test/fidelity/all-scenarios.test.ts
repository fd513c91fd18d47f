// all-scenarios.test.ts — every fidelity scenario (guests/fidelity/) on the emulator, always, against
// the kernel checkpoints of the committed latest run (docs/data/fidelity.json). The live comparison
// with this machine's kernel is from-non-defaults.test.ts.
import { expect } from 'chai';
import { describeDifference } from '../../src/fidelity/report.ts';
import { readRecordedRun, compareWithRecorded, type RecordedRun } from '../../src/fidelity/recorded.ts';
import { loadScenario, scenarioNames } from '../../src/fidelity/scenarios.ts';
import { emulatorRun } from './emulator-runs.ts';

const NAMES = scenarioNames();

describe('fidelity scenarios on the emulator, against the kernel run recorded in docs/data/fidelity.json', function () {
  let recorded: RecordedRun;
  before(() => {
    recorded = readRecordedRun();
  });

  it('the record covers every scenario, each agreeing', () => {
    expect(recorded.scenarios.map((s) => s.name).sort()).to.deep.equal(NAMES);
    expect(recorded.scenarios.filter((s) => !s.agree).map((s) => s.name)).to.deep.equal([]);
  });

  for (const name of NAMES) {
    it(`${name}: the emulator shows every checkpoint the kernel showed`, async function () {
      const s = await loadScenario(name);
      this.timeout(s.meta.timeoutMs + 30_000);
      const kernel = recorded.scenarios.find((r) => r.name === name);
      if (!kernel) throw new Error(`${name} is not in docs/data/fidelity.json: rerun ksmsim fidelity --json docs/data/fidelity.json`);
      const differences = compareWithRecorded(await emulatorRun(s), kernel).filter((d) => !d.deviation);
      expect(differences.map(describeDifference)).to.deep.equal([]);
    });
  }
});

