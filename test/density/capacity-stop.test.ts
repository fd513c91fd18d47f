// capacity-stop.test.ts — capacity mode says why each run stopped (oom, max-guests, guest-failed,
// timeout); a gain whose KSM-on run hit the cap is a lower bound, printed "≥ N×"; the headline is
// printed even when --json writes a file.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { runCapacity } from '../../src/density/capacity-run.ts';
import type { DensityOptions } from '../../src/density/density-host.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { parseFleetSpec } from '../../src/density/fleet-spec.ts';

const OPTIONS: DensityOptions = {
  memoryBytes: 8 * 2 ** 20, numaNodes: 1, knobs: [['sleep_millisecs', '0']], mergeAcrossNodes: '1', capacity: true,
  maxSeconds: 10, sampleMs: 50, log: () => {},
};

describe('capacity mode: why it stopped', function () {
  this.timeout(120_000);

  describe('a 6 MiB host, 1 MiB idle guests, --max-guests 6, --json FILE', () => {
    let lines: string[];
    let r: DensityResult;

    before(async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-')), 'd.json');
      lines = [];
      const code = await main(['density', '--capacity', '--fleet', 'idle:1:size=1MiB', '--memory', '6MiB', '--max-guests', '6',
        '--ksm', 'sleep_millisecs=0', '--max-seconds', '10', '--json', file], (s) => lines.push(s));
      expect(code).to.equal(0);
      r = JSON.parse(readFileSync(file, 'utf8')) as DensityResult;
    });

    it('prints the headline although --json writes the result to a file', () => {
      const text = lines.join('\n');
      expect(text).to.contain('Fleet 1× idle').and.contain('saved');
    });

    it('stops the KSM-off run with oom, naming the guest the OOM killer took', () => {
      expect(r.capacity!.without_ksm.stop_text).to.equal('oom');
      expect(r.capacity!.without_ksm.stop).to.include({ kind: 'oom' }).and.to.have.property('guest').that.matches(/^idle\.\d+$/);
      expect(r.capacity!.without_ksm.guests).to.be.below(6);
    });

    it('stops the KSM-on run at the cap with max-guests', () => {
      expect(r.capacity!.with_ksm.stop_text).to.equal('max-guests');
      expect(r.capacity!.with_ksm.guests).to.equal(6);
    });

    it('prints a gain that hit the cap as "≥ N×", with the stop reasons', () => {
      const gain = r.capacity!.density_gain!;
      expect(r.capacity!.density_gain_bound).to.equal('at-least');
      const text = lines.join('\n');
      expect(text).to.contain(`≥ ${gain.toFixed(2)}×`).and.contain('max-guests').and.contain('oom');
    });
  });

  it('stops with guest-failed, naming the guest and its error, when a guest fails for another reason than memory', async () => {
    const run = await runCapacity(OPTIONS, parseFleetSpec('random:1:size=64KiB;rate=fast'), false, { maxGuests: 4, footprintBytes: [0] });
    expect(run.stop).to.include({ kind: 'guest-failed', guest: 'random.0' });
    expect(run.stop_text).to.match(/^guest-failed: random\.0: .*bad value for rate: "fast"/);
    expect(run.guests).to.equal(0);
  });

  it('stops with timeout when the run outlasts its time budget', async () => {
    const run = await runCapacity({ ...OPTIONS, capacitySeconds: 0.001 }, parseFleetSpec('idle:1:size=64KiB'), false, { maxGuests: 4, footprintBytes: [0] });
    expect(run.stop_text).to.equal('timeout');
  });
});
