// density-engines-csv.test.ts — `ksmsim density --engine a,b --csv DIR`: the four CSV files hold every
// engine's run, an `engine` column first and one header per file; a single engine's CSV is unchanged.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_FILES, writeDensityCsv, writeEnginesCsv } from '../../src/report/csv-report.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';
import { runCli } from '../helpers/run-cli.ts';

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

/** A fixture run whose samples carry one counter of the engine's own beside the common ones. */
function runOf(engine: string, duration: number): DensityResult {
  const r = buildDensityResult({ duration, numaNodes: 1 });
  const add = (s: DensityResult['series']['with_ksm']) => s.map((x) => ({ ...x, counters: { ...x.counters, [`${engine}_only`]: 7 } }));
  return { ...r, series: { with_ksm: add(r.series.with_ksm), without_ksm: add(r.series.without_ksm) } };
}

describe('density CSV of several engines', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'ksmsim-engines-csv-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the four files, each row led by its engine, every engine\'s rows under one header', () => {
    const runs = [['ksm', runOf('ksm', 3)], ['uksm', runOf('uksm', 2)]] as const;
    const files = writeEnginesCsv(runs, dir);
    expect(files.map((f) => f.slice(dir.length + 1))).to.deep.equal([...CSV_FILES]);
    for (const file of files) {
      const [head, ...rows] = lines(file);
      expect(head!.split(',')[0]).to.equal('engine');
      expect(new Set(rows.map((r) => r.split(',')[0]))).to.deep.equal(new Set(['ksm', 'uksm']));
    }
    const [head, ...rows] = lines(join(dir, 'series_with_ksm.csv'));
    const cols = head!.split(',');
    // Every sample of every run, each with the union of the runs' columns (blank where a run has none).
    expect(rows).to.have.length(runs[0][1].series.with_ksm.length + runs[1][1].series.with_ksm.length);
    expect(cols).to.include.members(['ksm_only', 'uksm_only']);
    for (const row of rows) {
      const f = row.split(',');
      expect(f).to.have.length(cols.length);
      expect(f[cols.indexOf(`${f[0]}_only`)]).to.equal('7');
      expect(f[cols.indexOf(f[0] === 'ksm' ? 'uksm_only' : 'ksm_only')]).to.equal('');
    }
  });

  it('writes one engine\'s files as the single-engine CSV with an engine column in front, byte for byte', () => {
    const r = buildDensityResult({ duration: 2 });
    writeDensityCsv(r, join(dir, 'one'));
    writeEnginesCsv([['ksm', r]], join(dir, 'list'));
    for (const name of CSV_FILES) {
      const single = readFileSync(join(dir, 'one', name), 'utf8');
      const listed = readFileSync(join(dir, 'list', name), 'utf8');
      expect(listed.split('\n').map((l) => l.replace(/^(engine|ksm),/, '')).join('\n')).to.equal(single);
    }
  });

  it('keeps the single-engine headers as they were (no engine column)', () => {
    const r = buildDensityResult({ duration: 2, numaNodes: 2 });
    writeDensityCsv(r, dir);
    expect(lines(join(dir, 'series_with_ksm.csv'))[0]).to.match(/^t,guests,memory_used_bytes,node0_used_bytes,node1_used_bytes,pages_shared,/);
    expect(lines(join(dir, 'per_guest.csv'))[0]).to.equal('name,workload,pid,ksm_merging_pages,ksm_process_profit,private_pages');
    expect(lines(join(dir, 'summary.csv'))[0]).to.equal('metric,value');
  });

  it('writes them from the command line for a small two-engine run', async function () {
    this.timeout(120_000);
    const out = join(dir, 'csv');
    const r = await runCli(['density', '--quiet', '--fleet', 'os-image:2:size=1MiB;rate=0', '--memory', '32MiB', '--ksm', 'sleep_millisecs=0',
      '--max-seconds', '3', '--engine', 'ksm,uksm', '--csv', out]);
    expect(r.code, r.stderr).to.equal(0);
    for (const name of CSV_FILES) {
      const [head, ...rows] = lines(join(out, name));
      expect(head!.startsWith('engine,')).to.equal(true);
      const engines = rows.map((row) => row.split(',')[0]);
      expect(engines).to.include('ksm');
      expect(engines).to.include('uksm');
      // Rows of one engine, then the other's: never interleaved.
      expect(engines.indexOf('uksm')).to.be.greaterThan(engines.lastIndexOf('ksm'));
    }
    const summary = lines(join(out, 'summary.csv'));
    expect(summary).to.include.members(['ksm,guests,2', 'uksm,guests,2']);
  });
});
