// attack-cli.test.ts — `ksmsim attack` prints one table and writes the JSON fields the issue lists;
// docs/security.md shows the table rendered from the committed docs/data/attack.json; bad flags are
// errors that name the value.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attackMarkdown, type AttackRow } from '../../src/cli/attack-command.ts';
import { runCli } from '../helpers/run-cli.ts';

const doc = (p: string) => new URL(`../../docs/${p}`, import.meta.url);

describe('ksmsim attack', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'ksmsim-attack-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes { scenario, mitigation, trials, candidates, accuracy, chance, saved_bytes } for one probe, and prints its table', async () => {
    const file = join(dir, 'probe.json');
    const r = await runCli(['attack', '--scenario', 'probe', '--mitigation', 'domains', '--trials', '6', '--no-savings', '--json', file]);
    expect(r.code, r.stderr).to.equal(0);
    const row = JSON.parse(readFileSync(file, 'utf8')) as AttackRow;
    expect(row).to.include({ scenario: 'probe', mitigation: 'domains', trials: 6, candidates: 8, chance: 0.125, saved_bytes: null });
    expect(row.accuracy).to.be.within(0, 1);
    expect(r.lines[0]).to.match(/^scenario\s+mitigation\s+result\s+chance/);
    expect(r.lines[1]).to.match(/^probe\s+domains\s+\d+\.\d % right of 6/);
  });

  it('the covert channel adds bits_per_second and bit_error_rate', async () => {
    const file = join(dir, 'covert.json');
    const r = await runCli(['attack', '--scenario', 'covert', '--trials', '2', '--bits', '4', '--no-savings', '--json', file]);
    expect(r.code, r.stderr).to.equal(0);
    const row = JSON.parse(readFileSync(file, 'utf8')) as AttackRow;
    expect(row).to.include({ scenario: 'covert', mitigation: 'none', candidates: 2, chance: 0.5, bits: 4 });
    expect(row.bits_per_second).to.be.above(0);
    expect(row.bit_error_rate).to.be.within(0, 1);
  });

  it('refuses an unknown scenario or mitigation, naming it', async () => {
    expect((await runCli(['attack', '--scenario', 'rowhammer', '--no-savings'])).stderr).to.match(/--scenario "rowhammer": expected one of probe, covert, zero/);
    expect((await runCli(['attack', '--mitigation', 'salt', '--no-savings'])).stderr).to.match(/--mitigation "salt": expected one of none, domains, vusion, zero-only/);
  });

  it('ksmsim run and density take --mitigation and --ksm-domains, and refuse a bad list naming the item', async () => {
    const bad = await runCli(['run', 'guests/hello.ts', '--ksm-domains', 'hello']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/--ksm-domains "hello": "hello" is not GUEST=DOMAIN/);
    expect((await runCli(['run', 'guests/hello.ts', '--mitigation', 'domains'])).stderr).to.match(/--mitigation domains: name the domains with --ksm-domains/);
    const ok = await runCli(['run', 'guests/hello.ts', '--mitigation', 'vusion', '--ksm-domains', 'per-guest']);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it('docs/security.md shows the table rendered from docs/data/attack.json (every scenario × mitigation)', () => {
    const rows = JSON.parse(readFileSync(doc('data/attack.json'), 'utf8')) as AttackRow[];
    expect(rows.map((r) => `${r.scenario}/${r.mitigation}`)).to.have.length(12);
    expect(readFileSync(doc('security.md'), 'utf8')).to.contain(attackMarkdown(rows).join('\n'));
  });
});
