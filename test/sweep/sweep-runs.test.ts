// sweep-runs.test.ts — sweeps that run: a 2×2 sweep here is interrupted (killed) and resumed with no
// point twice; a failing point records its error and the sweep goes on; the same sweep through a
// private Redis with two worker processes gives the local run's results (compared on the fields the
// same seeds reproduce: sweep/deterministic.ts — memory and page counts, not timings); and a worker
// killed mid-point still leaves every point recorded exactly once.
//
// The Redis tests skip, saying why, when redis-server is absent (apt-get install -y redis-server).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deterministicFields } from '../../src/sweep/deterministic.ts';
import type { PointRecord } from '../../src/sweep/point-run.ts';
import { readResults, RESULTS_FILE } from '../../src/sweep/results-file.ts';
import { runCli } from '../helpers/run-cli.ts';
import { redisMissing, startRedis, type TestRedis } from '../helpers/redis-server.ts';

const ENTRY = new URL('../../bin/ksmsim', import.meta.url).pathname;

/**
 * Tiny points: two 2 MiB guests that never rewrite a page (rate=0), and smart_scan off, so the saving
 * is reproducible (with smart_scan on, 1 run in 24 merged only the zero pages: docs/sweeps.md).
 */
const SWEEP = `base:
  fleet: "os-image:2:size=2MiB;rate=0"
  memory: 32MiB
  max_seconds: 30
  knobs: { sleep_millisecs: 0, smart_scan: 0 }
axes:
  pages_to_scan: [200, 2000]
  seed: [1, 2]
`;

