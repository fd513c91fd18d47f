// main.ts — owns the ksmsim command line: subcommands, flag parsing and errors that name the flag.

import { Command, CommanderError, Option } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_MEMORY_BYTES } from '../host/host.ts';
import { MAX_NUMA_NODES } from '../mem/physical-memory.ts';
import { addDensityCommand } from './density-command.ts';
import { collectKnob } from './knob-flag.ts';
import { describeSession, runSession, type GuestPlan } from './host-session.ts';
import { addBenchCommand } from './bench-command.ts';
import { addFidelityCommand } from './fidelity-command.ts';
import { addStressCommand } from './stress-command.ts';
import { addHostCommand } from './host-command.ts';
import { addControlCommands } from './control-commands.ts';
import { addSweepCommands } from './sweep-command.ts';
import { parseCount, parseSize } from './parse-size.ts';
import { runLinuxCommand } from './linux-run.ts';
import { projectPath } from '../platform/project-root.ts';
import type { KernelCompat } from '../ksm/ksm-state.ts';
import { collectService, type ServiceSpec } from '../tuning/host-services.ts';
import { DEFAULT_ENGINE, ENGINE_NAMES, parseEngine, type EngineName } from '../engines/engine.ts';

const GUESTS_DIR = pathToFileURL(projectPath('guests') + '/');

interface HostFlags {
  guests: number;
  memory: number;
  numaNodes: number;
  swap?: number;
  root?: boolean;
  ksm: Array<[string, string]>;
  json?: string;
  backend?: 'emulator' | 'linux';
  kernelCompat?: KernelCompat;
  service: ServiceSpec[];
  engine: EngineName;
}

function addHostFlags(cmd: Command): Command {
  return cmd
    .option('--guests <n>', 'guests to launch of each program', (v) => parseCount(v, '--guests', 1, 4096), 1)
    .option('--memory <size>', 'physical memory of the host', (v) => parseSize(v, '--memory'), DEFAULT_MEMORY_BYTES)
    .option('--numa-nodes <n>', 'NUMA nodes the memory is split into', (v) => parseCount(v, '--numa-nodes', 1, MAX_NUMA_NODES), 1)
    .option('--swap <size>', 'swap space: guests under memory pressure page out their own private pages', (v) => parseSize(v, '--swap'))
    .option('--root', 'launch guests as root (they may write sysfs knobs)')
    .addOption(new Option('--ksm <key=value>', 'set a /sys/kernel/mm/ksm knob before the guests start (repeatable)').argParser(collectKnob).default([]))
    .option('--json <file>', 'write a machine-readable report to FILE')
    .addOption(new Option('--kernel-compat <version>', 'emulate an older kernel: 2.6.32 has max_kernel_pages (default 2000) limiting KSM pages').choices(['2.6.32']))
    .addOption(new Option('--service <name[=file]>', 'run a RHEL service on the host: ksm[=SYSCONFIG] or ksmtuned[=CONF] (repeatable; see docs/tuning.md)').argParser(collectService).default([]))
    .option('--engine <name>', `merge engine: ${ENGINE_NAMES.join(', ')} (docs/engines.md)`, (v) => parseEngine(v), DEFAULT_ENGINE);
}

async function runCommand(programs: string[], flags: HostFlags, guestArgs: string[], out: (s: string) => void): Promise<number> {
  const plans: GuestPlan[] = programs.map((p) => {
    const path = resolve(p);
    if (!existsSync(path)) throw new Error(`program not found: ${p}`);
    return { program: path, count: flags.guests, args: guestArgs, root: flags.root ?? false };
  });
  if (flags.backend === 'linux') {
    if (flags.numaNodes !== 1 || flags.memory !== DEFAULT_MEMORY_BYTES) throw new Error('--memory and --numa-nodes describe the emulated host: drop them with --backend linux');
    if (flags.kernelCompat || flags.service.length) throw new Error('--kernel-compat and --service describe the emulated host: drop them with --backend linux');
    if (flags.engine !== DEFAULT_ENGINE) throw new Error(`--engine ${flags.engine}: the linux backend runs this kernel's own KSM; drop --engine`);
    return runLinuxCommand(plans, flags, out);
  }
  const result = await runSession({ memoryBytes: flags.memory, numaNodes: flags.numaNodes, knobs: flags.ksm, swapBytes: flags.swap, quiet: !!flags.json, log: out, kernelCompat: flags.kernelCompat, services: flags.service, engine: flags.engine }, plans);
  if (flags.json) writeFileSync(flags.json, JSON.stringify(result, null, 2) + '\n');
  else for (const line of describeSession(result)) out(line);
  const failed = result.guests.filter((g) => g.status !== 'exited');
  for (const g of failed) process.stderr.write(`ksmsim: guest ${g.name} (pid ${g.pid}) ${g.status}: ${g.error ?? ''}\n`);
  return failed.length ? 1 : 0;
}

async function demoCommand(flags: HostFlags, out: (s: string) => void): Promise<number> {
  const guest = (name: string) => new URL(name, GUESTS_DIR).pathname;
  const plans: GuestPlan[] = [
    { program: guest('seed-demo.ts'), count: 1, args: [], root: false },
    { program: guest('shared-image.ts'), count: 6, args: ['512', '64', '7', '400'], root: false },
  ];
  const knobs: Array<[string, string]> = [['run', '1'], ['sleep_millisecs', '0'], ['pages_to_scan', '2000'], ...flags.ksm];
  out(`ksmsim demo: the seed demo and 6 guests sharing a 2 MiB image on a ${flags.memory / 2 ** 20} MiB host`);
  const result = await runSession({ memoryBytes: flags.memory, numaNodes: flags.numaNodes, knobs, quiet: !!flags.json, log: out }, plans);
  if (flags.json) writeFileSync(flags.json, JSON.stringify(result, null, 2) + '\n');
  for (const line of describeSession(result)) out(line);
  return result.guests.every((g) => g.status === 'exited') ? 0 : 1;
}

export async function main(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const dash = argv.indexOf('--');
  const guestArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  let code = 0;
  const program = new Command('ksmsim')
    .description('An emulator of Linux Kernel Samepage Merging in a small multi-process hypervisor')
    .exitOverride()
    .showHelpAfterError(false);
  addHostFlags(program.command('run').description('run guest programs on an emulated host (or the real kernel)').argument('<program...>', 'guest programs (.ts or .js)'))
    .addOption(new Option('--backend <name>', 'emulator, or linux: real processes on this kernel\'s KSM (root; knobs restored afterwards)').choices(['emulator', 'linux']).default('emulator'))
    .action(async (programs: string[], flags: HostFlags) => {
      code = await runCommand(programs, flags, guestArgs, out);
    });
  addHostFlags(program.command('demo', { isDefault: false }).description('a short demonstration fleet (what npm start runs)'))
    .action(async (flags: HostFlags) => {
      code = await demoCommand({ ...flags, memory: flags.memory === DEFAULT_MEMORY_BYTES ? 256 * 2 ** 20 : flags.memory }, out);
    });
  addDensityCommand(program, out, (c) => (code = c));
  addFidelityCommand(program, out, (c) => (code = c));
  addBenchCommand(program, out, (c) => (code = c));
  addStressCommand(program, out, (c) => (code = c));
  addHostCommand(program, out, (c) => (code = c));
  addControlCommands(program, out, (c) => (code = c), guestArgs);
  addSweepCommands(program, out, (c) => (code = c));
  try {
    await program.parseAsync(own, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`ksmsim: ${(e as Error).message}\n`);
    return 2;
  }
}
