// run-command.test.ts — `ksmsim run` as docs/architecture.md#command-line specifies it: flags, sizes, knob errors, exit status, JSON.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSize } from '../../src/cli/parse-size.ts';
import { runCli } from '../helpers/run-cli.ts';

const HELLO = new URL('../../guests/hello.ts', import.meta.url).pathname;
const SEED_DEMO = new URL('../../guests/seed-demo.ts', import.meta.url).pathname;

const run = runCli;

describe('ksmsim run', () => {
  it('accepts sizes as bytes or with KiB, MiB and GiB suffixes', () => {
    expect(parseSize('4096', '--memory')).to.equal(4096);
    expect(parseSize('64KiB', '--memory')).to.equal(65536);
    expect(parseSize('256MiB', '--memory')).to.equal(256 * 2 ** 20);
    expect(parseSize('2GiB', '--memory')).to.equal(2 * 2 ** 30);
  });

  it('rejects a bad size with an error naming the flag and the value', async () => {
    const r = await run(['run', HELLO, '--memory', '12XB']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('--memory').and.contain('12XB');
  });

  it('rejects an unknown flag, naming it', async () => {
    const r = await run(['run', HELLO, '--bogus']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('--bogus');
  });

  it('reports a bad knob value with the kernel errno', async () => {
    const r = await run(['run', HELLO, '--memory', '16MiB', '--ksm', 'run=3']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('run=3').and.contain('EINVAL');
  });

  it('runs N guests of a program and exits 0 when all succeed', async () => {
    const r = await run(['run', HELLO, '--guests', '3', '--memory', '16MiB', '--', 'a', 'b']);
    expect(r.code).to.equal(0);
    expect(r.lines.filter((l) => l.includes('hello from guest') && l.includes('(a b)'))).to.have.length(3);
  });

  it('exits non-zero and names the guest that failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-'));
    const bad = join(dir, 'bad.ts');
    writeFileSync(bad, 'export default function main() { return 3; }\n');
    const r = await run(['run', bad, '--memory', '16MiB']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('guest bad').and.contain('exit status 3');
  });

  it('runs the seed demo: pages_sharing is non-zero after merging and 0 after the writes', async () => {
    const r = await run(['run', SEED_DEMO, '--memory', '32MiB', '--ksm', 'run=1', '--ksm', 'sleep_millisecs=0']);
    expect(r.code).to.equal(0);
    const merged = r.lines.find((l) => l.includes('after merging'))!;
    expect(Number(/: (\d+)$/.exec(merged)![1])).to.be.greaterThan(0);
    expect(r.lines.some((l) => l.endsWith('after modifying them: 0'))).to.equal(true);
  });

  it('writes a JSON report with memory per node and per-guest status', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-')), 'r.json');
    const r = await run(['run', HELLO, '--memory', '16MiB', '--numa-nodes', '2', '--guests', '2', '--json', file]);
    expect(r.code).to.equal(0);
    const report = JSON.parse(readFileSync(file, 'utf8'));
    expect(report.host).to.deep.equal({ memoryBytes: 16 * 2 ** 20, numaNodes: 2, engine: 'ksm' });
    expect(report.final.nodes).to.have.length(2);
    expect(report.guests.map((g: { status: string }) => g.status)).to.deep.equal(['exited', 'exited']);
    expect(report.guests[0].memoryAtExit).to.have.property('privatePages');
  });
});

describe('ksmsim run --swap', () => {
  it('lets a guest use more memory than the host has, paging to swap, with its data intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksmsim-'));
    const prog = join(dir, 'big.ts');
    writeFileSync(prog, `export default function main(sys) {
  const pages = 1024; const a = sys.mmap(pages * 4096); const b = new Uint8Array(4096);
  for (let p = 0; p < pages; p++) { b.fill(p & 255); b[0] = p >> 8; sys.write(a + p * 4096, b); }
  for (let p = 0; p < pages; p++) { const r = sys.read(a + p * 4096, 4096); if (r[0] !== (p >> 8) || r[4095] !== (p & 255)) return 1; }
  return 0;
}\n`);
    const r = await run(['run', prog, '--memory', '2MiB', '--swap', '4MiB']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.lines.some((l) => /swap: [1-9]\d* pages swapped out/.test(l))).to.equal(true);
    const oom = await run(['run', prog, '--memory', '2MiB']);
    expect(oom.code).to.equal(1);
    expect(oom.stderr).to.contain('oom-killed');
  });
});
