// stress-command.ts — owns `ksmsim stress`: the concurrency stress run on real workers (with
// --faults, fault injection), and with --deterministic the seeded single-thread simulation of the
// merge protocol (src/stress/sim). Exit status 1 on any violation, counter mismatch or leak.

import { exploreInParallel } from '../stress/sim/parallel-explore.ts';
import { Command, Option } from 'commander';
import { THP_MODES, type ThpMode } from '../mem/thp.ts';
import { writeFileSync } from 'node:fs';
import { MAX_NUMA_NODES } from '../mem/physical-memory.ts';
import type { BrokenProtocol } from '../ksm/ksm-engine.ts';
import { KILL_GUEST, KILL_KSMD, checkThpChoice, describeExploration, explore, replaySchedule, type SimBroken } from '../stress/sim/explore.ts';
import { describeStress, runStress } from '../stress/stress-run.ts';
import { parseCount, parseSize } from './parse-size.ts';
import { parseEngine, type EngineName } from '../engines/engine.ts';

interface StressFlags {
  guests: number;
  seconds: number;
  seed: number;
  json?: string;
  faults?: boolean;
  memory?: number;
  swap?: number;
  numaNodes: number;
  chaos: boolean;
  broken: string;
  deterministic?: boolean;
  steps?: number;
  stepsPerInterleaving: number;
  interleavings?: number;
  jobs?: number;
  replay?: string;
  killGuests?: boolean;
  killKsmd?: boolean;
  coreModel?: boolean;
  engine: EngineName;
  writable?: boolean;
  thp?: ThpMode;
}

const BROKEN = ['none', 'no-recompare', 'free-without-hazard', 'swap-copy-before-unmap', 'old-sysfs-protocol', 'failed-swing-clears-frame-first', 'swap-cache-check-then-set', 'thp-merge-without-split', 'khugepaged-no-settle', 'collapse-keeps-count', 'split-clears-any-tail', 'thp-count-unrepaired'] as const;
/** Broken variants only the simulation has (the real engine has no switch for them). */
const SIM_ONLY_BROKEN: readonly string[] = ['swap-copy-before-unmap', 'old-sysfs-protocol', 'failed-swing-clears-frame-first', 'swap-cache-check-then-set', 'thp-merge-without-split', 'khugepaged-no-settle', 'collapse-keeps-count', 'split-clears-any-tail', 'thp-count-unrepaired'];

