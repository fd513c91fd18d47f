// guest-kill.test.ts — killing a guest wherever its thread is: the host still gets its report and
// every frame back, even when the guest died inside a write of its VMA table (seqlock left odd).
import { expect } from 'chai';
import { execFile } from 'node:child_process';

const SCENARIO = new URL('../fixtures/kill-inside-publish-scenario.ts', import.meta.url).pathname;

interface ScenarioResult {
  status: string;
  usedWhileInside: number;
  freeBefore: number;
  freeAfter: number;
  mappedAtExit: number;
  ksmdAlive: boolean;
}

describe('killing a guest', function () {
  this.timeout(40_000);
  let result: ScenarioResult;

  before(async function () {
    this.timeout(40_000);
    // A child process, so a host spinning forever on the dead guest's seqlock ends by timeout.
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', SCENARIO], { timeout: 30_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        if (err) reject(new Error(`scenario failed (${err.killed ? 'timed out: the host hung' : err.message}):\n${stderr}`));
        else resolve(stdout);
      });
    });
    result = JSON.parse(out.trim().split('\n').pop()!) as ScenarioResult;
  });

  it('inside a VMA table write still ends with a report (the host does not hang on its seqlock)', () => {
    expect(result.status).to.equal('failed');
  });

  it('inside a VMA table write frees every frame it held, torn table or not', () => {
    expect(result.usedWhileInside).to.be.at.least(64);
    expect(result.freeAfter).to.equal(result.freeBefore);
  });

  it('inside a VMA table write leaves ksmd running', () => {
    expect(result.ksmdAlive).to.equal(true);
  });
});
