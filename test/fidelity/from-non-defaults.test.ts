// from-non-defaults.test.ts — where the linux backend is available, every fidelity scenario against
// this machine's kernel with the machine's knobs left at values no fresh kernel has: each scenario
// must still agree (both backends start from the kernel's defaults inside the knob guard), the
// machine's values must be back after each scenario, and its original knobs at the end.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { KnobGuard, readKnobs } from '../../src/backend/linux/knob-guard.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';
import { describeDifference } from '../../src/fidelity/report.ts';
import { runFidelity, type FidelityResult } from '../../src/fidelity/run-fidelity.ts';
import { loadScenario, scenarioNames } from '../../src/fidelity/scenarios.ts';
import { skipUnlessLinuxBackend } from '../backend/linux/skip-unless-available.ts';
import { emulatorRun } from './emulator-runs.ts';

const NAMES = scenarioNames();

/**
 * The knobs as an object for a readable diff. Under the scan-time advisor with run=1 the kernel
 * rewrites pages_to_scan itself after every full scan (and a write to it is EINVAL): it belongs to
 * the advisor, not to the run, and is left out.
 */
function knobsNow(): Record<string, string> {
  const k = Object.fromEntries(readKnobs());
  if (k[KSM_DIR + 'advisor_mode'] === 'scan-time') delete k[KSM_DIR + 'pages_to_scan'];
  return k;
}

/** Values no freshly booted kernel has, written in an order the kernel accepts (run=2 first: EBUSY). */
const LEFT_BEHIND: ReadonlyArray<[string, string]> = [
  ['run', '2'],
  ['advisor_mode', 'scan-time'], // also makes pages_to_scan 500, and writing pages_to_scan EINVAL
  ['use_zero_pages', '1'],
  ['max_page_sharing', '16'],
  ['smart_scan', '0'],
  ['sleep_millisecs', '7'],
  ['stable_node_chains_prune_millisecs', '500'],
  ['run', '1'],
];

describe('fidelity against the kernel, from knobs left at non-default values', function () {
  let machine: ReadonlyMap<string, string>;
  let outer: KnobGuard | undefined;
  let left: Record<string, string>;
  const results: FidelityResult[] = [];

  before(async function () {
    skipUnlessLinuxBackend(this);
    // Another run may hold the lock for a while (the whole fidelity suite takes about a minute).
    this.timeout(11 * 60_000);
    outer = await KnobGuard.acquire({ waitMs: 10 * 60_000 });
    machine = outer.snapshot; // read under the lock: no other run's knobs are in it
    for (const [k, v] of LEFT_BEHIND) writeFileSync(KSM_DIR + k, v);
    left = knobsNow();
  });

  after(() => outer?.release());

  for (const name of NAMES) {
    it(`${name} agrees, and the knobs are back at the machine's values afterwards`, async function () {
      const s = await loadScenario(name);
      this.timeout(2 * s.meta.timeoutMs + 30_000);
      const [r] = await runFidelity([s], { guard: outer, emulatorRun });
      results.push(r!);
      expect(r!.differences.map(describeDifference)).to.deep.equal([]);
      expect(knobsNow()).to.deep.equal(left);
    });
  }

  it(`all ${NAMES.length} scenarios agree (at least 31)`, () => {
    expect(results.filter((r) => r.agree).length).to.equal(NAMES.length);
    expect(NAMES.length).to.be.at.least(31);
  });

  it('restores the knobs the machine had before the test', () => {
    expect(left[KSM_DIR + 'use_zero_pages']).to.equal('1');
    outer!.release();
    expect(readKnobs()).to.deep.equal(machine);
  });
});
