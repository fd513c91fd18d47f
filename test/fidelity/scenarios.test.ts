// scenarios.test.ts — the fidelity scenarios in guests/fidelity/ are well-formed: each loads with its
// metadata, its knobs are real KSM knobs with values the emulator accepts, and together they cover
// every behaviour listed in COVERAGE below.
import { expect } from 'chai';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { KSM_DIR, KsmFiles, ksmFileNames } from '../../src/ksm/sysfs.ts';
import { loadScenarios, scenarioNames, type Scenario } from '../../src/fidelity/scenarios.ts';
import { ksmsim } from '../live/live-cli.ts';

/** The behaviours the suite must cover, and the scenario that covers each. */
const COVERAGE: Record<string, string> = {
  'merge within a guest': 'merge-within',
  'merge across guests': 'merge-across-guests',
  'copy-on-write, lazy counters': 'cow-lazy',
  'MADV_UNMERGEABLE': 'unmerge-madvise',
  'MADV_UNMERGEABLE with run 0': 'unmerge-run0',
  'run=2 resets': 'run2-reset',
  'use_zero_pages 0': 'zero-pages-off',
  'use_zero_pages 1, ksm_zero_pages': 'zero-pages-on',
  'max_page_sharing chains and dups': 'max-page-sharing',
  'prctl merge-any': 'prctl-merge-any',
  'MAP_SHARED never merged': 'map-shared',
  'errnos of every knob': 'knob-errnos',
  '/proc/self/ksm_stat format': 'ksm-stat-format',
  'general_profit arithmetic': 'general-profit',
  'pages_volatile': 'volatile-pages',
  'smart_scan / pages_skipped': 'smart-scan',
  'smart_scan: a late twin merges only in phase with an old page': 'smart-scan-late-twin',
  'many guests': 'many-guests',
};

describe('fidelity scenarios', () => {
  let scenarios: Scenario[];
  before(async () => {
    scenarios = await loadScenarios();
  });

  it('there are at least 15, each with a description, and the list is sorted and unique', () => {
    expect(scenarios.length).to.be.at.least(15);
    const names = scenarios.map((s) => s.name);
    expect(new Set(names).size).to.equal(names.length);
    expect(names).to.deep.equal(scenarioNames());
    for (const s of scenarios) expect(s.meta.description, s.name).to.be.a('string').and.not.equal('');
  });

  it('covers every behaviour listed in COVERAGE', () => {
    const names = scenarios.map((s) => s.name);
    for (const [what, name] of Object.entries(COVERAGE)) expect(names, what).to.include(name);
    expect(scenarios.some((s) => s.meta.guests >= 5), 'a many-guest scenario').to.equal(true);
  });

  it('declares only real KSM knobs, with values the emulator accepts in that order', () => {
    for (const s of scenarios) {
      const files = new KsmFiles(KsmState.create());
      for (const [k, v] of Object.entries(s.meta.knobs)) {
        expect(ksmFileNames(), `${s.name}: ${k}`).to.include(k);
        expect(() => files.writeSync(KSM_DIR + k, v, { root: true }), `${s.name}: ${k}=${v}`).to.not.throw();
      }
    }
  });

  it('runs scenarios with several guests as root (the coordinating guest signals through a knob)', () => {
    for (const s of scenarios.filter((x) => x.meta.guests > 1)) expect(s.meta.root, s.name).to.equal(true);
  });

  it('gives every scenario a time limit of at most 90 s per backend', () => {
    for (const s of scenarios) expect(s.meta.timeoutMs, s.name).to.be.within(1_000, 90_000);
  });

  it('are listed by bin/ksmsim, which runs the compiled project with no TypeScript loader', async () => {
    const run = await ksmsim(['fidelity', '--list']);
    expect(run.stderr).to.equal('');
    expect(run.code).to.equal(0);
    const listed = run.stdout.split('\n').filter(Boolean).map((line) => line.split(/\s+/)[0]);
    expect(listed).to.deep.equal(scenarioNames());
  });

  it('rejects an unknown scenario name, naming it', async () => {
    let err: Error | undefined;
    try {
      await loadScenarios(['no-such-scenario']);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('no-such-scenario');
  });
});
