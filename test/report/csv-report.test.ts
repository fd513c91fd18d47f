// csv-report.test.ts — `--csv DIR`: the four files, their headers, one row a sample / a guest, quoting.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvField, writeDensityCsv } from '../../src/report/csv-report.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';

/** Splits CSV text into rows of fields (RFC 4180 quoting). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') { f += '"'; i++; } else if (c === '"') q = false; else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(f); f = ''; }
    else if (c === '\n') { row.push(f); rows.push(row); row = []; f = ''; }
    else f += c;
  }
  if (f || row.length) { row.push(f); rows.push(row); }
  return rows;
}

describe('density CSV report', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'ksmsim-csv-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the four files into a new directory', () => {
    const out = join(dir, 'nested', 'csv');
    const files = writeDensityCsv(buildDensityResult(), out);
    expect(files.map((f) => f.slice(out.length + 1))).to.deep.equal(['series_with_ksm.csv', 'series_without_ksm.csv', 'per_guest.csv', 'summary.csv']);
  });

  it('has one series row a sample, with node and counter columns', () => {
    const r = buildDensityResult({ numaNodes: 3, duration: 5 });
    writeDensityCsv(r, dir);
    for (const [file, samples] of [['series_with_ksm.csv', r.series.with_ksm], ['series_without_ksm.csv', r.series.without_ksm]] as const) {
      const rows = parseCsv(readFileSync(join(dir, file), 'utf8'));
      const head = rows[0]!;
      expect(head.slice(0, 6)).to.deep.equal(['t', 'guests', 'memory_used_bytes', 'node0_used_bytes', 'node1_used_bytes', 'node2_used_bytes']);
      for (const c of ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'pages_scanned', 'full_scans', 'general_profit']) expect(head).to.include(c);
      expect(rows).to.have.length(samples.length + 1);
      for (const row of rows) expect(row).to.have.length(head.length);
      const lastRow = rows[rows.length - 1]!;
      const s = samples[samples.length - 1]!;
      expect(Number(lastRow[0])).to.equal(s.t);
      expect(Number(lastRow[2])).to.equal(s.memory_used_bytes);
      expect(Number(lastRow[head.indexOf('pages_sharing')])).to.equal(s.counters.pages_sharing);
    }
  });

  it('has one per-guest row a guest', () => {
    const r = buildDensityResult({ firstGuestName: 'idle, "the first"' });
    writeDensityCsv(r, dir);
    const rows = parseCsv(readFileSync(join(dir, 'per_guest.csv'), 'utf8'));
    expect(rows[0]).to.deep.equal(['name', 'workload', 'pid', 'ksm_merging_pages', 'ksm_process_profit', 'private_pages']);
    expect(rows).to.have.length(r.per_guest.length + 1);
    expect(rows[1]![0]).to.equal('idle, "the first"');
    expect(Number(rows[1]![4])).to.equal(r.per_guest[0]!.ksm_process_profit);
  });

  it('summarises the result as metric,value with capacity, NUMA and knobs', () => {
    const r = buildDensityResult({ capacity: true, numa: true });
    writeDensityCsv(r, dir);
    const rows = parseCsv(readFileSync(join(dir, 'summary.csv'), 'utf8'));
    expect(rows[0]).to.deep.equal(['metric', 'value']);
    const m = new Map(rows.slice(1).map(([k, v]) => [k!, v!]));
    expect(m.get('fleet')).to.equal('idle:12,web:8:size=96MiB,db:2');
    expect(Number(m.get('saved_bytes'))).to.equal(Number(m.get('memory_without_ksm_bytes')) - Number(m.get('memory_with_ksm_bytes')));
    expect(Number(m.get('density_gain'))).to.be.closeTo(Number(m.get('guests_fit_with_ksm')) / Number(m.get('guests_fit_without_ksm')), 1e-9);
    expect(m.get('numa.merge_across_nodes_0.remote_access_share')).to.equal('0.004');
    expect(m.get('knob.pages_to_scan')).to.equal('1000');
    for (const k of ['pages_shared', 'pages_sharing', 'general_profit', 'converge_seconds', 'ksmd_cpu_seconds', 'ksmd_cpu_share']) expect(m.has(k), k).to.equal(true);
  });

  it('states why each capacity run stopped, the cap, and whether the gain is a lower bound', () => {
    writeDensityCsv(buildDensityResult({ capacity: true, capacityCap: 40 }), dir);
    const m = new Map(parseCsv(readFileSync(join(dir, 'summary.csv'), 'utf8')).slice(1).map(([k, v]) => [k!, v!]));
    expect(m.get('capacity_stop_without_ksm')).to.equal('oom');
    expect(m.get('capacity_stop_with_ksm')).to.equal('max-guests');
    expect(m.get('capacity_max_guests')).to.equal('40');
    expect(m.get('density_gain_bound')).to.equal('at-least');
  });

  it('gives ksmd\'s thread CPU time and the wall time beside it', () => {
    writeDensityCsv(buildDensityResult(), dir);
    const m = new Map(parseCsv(readFileSync(join(dir, 'summary.csv'), 'utf8')).slice(1).map(([k, v]) => [k!, v!]));
    expect(m.get('ksmd_cpu_clock')).to.equal('schedstat');
    expect(Number(m.get('ksmd_cpu_seconds'))).to.be.at.most(Number(m.get('ksmd_wall_seconds')));
  });

  it('leaves a null convergence empty and quotes what needs quoting', () => {
    expect(csvField(null)).to.equal('');
    expect(csvField('a,b')).to.equal('"a,b"');
    expect(csvField('say "hi"')).to.equal('"say ""hi"""');
    expect(csvField(Number.NaN)).to.equal('');
  });
});
