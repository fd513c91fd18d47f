// end-to-end.test.ts — the CLI's linux backend and fidelity command (the scenarios themselves run in
// all-scenarios.test.ts and from-non-defaults.test.ts); the real knobs are as before afterwards.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TABLE_BEGIN, TABLE_END, renderFidelityTable, tableIn } from '../../src/fidelity/docs-table.ts';
import { FIDELITY_JSON, readRecordedRun } from '../../src/fidelity/recorded.ts';
import { readKnobs } from '../../src/backend/linux/knob-guard.ts';
import { main } from '../../src/cli/main.ts';
import { skipUnlessLinuxBackend } from '../backend/linux/skip-unless-available.ts';

const HELLO = new URL('../../guests/hello.ts', import.meta.url).pathname;

describe('fidelity against the real kernel', function () {
  this.timeout(60_000);
  beforeEach(function () {
    skipUnlessLinuxBackend(this);
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

  it('--from JSON --write-table DOC writes the table of a recorded run into DOC between the markers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-fid-'));
    try {
      const doc = join(dir, 'fidelity.md');
      writeFileSync(doc, `# page\n${TABLE_BEGIN}\nstale\n${TABLE_END}\n`);
      const lines: string[] = [];
      expect(await main(['fidelity', '--from', FIDELITY_JSON, '--write-table', doc], (s) => lines.push(s))).to.equal(0);
      expect(tableIn(readFileSync(doc, 'utf8'))).to.deep.equal(renderFidelityTable(readRecordedRun()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
