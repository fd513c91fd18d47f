// thp-density.test.ts — `ksmsim density --thp`: THP on vs off with KSM, the question operators ask.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DensityResult } from '../../src/density/density-types.ts';
import type { ThpComparison } from '../../src/density/thp-comparison.ts';
import { runCli } from '../helpers/run-cli.ts';

/** Two guests of one 4 MiB image (two whole 2 MiB blocks each, whatever the area's alignment allows). */
const FLEET = ['--fleet', 'os-image:2:size=6MiB;rate=0', '--memory', '64MiB', '--ksm', 'sleep_millisecs=0', '--max-seconds', '10'];

describe('density --thp', () => {
  it('--thp both runs the fleet with THP always and never, with KSM off and on, and prints the table', async function () {
    this.timeout(120_000);
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-thp-')), 't.json');
    const r = await runCli(['density', ...FLEET, '--thp', 'both', '--json', file]);
    expect(r.code, r.stderr).to.equal(0);
    const c = JSON.parse(readFileSync(file, 'utf8')) as ThpComparison;
    expect(c.rows.map((x) => x.thp)).to.deep.equal(['always', 'never']);
    const [on, off] = c.rows;
    // THP on: the images fault in as huge pages; ksmd splits them to merge the guests' equal pages.
    expect(on!.anon_huge_bytes_without_ksm).to.be.greaterThan(0);
    expect(on!.thp_split_pages).to.be.greaterThan(0);
    expect(on!.anon_huge_bytes_with_ksm).to.be.lessThan(on!.anon_huge_bytes_without_ksm);
    expect(off!.anon_huge_bytes_without_ksm).to.equal(0);
    expect(off!.thp_split_pages).to.equal(0);
    for (const row of c.rows) expect(row.saved_bytes).to.be.greaterThan(0);
    expect(r.lines.some((l) => l.startsWith('| always |'))).to.equal(true);
    expect(r.lines.some((l) => l.startsWith('| never |'))).to.equal(true);
  });

  it('--thp always sets the hosts\' setting and the JSON says which it was', async function () {
    this.timeout(60_000);
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-thp-')), 'a.json');
    const r = await runCli(['density', ...FLEET, '--thp', 'always', '--json', file]);
    expect(r.code, r.stderr).to.equal(0);
    const d = JSON.parse(readFileSync(file, 'utf8')) as DensityResult;
    expect(d.thp).to.equal('always');
    expect(d.series.without_ksm.at(-1)!.anon_huge_bytes).to.be.greaterThan(0);
  });

  it('refuses --thp with the linux backend (its mappings stay MADV_NOHUGEPAGE), exit 2', async () => {
    const r = await runCli(['density', '--fleet', 'idle:1', '--thp', 'always', '--backend', 'linux']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--thp runs on the emulator only');
  });

  it('rejects a bad --thp value, naming it', async () => {
    const r = await runCli(['density', '--fleet', 'idle:1', '--thp', 'sometimes']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/--thp.*sometimes|sometimes.*--thp/);
  });
});
