// stress-command.test.ts — `ksmsim stress` through the command line: the JSON contract, exit status,
// and the deterministic mode's seed / replay round trip.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';

async function cli(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(args, (s) => lines.push(s));
  return { code, lines };
}

describe('ksmsim stress (command line)', function () {
  this.timeout(120_000);

  it('writes the JSON report with the fields of its contract (docs/stress.md) and exits 0 when nothing broke', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-stress-')), 'r.json');
    const { code } = await cli(['stress', '--guests', '1', '--seconds', '1', '--seed', '3', '--json', file]);
    const r = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const k of ['ops', 'reads', 'writes', 'merges', 'cows', 'unmerges', 'knob_changes', 'violations', 'counter_mismatches', 'leaked_frames', 'seed', 'seconds']) {
      expect(r, k).to.have.property(k);
    }
    expect(r.seed).to.equal(3);
    expect(r.violations).to.deep.equal([]);
    expect(code).to.equal(0);
  });

  it('--deterministic with a broken protocol exits 1 and prints a replay that reproduces the violation', async () => {
    const bad = await cli(['stress', '--deterministic', '--seed', '1', '--steps', '500000', '--broken', 'free-without-hazard']);
    expect(bad.code).to.equal(1);
    const cmd = bad.lines.find((l) => l.includes('replay with: '))!;
    const m = /--seed (\d+) --replay ([\d,]+)/.exec(cmd)!;
    const again = await cli(['stress', '--deterministic', '--seed', m[1]!, '--replay', m[2]!, '--broken', 'free-without-hazard']);
    expect(again.code).to.equal(1);
    expect(again.lines.at(-1)).to.match(/^VIOLATION: /);
    const fixed = await cli(['stress', '--deterministic', '--seed', m[1]!, '--replay', m[2]!]);
    expect(fixed.code, fixed.lines.slice(-3).join('\n')).to.equal(0);
  });

  it('--deterministic --json counts the steps by kind, swap, sysfs and run=2 among them, and they add up to the total', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ksmsim-sim-')), 'r.json');
    const { code } = await cli(['stress', '--deterministic', '--seed', '1', '--interleavings', '3000', '--kill-guests', '--json', file]);
    const r = JSON.parse(readFileSync(file, 'utf8')) as { steps_total: number; violations: number; steps_by_kind: Record<string, number> };
    expect(code).to.equal(0);
    expect(r.violations).to.equal(0);
    for (const k of ['swap_out', 'swap_in', 'sysfs_request', 'sysfs_serve', 'munmap_dontneed', 'run2', 'kill', 'host_reclaim']) {
      expect(r.steps_by_kind[k], k).to.be.greaterThan(0);
    }
    expect(Object.values(r.steps_by_kind).reduce((a, b) => a + b, 0)).to.equal(r.steps_total);
  });

  it('--broken swap-copy-before-unmap is refused outside --deterministic (only the simulation has it)', async () => {
    await expectReject(['stress', '--guests', '1', '--seconds', '1', '--broken', 'swap-copy-before-unmap'], /--broken swap-copy-before-unmap: only the deterministic simulation has this variant/);
  });

  it('--deterministic --steps N runs N steps over as many interleavings as fit, with no violation', async () => {
    const { code, lines } = await cli(['stress', '--deterministic', '--seed', '9', '--steps', '30000']);
    expect(code).to.equal(0);
    expect(lines[0]).to.match(/interleavings from seed 9/);
  });

  it('--deterministic --engine dksm --writable names the hazard, exits 0, and a printed replay round-trips with its engine', async () => {
    const r = await cli(['stress', '--deterministic', '--engine', 'dksm', '--writable', '--seed', '1', '--interleavings', '2000']);
    expect(r.code, r.lines.join('\n')).to.equal(0);
    expect(r.lines[0]).to.match(/^deterministic simulation under dksm \(writable regions\)/);
    expect(r.lines.find((l) => l.includes('DKSM writable-region hazards'))).to.match(/hazards [1-9]\d* \(named, not violations\)/);
    const bad = await cli(['stress', '--deterministic', '--engine', 'uksm', '--seed', '1', '--interleavings', '2000', '--broken', 'no-recompare']);
    expect(bad.code).to.equal(1);
    const m = /--seed (\d+) --replay ([\d,]+) --broken no-recompare --engine uksm/.exec(bad.lines.find((l) => l.includes('replay with: '))!)!;
    const again = await cli(['stress', '--deterministic', '--seed', m[1]!, '--replay', m[2]!, '--broken', 'no-recompare', '--engine', 'uksm']);
    expect(again.lines.at(-1)).to.match(/^VIOLATION: /);
  });

  it('--deterministic --thp always simulates huge pages, exits 0, and a huge-page broken variant\'s printed replay round-trips', async () => {
    const r = await cli(['stress', '--deterministic', '--thp', 'always', '--seed', '1', '--interleavings', '300']);
    expect(r.code, r.lines.join('\n')).to.equal(0);
    expect(r.lines[0]).to.match(/^deterministic simulation with transparent huge pages: 300 interleavings/);
    expect(r.lines.find((l) => l.startsWith('  THP: '))).to.match(/huge faults [1-9]/);
    const bad = await cli(['stress', '--deterministic', '--thp', 'always', '--seed', '1', '--interleavings', '300', '--broken', 'thp-merge-without-split']);
    expect(bad.code).to.equal(1);
    const m = /--seed (\d+) --replay ("?[\d,]*"?) --broken thp-merge-without-split --thp always/.exec(bad.lines.find((l) => l.includes('replay with: '))!)!;
    const again = await cli(['stress', '--deterministic', '--seed', m[1]!, '--replay', m[2]!.replaceAll('"', ''), '--broken', 'thp-merge-without-split', '--thp', 'always']);
    expect(again.lines.at(-1)).to.match(/^VIOLATION: .*invariant 6/);
  });

  it('refuses --thp madvise in the simulation, and a huge-page broken variant without --thp always', async () => {
    await expectReject(['stress', '--deterministic', '--thp', 'madvise'], /--thp madvise: the simulation's guests advise no MADV_HUGEPAGE/);
    await expectReject(['stress', '--deterministic', '--broken', 'thp-merge-without-split'], /--broken thp-merge-without-split: add --thp always/);
    await expectReject(['stress', '--guests', '1', '--broken', 'khugepaged-no-settle'], /only the deterministic simulation has this variant/);
  });

  it('refuses --writable without --engine dksm, and ksmd\'s broken protocols under another engine', async () => {
    await expectReject(['stress', '--writable'], /--writable: only for --engine dksm/);
    await expectReject(['stress', '--engine', 'uksm', '--broken', 'free-without-hazard'], /only for --engine ksm/);
  });
});

async function expectReject(args: string[], re: RegExp): Promise<void> {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((t: string) => written.push(String(t)) > 0) as typeof process.stderr.write;
  let code: number;
  try {
    code = (await cli(args)).code;
  } finally {
    process.stderr.write = write;
  }
  expect(code).to.equal(2);
  expect(written.join('')).to.match(re);
}
