// sweep-spec.test.ts — a sweep file's grid and its refusals: every combination of the axes, each
// point parsed as a `ksmsim density` command line, and an error naming the bad axis, key or value
// before any point runs.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepJobs } from '../../src/cli/sweep-points.ts';
import { sweepId, sweepPoints, sweepSpecOf, type SweepSpec } from '../../src/sweep/sweep-file.ts';
import { MemoryGate } from '../../src/sweep/memory-gate.ts';
import { paretoFront } from '../../src/report/sweep-html.ts';
import { readResults } from '../../src/sweep/results-file.ts';
import { runCli } from '../helpers/run-cli.ts';

const FILE = '/tmp/sweep.yaml';
const spec = (doc: unknown): SweepSpec => sweepSpecOf(doc, FILE);
const BASE = { fleet: 'os-image:3:size=4MiB;rate=0', memory: '128MiB', max_seconds: 30, knobs: { sleep_millisecs: 10 } };

describe('sweep files', () => {
  it('expands the axes into every combination, the first axis slowest', () => {
    const points = sweepPoints(spec({ base: BASE, axes: { pages_to_scan: [100, 4000], seed: [1, 2] } }));
    expect(points.map((p) => p.key)).to.deep.equal([
      '{"pages_to_scan":100,"seed":1}', '{"pages_to_scan":100,"seed":2}', '{"pages_to_scan":4000,"seed":1}', '{"pages_to_scan":4000,"seed":2}',
    ]);
  });

  it('gives each point the density command line its axes make', () => {
    const jobs = sweepJobs(spec({ base: BASE, axes: { pages_to_scan: [100], seed: [7], 'fleet.os-image.count': [5], 'fleet.os-image.args.size': ['2MiB'], engine: ['uksm'] } }));
    expect(jobs).to.have.length(1);
    expect(jobs[0]!.density_args).to.deep.equal([
      '--fleet', 'os-image:5:rate=0;seed=7;size=2MiB', '--memory', '128MiB', '--max-seconds', '30', '--engine', 'uksm',
      '--ksm', 'sleep_millisecs=10', '--ksm', 'pages_to_scan=100',
    ]);
    expect(jobs[0]!.fleet).to.deep.equal([{ workload: 'os-image', count: 5, args: ['rate=0', 'seed=7', 'size=2MiB'] }]);
    expect(jobs[0]!.options).to.include({ memoryBytes: 128 * 2 ** 20, maxSeconds: 30, engine: 'uksm' });
    expect(jobs[0]!.options.knobs).to.deep.equal([['sleep_millisecs', '10'], ['pages_to_scan', '100']]);
  });

  it('reads a fleet given as a list of entries, and fleet_file relative to the sweep file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-sweep-spec-'));
    writeFileSync(join(dir, 'fleet.yaml'), '- {workload: web, count: 2, args: {size: 1MiB}}\n');
    const fromFile = sweepJobs(sweepSpecOf({ base: { fleet_file: 'fleet.yaml' }, axes: { seed: [1] } }, join(dir, 'sweep.yaml')));
    const fromList = sweepJobs(spec({ base: { fleet: [{ workload: 'web', count: 2, args: { size: '1MiB' } }] }, axes: { seed: [1] } }));
    expect(fromFile[0]!.fleet).to.deep.equal(fromList[0]!.fleet);
  });

  it('names the sweep by its content, so results of another sweep are not mixed in', () => {
    const a = spec({ base: BASE, axes: { seed: [1, 2] } });
    expect(sweepId(a)).to.equal(sweepId(spec({ base: BASE, axes: { seed: [1, 2] } })));
    expect(sweepId(a)).to.not.equal(sweepId(spec({ base: BASE, axes: { seed: [1, 3] } })));
  });

  it('refuses an unknown axis, naming it', () => {
    expect(() => sweepJobs(spec({ base: BASE, axes: { pages_to_scn: [1] } }))).to.throw(/unknown axis "pages_to_scn"/);
    expect(() => sweepJobs(spec({ base: BASE, axes: { 'fleet.web.count': [1] } }))).to.throw(/axis fleet\.web\.count: no fleet entry web/);
  });

  it('refuses a base key that is not a density flag, and outputs of one run', () => {
    expect(() => sweepJobs(spec({ base: { ...BASE, max_secs: 3 }, axes: { seed: [1] } }))).to.throw(/base\.max_secs is not a density flag/);
    expect(() => sweepJobs(spec({ base: { ...BASE, json: 'x.json' }, axes: { seed: [1] } }))).to.throw(/--json is not for sweeps/);
    expect(() => sweepJobs(spec({ base: { ...BASE, backend: 'linux' }, axes: { seed: [1] } }))).to.throw(/--backend linux: sweep points run on the emulator/);
  });

  it('refuses a value the density command refuses, naming the point and the value', () => {
    expect(() => sweepJobs(spec({ base: BASE, axes: { memory: ['64MiB', '12XB'] } }))).to.throw(/point memory=12XB: --memory: invalid size "12XB"/);
    expect(() => sweepJobs(spec({ base: BASE, axes: { 'fleet.os-image.count': [0] } }))).to.throw(/bad guest count "0" for os-image/);
    expect(() => sweepJobs(spec({ base: BASE, axes: { merge_across_nodes: ['both'] } }))).to.throw(/--merge-across-nodes both needs --numa-nodes 2/);
    expect(() => sweepJobs(spec({ base: BASE, axes: { engine: ['ksm,uksm'] } }))).to.throw(/make engine an axis/);
  });

  it('refuses a knob value sysfs refuses and a workload argument the guest refuses, before any point runs', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-sweep-bad-'));
    const write = (name: string, axes: string) => {
      writeFileSync(join(dir, name), `base:\n  fleet: "os-image:2:size=1MiB;rate=0"\n  memory: 16MiB\naxes:\n${axes}`);
      return join(dir, name);
    };
    const knob = await runCli(['sweep', write('knob.yaml', '  pages_to_scan: [100, -5]\n'), '--out', join(dir, 'knob')]);
    expect(knob.code).to.equal(2);
    expect(knob.stderr).to.match(/point pages_to_scan=-5: --ksm pages_to_scan=-5: write: EINVAL/);
    const arg = await runCli(['sweep', write('arg.yaml', '  fleet.os-image.args.common: [0.5, 1.5]\n'), '--out', join(dir, 'arg')]);
    expect(arg.code).to.equal(2);
    expect(arg.stderr).to.match(/point fleet\.os-image\.args\.common=1\.5: .*bad value for common: "1\.5"/);
    // Nothing ran: no results directory was made.
    expect(readResults(join(dir, 'knob'))).to.deep.equal([]);
    expect(readResults(join(dir, 'arg'))).to.deep.equal([]);
  });

  it('refuses an unreachable Redis, naming it, before any point runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-sweep-redis-'));
    writeFileSync(join(dir, 's.yaml'), 'base:\n  fleet: "os-image:1:size=1MiB"\naxes:\n  seed: [1]\n');
    const r = await runCli(['sweep', join(dir, 's.yaml'), '--out', join(dir, 'out'), '--queue', 'redis://127.0.0.1:1']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--queue redis:\/\/127\.0\.0\.1:1: Redis is unreachable \(connect ECONNREFUSED/);
    expect(r.lines.join('\n')).to.not.match(/checked|\[1\//);
  });
});

describe('the memory gate of concurrent points', () => {
  it('starts a point only when its memory fits beside the running ones', async () => {
    const gate = new MemoryGate(100);
    const a = await gate.acquire(60);
    let bStarted = false;
    const b = gate.acquire(60).then((release) => {
      bStarted = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(bStarted).to.equal(false);
    a();
    (await b)();
    expect(bStarted).to.equal(true);
  });

  it('runs a point larger than the budget alone rather than never', async () => {
    const gate = new MemoryGate(100);
    (await gate.acquire(500))();
  });
});

describe('the Pareto front of saving against CPU', () => {
  it('keeps the points no other point beats on both counts', () => {
    const points = [{ cpu: 1, saved: 10 }, { cpu: 2, saved: 9 }, { cpu: 2, saved: 12 }, { cpu: 0.5, saved: 4 }, { cpu: 3, saved: 12 }];
    expect(paretoFront(points)).to.deep.equal([0, 2, 3]);
  });
});
