// end-to-end.test.ts — real fidelity scenarios on the emulator and on this machine's kernel (skipped,
// with the reason, where the linux backend is unavailable); the real knobs are as before afterwards.
import { expect } from 'chai';
import { readKnobs } from '../../src/backend/linux/knob-guard.ts';
import { main } from '../../src/cli/main.ts';
import { runFidelity } from '../../src/fidelity/run-fidelity.ts';
import { loadScenarios } from '../../src/fidelity/scenarios.ts';
import { skipUnlessLinuxBackend } from '../backend/linux/skip-unless-available.ts';

const HELLO = new URL('../../guests/hello.ts', import.meta.url).pathname;

describe('fidelity against the real kernel', function () {
  this.timeout(60_000);
  beforeEach(function () {
    skipUnlessLinuxBackend(this);
  });

  it('merge-within and unmerge-run0 agree checkpoint by checkpoint; the knobs are restored', async () => {
    const before = readKnobs();
    try {
      const results = await runFidelity(await loadScenarios(['merge-within', 'unmerge-run0']));
      for (const r of results) expect(r.differences, r.name).to.deep.equal([]);
      expect(results.map((r) => r.checkpoints)).to.satisfy((n: number[]) => n.every((x) => x >= 15));
    } finally {
      expect(readKnobs()).to.deep.equal(before);
    }
  });

  it('ksmsim run --backend linux runs a guest as a real process and restores the knobs it was given', async () => {
    const before = readKnobs();
    const lines: string[] = [];
    const code = await main(['run', HELLO, '--backend', 'linux', '--ksm', 'pages_to_scan=1234', '--', 'x'], (s) => lines.push(s));
    expect(code).to.equal(0);
    expect(lines.some((l) => /hello from guest \d+ on node 0 \(x\)/.test(l))).to.equal(true);
    expect(lines.some((l) => l.includes('linux'))).to.equal(true);
    expect(readKnobs()).to.deep.equal(before);
  });
});

describe('ksmsim fidelity command', () => {
  it('--list names every scenario with its description', async () => {
    const lines: string[] = [];
    expect(await main(['fidelity', '--list'], (s) => lines.push(s))).to.equal(0);
    expect(lines.length).to.be.at.least(15);
    expect(lines.some((l) => l.startsWith('many-guests') && l.includes('guests]'))).to.equal(true);
  });
});