function parseSeed(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) > 0xffffffff) throw new Error(`--seed: expected a whole number from 0 to 4294967295, got ${JSON.stringify(v)}`);
  return Number(v);
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0) || n > 86_400) throw new Error(`--seconds: expected a positive number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

export function addStressCommand(program: Command, out: (s: string) => void, setCode: (c: number) => void): void {
  program
    .command('stress')
    .description('hammer the merge and copy-on-write paths and check every byte, counter and frame')
    .option('--guests <n>', 'stress guests', (v) => parseCount(v, '--guests', 1, 256), 4)
    .option('--seconds <s>', 'how long the guests run', parseSeconds, 5)
    .option('--seed <n>', 'seed of every random choice', parseSeed, 1)
    .option('--json <file>', 'write the report as JSON to FILE (stdout stays quiet)')
    .option('--faults', 'inject faults: kill guests mid-write/COW, kill and restart ksmd, run short of memory')
    .option('--memory <size>', 'host memory (default: ample, or tight with --faults)', (v) => parseSize(v, '--memory'))
    .option('--swap <size>', 'swap space: memory turns tight, guests also MADV_PAGEOUT/COLD, ksmd reclaim swaps KSM pages', (v) => parseSize(v, '--swap'))
    .option('--numa-nodes <n>', 'NUMA nodes', (v) => parseCount(v, '--numa-nodes', 1, MAX_NUMA_NODES), 2)
    .option('--no-chaos', 'do not flip knobs while the guests run')
    .addOption(new Option('--thp <mode>', 'transparent_hugepage/enabled of the host; always gives the guests 4 MiB regions of huge pages for ksmd to split (docs/thp.md); with --deterministic, always adds huge pages to the simulation (never: none; madvise is refused there)').choices([...THP_MODES]))
    .addOption(new Option('--broken <variant>', 'TEST ONLY: a deliberately broken protocol, to see the checkers fail').choices([...BROKEN]).default('none'))
    .option('--deterministic', 'run the seeded single-thread simulation of the protocol instead')
    .option('--steps <n>', 'deterministic: run this many steps in all, over as many interleavings as fit (default 200000 unless --interleavings)', (v) => parseCount(v, '--steps', 1, Number.MAX_SAFE_INTEGER))
    .option('--jobs <n>', 'deterministic: explore on this many threads (a piscina pool); the seeds and results are the same', (v) => parseCount(v, '--jobs', 1, 256))
    .option('--interleavings <n>', 'deterministic: explore this many interleavings (seeds seed, seed+1, …)', (v) => parseCount(v, '--interleavings', 1, 1_000_000_000))
    .option('--steps-per-interleaving <n>', 'deterministic: scheduler choices per interleaving before the fixed-order finish', (v) => parseCount(v, '--steps-per-interleaving', 1, 1_000_000), 400)
    .option('--kill-guests', 'deterministic: also kill guest 0 at a random step of some interleavings (the host then reclaims it)')
    .option('--kill-ksmd', 'deterministic: also kill ksmd at a random step of some interleavings (repair with guests paused, then a new ksmd)')
    .option('--core-model', 'deterministic: the model as before issue 11 (no swap, no read-only pages, no sysfs writers), for old replays')
    .option('--engine <name>', 'merge engine the stress run and the simulation run under: ksm, dksm (read-only regions) or uksm (docs/engines.md)', (v) => parseEngine(v), 'ksm')
    .option('--writable', 'dksm: advise writable regions too, so DKSM\'s writable-region hazard shows (named, not a violation)')
    .option('--replay <schedule>', 'deterministic: replay one schedule printed by a failing run (comma-separated actor choices)')
    .action(async (flags: StressFlags) => {
      if (flags.writable && flags.engine !== 'dksm') throw new Error('--writable: only for --engine dksm (the other engines write-protect every page they merge)');
      if (flags.engine !== 'ksm' && flags.broken !== 'none' && !(flags.deterministic && flags.broken === 'no-recompare')) {
        throw new Error(`--broken ${flags.broken}: a broken ksmd protocol, only for --engine ksm (the simulation also has --broken no-recompare for the other engines)`);
      }
      if (flags.deterministic) {
        setCode(await deterministic(flags, out));
        return;
      }
      if (SIM_ONLY_BROKEN.includes(flags.broken)) throw new Error(`--broken ${flags.broken}: only the deterministic simulation has this variant (add --deterministic)`);
      const r = await runStress({
        guests: flags.guests, seconds: flags.seconds, seed: flags.seed, faults: flags.faults ?? false,
        memoryBytes: flags.memory, swapBytes: flags.swap, numaNodes: flags.numaNodes, chaos: flags.chaos,
        ...(flags.thp ? { thp: flags.thp } : {}),
        brokenProtocol: flags.broken as BrokenProtocol, engine: flags.engine, writable: flags.writable,
        log: flags.json ? () => {} : out,
        progress: !flags.json && process.stderr.isTTY ? (line) => process.stderr.write(`\r\x1b[2K${line}`) : undefined,
      });
      if (!flags.json && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
      if (flags.json) writeFileSync(flags.json, JSON.stringify(r, null, 2) + '\n');
      else for (const line of describeStress(r)) out(line);
      setCode(r.ok ? 0 : 1);
    });
}

async function deterministic(flags: StressFlags, out: (s: string) => void): Promise<number> {
  const broken = flags.broken as SimBroken;
  const engine = { engine: flags.engine, writable: flags.writable ?? false };
  if (flags.engine !== 'ksm' && flags.killKsmd) throw new Error(`--kill-ksmd: --engine ${flags.engine} has no ksmd`);
  if (flags.thp === 'madvise') throw new Error('--thp madvise: the simulation\'s guests advise no MADV_HUGEPAGE; give --thp always (huge pages) or never');
  const thp = flags.thp === 'always';
  checkThpChoice(thp, engine, flags.coreModel ?? false, broken);
  if (flags.replay !== undefined) {
    const r = replaySchedule(flags.seed, flags.replay, broken, (flags.killGuests ? KILL_GUEST : 0) | (flags.killKsmd ? KILL_KSMD : 0), flags.coreModel ?? false, engine, thp);
    for (const line of r.trace ?? []) out(line);
    out(r.violation ? `VIOLATION: ${r.violation}` : 'no violation');
    return r.violation ? 1 : 0;
  }
  const steps = flags.steps ?? (flags.interleavings === undefined ? 200_000 : undefined);
  const progress = !flags.json && process.stderr.isTTY
    ? (k: number) => process.stderr.write(`\r\x1b[2K[ksmsim] ${k} interleavings explored`)
    : undefined;
  const common = { seed: flags.seed, stepsPerInterleaving: flags.stepsPerInterleaving, broken, killGuests: flags.killGuests ?? false, killKsmd: flags.killKsmd ?? false, core: flags.coreModel ?? false, engine, thp, progress };
  if ((flags.jobs ?? 1) > 1 && flags.interleavings === undefined) throw new Error('--jobs: give --interleavings (a step budget cannot be split between threads)');
  const r = (flags.jobs ?? 1) > 1
    ? await exploreInParallel({ ...common, interleavings: flags.interleavings!, jobs: flags.jobs })
    : explore({ ...common, steps, interleavings: flags.interleavings });
  if (progress) process.stderr.write('\r\x1b[2K');
  if (flags.json) writeFileSync(flags.json, JSON.stringify(r, null, 2) + '\n');
  else for (const line of describeExploration(r)) out(line);
  return r.violations === 0 ? 0 : 1;
}
