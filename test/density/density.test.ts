// density.test.ts — `ksmsim density`: the JSON contract, its arithmetic, capacity mode at memory
// full, and clear errors for bad fleet specs.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDensity, type DensityOptions } from '../../src/density/density-runner.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { parseFleetSpec, readFleetFile, workloadProgram } from '../../src/density/fleet-spec.ts';
import { main } from '../../src/cli/main.ts';
import { DEFAULT_DENSITY_MEMORY, DEFAULT_FLEET } from '../../src/cli/density-command.ts';
import { parseBytes } from '../../src/workloads/workload-args.ts';
import { runCli } from '../helpers/run-cli.ts';

const OPTIONS: DensityOptions = {
  memoryBytes: 24 * 2 ** 20, numaNodes: 1, knobs: [['sleep_millisecs', '0']], mergeAcrossNodes: '1', capacity: true,
  maxGuests: 48, maxSeconds: 15, sampleMs: 50, log: () => {},
};

describe('ksmsim density', function () {
  this.timeout(120_000);
  let result: DensityResult;

  before(async () => {
    result = await runDensity(OPTIONS, parseFleetSpec('os-image:3:size=2MiB;rate=0,random:2:size=1MiB'));
  });

  it('reports every top-level field of the JSON contract', () => {
    for (const key of ['backend', 'converge_full_scans', 'full_scans_at_fleet_up', 'full_scans_at_converge', 'fleet', 'host', 'memory_without_ksm_bytes', 'memory_with_ksm_bytes', 'saved_bytes', 'pages_shared', 'pages_sharing',
      'general_profit', 'converge_seconds', 'ksmd_cpu_seconds', 'ksmd_cpu_clock', 'ksmd_wall_seconds', 'ksmd_cpu_share', 'capacity', 'guests_fit_without_ksm', 'guests_fit_with_ksm', 'density_gain', 'series']) {
      expect(result, key).to.have.property(key);
    }
  });

  it('counts the full scans from the fleet being up to convergence', () => {
    expect(result.backend).to.equal('emulator');
    expect(result.converge_full_scans).to.equal(result.full_scans_at_converge! - result.full_scans_at_fleet_up!);
  });

  it('computes the saving as memory without KSM minus memory with it', () => {
    expect(result.saved_bytes).to.equal(result.memory_without_ksm_bytes - result.memory_with_ksm_bytes);
    expect(result.saved_bytes).to.be.greaterThan(0);
  });

  it('measures memory without KSM as what the fleet mapped and touched', () => {
    // 3 × 2 MiB + 2 × 1 MiB, every page written (the image's zero pages are written with zeros).
    expect(result.memory_without_ksm_bytes).to.be.within(7.5 * 2 ** 20, 8.5 * 2 ** 20);
  });

  it('agrees with general_profit within the rmap-item overhead', () => {
    const savedByCounters = (result.pages_sharing + (result.series.with_ksm.at(-1)!.counters.ksm_zero_pages ?? 0)) * 4096;
    expect(Math.abs(savedByCounters - result.saved_bytes)).to.be.below(64 * 4096);
    expect(result.general_profit).to.be.at.most(savedByCounters);
  });

  it('gives the density gain as guests fitting with KSM over guests fitting without', () => {
    expect(result.guests_fit_without_ksm).to.be.greaterThan(0);
    expect(result.density_gain).to.be.closeTo(result.guests_fit_with_ksm! / result.guests_fit_without_ksm!, 1e-9);
    expect(result.guests_fit_with_ksm).to.be.greaterThan(result.guests_fit_without_ksm!);
  });

  it('stops capacity mode at memory full, not at the guest limit', () => {
    // Without KSM each guest needs at least 1 MiB of the 24 MiB host.
    expect(result.guests_fit_without_ksm).to.be.below(24);
    expect(result.guests_fit_with_ksm).to.be.below(OPTIONS.maxGuests!);
    expect([result.capacity!.without_ksm.stop_text, result.capacity!.with_ksm.stop_text]).to.deep.equal(['oom', 'oom']);
  });

  it('records time series for both runs and a convergence time within the KSM-on run', () => {
    expect(result.series.without_ksm.length).to.be.greaterThan(2);
    expect(result.series.with_ksm.length).to.be.greaterThan(2);
    expect(result.converge_seconds).to.be.a('number');
    expect(result.ksmd_cpu_share).to.be.within(0, 1.5);
  });

  it('names a bad fleet spec entry in the error', () => {
    expect(() => parseFleetSpec('idle:0')).to.throw(/bad guest count "0" for idle/);
    expect(() => parseFleetSpec('idle:x')).to.throw(/bad guest count/);
    expect(() => parseFleetSpec('')).to.throw(/empty fleet spec/);
    expect(() => parseFleetSpec('web:2:rate')).to.throw(/bad argument "rate" for web/);
    expect(() => workloadProgram('nosuchworkload')).to.throw(/unknown workload "nosuchworkload"/);
  });

  it('reads a YAML fleet file with args as a mapping', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-')), 'fleet.yaml');
    writeFileSync(file, 'fleet:\n  - workload: idle\n    count: 2\n    args: { size: 1MiB }\n  - workload: web\n');
    expect(readFleetFile(file)).to.deep.equal([{ workload: 'idle', count: 2, args: ['size=1MiB'] }, { workload: 'web', count: 1, args: [] }]);
  });

  it('exits with an error naming the flag for --fleet and --fleet-file together', async () => {
    const r = await runCli(['density', '--fleet', 'idle:1', '--fleet-file', 'x.yaml']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--fleet and --fleet-file');
  });

  it('writes the JSON report through the command line', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-')), 'd.json');
    const code = await main(['density', '--fleet', 'os-image:2:size=1MiB;rate=0', '--memory', '32MiB', '--ksm', 'sleep_millisecs=0', '--max-seconds', '10', '--json', file], () => {});
    expect(code).to.equal(0);
    const r = JSON.parse(readFileSync(file, 'utf8')) as DensityResult;
    expect(r.saved_bytes).to.equal(r.memory_without_ksm_bytes - r.memory_with_ksm_bytes);
    expect(r.fleet).to.deep.equal([{ workload: 'os-image', count: 2, args: ['size=1MiB', 'rate=0'] }]);
  });

  it('prints nothing but errors with --quiet, and still writes the JSON', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-')), 'q.json');
    const lines: string[] = [];
    const code = await main(['density', '--quiet', '--fleet', 'idle:1:size=64KiB', '--memory', '8MiB', '--ksm', 'sleep_millisecs=0', '--max-seconds', '2', '--json', file], (s) => lines.push(s));
    expect(code).to.equal(0);
    expect(lines).to.deep.equal([]);
    expect((JSON.parse(readFileSync(file, 'utf8')) as DensityResult).fleet[0]!.workload).to.equal('idle');
  });

  it('runs by default (npm start) a fleet of a few dozen guests of tens of MiB that fits the default host without KSM', () => {
    const fleet = parseFleetSpec(DEFAULT_FLEET);
    const sizes = fleet.map((e) => parseBytes(e.args.find((a) => a.startsWith('size='))!.slice(5))!);
    const guests = fleet.reduce((n, e) => n + e.count, 0);
    expect(guests).to.be.within(24, 64);
    for (const b of sizes) expect(b).to.be.within(16 * 2 ** 20, 64 * 2 ** 20);
    expect(fleet.reduce((n, e, i) => n + e.count * sizes[i]!, 0)).to.be.below(DEFAULT_DENSITY_MEMORY);
  });
});