/** A ksmsim process (bin/ksmsim, compiled JavaScript) whose stdout lines a test can wait for. */
class Proc {
  readonly child: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.out)) {
      if (this.child.exitCode !== null) throw new Error(`process exited (${this.child.exitCode}) before ${re}:\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`no ${re} after ${timeoutMs / 1000} s:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Run `ksmsim sweep …args` as its own process and SIGKILL it once it has recorded its first point. */
async function killAfterFirstPoint(args: string[]): Promise<void> {
  const sweep = new Proc(['sweep', ...args]);
  try {
    await sweep.waitFor(/^\[1\/4\]/m);
  } finally {
    sweep.kill('SIGKILL');
    await sweep.exited;
  }
}

function keysOf(records: readonly PointRecord[]): string[] {
  return records.map((r) => r.key).sort();
}

const byKey = (records: readonly PointRecord[]) => new Map(records.map((r) => [r.key, r]));

describe('ksmsim sweep', function () {
  this.timeout(240_000);
  let dir: string;
  let file: string;
  let local: PointRecord[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-sweep-'));
    file = join(dir, 'sweep.yaml');
    writeFileSync(file, SWEEP);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes a 2×2 sweep after it was killed, running no point twice', async () => {
    const out = join(dir, 'local');
    await killAfterFirstPoint([file, '--out', out, '--jobs', '1']);
    const before = readResults(out);
    expect(before.length).to.be.within(1, 3);
    // A kill in the middle of a write leaves half a line: the resume cuts it off.
    appendFileSync(join(out, RESULTS_FILE), '{"sweep_id":"half a li');
    const refused = await runCli(['sweep', file, '--out', out]);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.match(/already holds \d points?: pass --resume/);
    const resumed = await runCli(['sweep', file, '--out', out, '--resume', '--jobs', '2']);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.lines[0]).to.match(new RegExp(`4 points, ${before.length} already in`));
    local = readResults(out);
    expect(keysOf(local)).to.deep.equal(keysOf(local).filter((k, i, a) => a.indexOf(k) === i)).and.to.have.length(4);
    // The points finished before the kill were kept as they were, not run again.
    expect(local.slice(0, before.length)).to.deep.equal(before);
    for (const r of local) {
      expect(r.error, r.key).to.equal(null);
      expect(r.result!.converge_seconds, `${r.key} converged`).to.be.a('number');
      expect(r.version.ksmsim).to.be.a('string');
      expect(r.density_args).to.include('--fleet');
    }
    expect(readFileSync(join(out, RESULTS_FILE), 'utf8').endsWith('\n')).to.equal(true);
  });

  it('records a failing point\'s error and runs the others', async () => {
    // Four 2 MiB guests do not fit in 6 MiB (the check before the sweep starts one guest of each entry, which does).
    const f = join(dir, 'failing.yaml');
    writeFileSync(f, 'base:\n  fleet: "os-image:1:size=2MiB;rate=0"\n  memory: 6MiB\n  max_seconds: 20\naxes:\n  fleet.os-image.count: [4, 1]\n');
    const r = await runCli(['sweep', f, '--out', join(dir, 'failing'), '--jobs', '1']);
    expect(r.code).to.equal(1);
    const records = byKey(readResults(join(dir, 'failing')));
    expect(records.size).to.equal(2);
    expect(records.get('{"fleet.os-image.count":4}')!.error).to.be.a('string').and.match(/guest/);
    expect(records.get('{"fleet.os-image.count":4}')!.result).to.equal(null);
    expect(records.get('{"fleet.os-image.count":1}')!.error).to.equal(null);
    expect(r.lines.at(-1)).to.match(/2 points in .*; 1 failed: fleet\.os-image\.count=4/);
  });

  it('writes a report with the table, both heatmaps and the Pareto front', async () => {
    const html = join(dir, 'report.html');
    const r = await runCli(['sweep-report', join(dir, 'local'), '--html', html]);
    expect(r.code, r.stderr).to.equal(0);
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<tr[^>]*><td>/g)).to.have.length(4);
    expect(page).to.include('id="sweep-saving"').and.include('id="sweep-cpu"').and.include('id="sweep-pareto"');
    // 2 × 2 cells in each heatmap, and at least one point on the front.
    expect(page.match(/class="cell"/g)).to.have.length(8);
    expect(page).to.match(/class="point front-point"/);
    expect(page).to.not.match(/<(script|link|img)\b/);
  });

  describe('on a Redis queue', () => {
    let redis: TestRedis | undefined;
    const workers: Proc[] = [];

    before(async function () {
      const why = redisMissing();
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      redis = await startRedis();
    });

    afterEach(async () => {
      for (const w of workers.splice(0)) {
        w.kill('SIGKILL');
        await w.exited;
      }
    });

    after(async () => {
      await redis?.stop();
    });

    const worker = (lockSeconds = 30) => {
      const w = new Proc(['worker', '--queue', redis!.url, '--jobs', '1', '--lock-seconds', String(lockSeconds)]);
      workers.push(w);
      return w;
    };

    it('gives the local run\'s results with two worker processes (memory and page counts; timings differ)', async () => {
      expect(local, 'the local sweep ran').to.have.length(4);
      const [a, b] = [worker(), worker()];
      await Promise.all([a.waitFor(/running points from/), b.waitFor(/running points from/)]);
      const out = join(dir, 'queue');
      const r = await runCli(['sweep', file, '--out', out, '--queue', redis!.url]);
      expect(r.code, r.stderr).to.equal(0);
      const queued = readResults(out);
      expect(keysOf(queued)).to.deep.equal(keysOf(local));
      const pids = new Set(queued.map((q) => q.runner.pid));
      expect([...pids].sort()).to.deep.equal([a.child.pid, b.child.pid].sort());
      const mine = byKey(local);
      for (const q of queued) {
        expect(q.runner.via).to.equal('queue');
        const [x, y] = [deterministicFields(q.result!), deterministicFields(mine.get(q.key)!.result!)];
        const differ = Object.keys(x).filter((k) => JSON.stringify(x[k as keyof typeof x]) !== JSON.stringify(y[k as keyof typeof y]));
        expect(differ, `${q.key}: ${differ.map((k) => `${k}: queue ${JSON.stringify(x[k as keyof typeof x])}, local ${JSON.stringify(y[k as keyof typeof y])}`).join('; ')}`).to.deep.equal([]);
      }
    });

    it('resumes a queued sweep whose own process was killed, collecting what the workers finished, no point twice', async () => {
      const [a, b] = [worker(), worker()];
      await Promise.all([a.waitFor(/running points from/), b.waitFor(/running points from/)]);
      const out = join(dir, 'collector-killed');
      await killAfterFirstPoint([file, '--out', out, '--queue', redis!.url]);
      const before = readResults(out);
      // The workers go on with the queued points meanwhile; the resumed sweep collects them.
      const r = await runCli(['sweep', file, '--out', out, '--queue', redis!.url, '--resume']);
      expect(r.code, r.stderr).to.equal(0);
      const records = readResults(out);
      expect(records.slice(0, before.length)).to.deep.equal(before);
      expect(records).to.have.length(4);
      expect(new Set(records.map((x) => x.key)).size).to.equal(4);
    });

    it('finishes with every point exactly once when a worker is killed mid-point', async () => {
      const [a, b] = [worker(3), worker(3)];
      await Promise.all([a.waitFor(/running points from/), b.waitFor(/running points from/)]);
      const out = join(dir, 'killed');
      const sweep = runCli(['sweep', file, '--out', out, '--queue', redis!.url]);
      await a.waitFor(/^started /m);
      const killedPoint = /^started (.*)$/m.exec(a.out)![1]!;
      a.kill('SIGKILL');
      await a.exited;
      const r = await sweep;
      expect(r.code, r.stderr).to.equal(0);
      const records = readResults(out);
      expect(records).to.have.length(4);
      expect(new Set(records.map((x) => x.key)).size).to.equal(4);
      for (const x of records) expect(x.error, x.key).to.equal(null);
      // The killed worker's point was run again by the other one.
      const again = records.find((x) => Object.entries(x.point).map(([k, v]) => `${k}=${v}`).join(' ') === killedPoint)!;
      expect(again.runner.pid).to.equal(b.child.pid);
      expect(existsSync(join(out, RESULTS_FILE))).to.equal(true);
    });
  });
});
