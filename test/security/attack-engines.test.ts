// attack-engines.test.ts — the side-channel lab under each merge engine (docs/security.md#under-each-engine):
// the probe names the victim's secret without a mitigation under ksm (attack.test.ts), UKSM and DKSM
// (timing its own madvise there: every advised page copies on write, so a write tells nothing), and
// is at chance under the mitigations that close it; what cannot run under an engine is refused, naming
// why. The bounds are on accuracies, never on times.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attackMarkdown, type AttackRow } from '../../src/cli/attack-command.ts';
import { runAttack } from '../../src/security/attack-run.ts';
import { PROBE, chanceBound } from '../helpers/attack-lab.ts';
import { runCli } from '../helpers/run-cli.ts';

describe('side-channel attacks under each merge engine', function () {
  this.timeout(120_000);

  it('under --engine uksm the content probe names the victim\'s secret page when nothing mitigates it', async () => {
    const r = await runAttack({ ...PROBE, engine: 'uksm' });
    expect(r.accuracy).to.be.at.least(0.75);
  });

  it('under --engine dksm the probe, timing its own madvise of each candidate, names the victim\'s secret page when nothing mitigates it', async () => {
    const r = await runAttack({ ...PROBE, engine: 'dksm' });
    // > 90 % on a quiet machine (docs/security.md); the signal is about a microsecond per advice.
    expect(r.accuracy).to.be.at.least(0.6);
  });

  for (const engine of ['dksm', 'uksm'] as const) {
    for (const mitigation of ['domains', 'zero-only'] as const) {
      it(`under --engine ${engine} --mitigation ${mitigation} the probe does no better than chance`, async () => {
        const r = await runAttack({ ...PROBE, engine, mitigation });
        expect(r.accuracy).to.be.below(chanceBound(PROBE.trials, PROBE.candidates));
      });
    }
  }

  it('under --engine uksm two cooperating guests send bits through merges, counting rounds in UKSM\'s full_scans', async () => {
    const r = await runAttack({ ...PROBE, engine: 'uksm', scenario: 'covert', trials: 2, bits: 8 });
    expect(r.bit_error_rate).to.be.below(0.3);
  });

  describe('ksmsim attack --engine', () => {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'ksmsim-attack-engines-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('runs the probe under each engine listed, one row each, with an engine column', async () => {
      const file = join(dir, 'engines.json');
      const r = await runCli(['attack', '--engine', 'dksm,uksm', '--trials', '6', '--no-savings', '--json', file]);
      expect(r.code, r.stderr).to.equal(0);
      const rows = JSON.parse(readFileSync(file, 'utf8')) as AttackRow[];
      expect(rows.map((x) => x.engine)).to.deep.equal(['dksm', 'uksm']);
      expect(r.lines[0]).to.match(/^engine\s+scenario\s+mitigation\s+result/);
      expect(r.lines[1]).to.match(/^dksm\s+probe\s+none\s+\d+\.\d % right of 6/);
      expect(r.lines[2]).to.match(/^uksm\s+probe\s+none\s+\d+\.\d % right of 6/);
    });

    it('docs/security.md shows the tables rendered from docs/data/attack-dksm.json and attack-uksm.json', () => {
      const doc = (p: string) => new URL(`../../docs/${p}`, import.meta.url);
      const md = readFileSync(doc('security.md'), 'utf8');
      for (const [file, engine, rows] of [['attack-dksm.json', 'dksm', 4], ['attack-uksm.json', 'uksm', 12]] as const) {
        const data = JSON.parse(readFileSync(doc(`data/${file}`), 'utf8')) as AttackRow[];
        expect(data).to.have.length(rows);
        expect(data.every((r) => r.engine === engine)).to.equal(true);
        expect(md).to.contain(attackMarkdown(data).join('\n'));
      }
    });

    it('refuses an unknown engine, naming it', async () => {
      const r = await runCli(['attack', '--engine', 'zksm', '--no-savings']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/--engine "zksm": expected one of ksm, dksm, uksm/);
    });

    it('refuses the covert channel and the zero probe under dksm: their rounds are full scans, which DKSM has none of', async () => {
      for (const scenario of ['covert', 'zero']) {
        const r = await runCli(['attack', '--engine', 'dksm', '--scenario', scenario, '--no-savings']);
        expect(r.code).to.not.equal(0);
        expect(r.stderr).to.contain(`--scenario ${scenario} does not run under --engine dksm: its rounds are counted in full scans, and DKSM has none`);
      }
    });

    it('refuses --use-zero-pages 1 under an engine without ksmd, and --wait-ms under dksm', async () => {
      const z = await runCli(['attack', '--engine', 'uksm', '--use-zero-pages', '1', '--no-savings']);
      expect(z.stderr).to.contain('--use-zero-pages 1: a ksmd knob, and --engine uksm has no ksmd (UKSM always merges zero pages into its own zero page)');
      const w = await runCli(['attack', '--engine', 'dksm', '--wait-ms', '100', '--no-savings']);
      expect(w.stderr).to.contain('--wait-ms: the probe under --engine dksm does not wait');
    });
  });
});
