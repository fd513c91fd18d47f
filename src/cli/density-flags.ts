// density-flags.ts — owns the flags of `ksmsim density`: their definitions, parsing a density command
// line into them, and the checks across flags that turn them into a density plan (fleet, schedule,
// options). `ksmsim sweep` parses every point through the same functions, so it rejects exactly what
// `ksmsim density` rejects.

import { Command, CommanderError, Option } from 'commander';
import { CAPACITY_SECONDS_DEFAULT } from '../density/capacity-run.ts';
import type { DensityRunOptions } from '../density/density-runner.ts';
import type { FleetEntry } from '../density/density-types.ts';
import { parseFleetSpec } from '../density/fleet-spec.ts';
import { readFleetPlan, type ScheduleEvent } from '../density/fleet-schedule.ts';
import { parseTuner, type TunerSpec } from '../density/tuner-run.ts';
import type { KernelCompat } from '../ksm/ksm-state.ts';
import { collectService, type ServiceSpec } from '../tuning/host-services.ts';
import { MAX_NUMA_NODES } from '../mem/physical-memory.ts';
import { DEFAULT_ENGINE, ENGINE_NAMES, parseEngineList, type EngineName } from '../engines/engine.ts';
import { THP_CHOICES, type ThpChoice } from '../density/thp-comparison.ts';
import { collectKnob } from './knob-flag.ts';
import { parseCount, parseSize } from './parse-size.ts';

/**
 * The fleet `ksmsim density` (and so `npm start`) runs without --fleet: 36 guests of 16–24 MiB in the
 * proportions of a small virtualisation host — mostly guests booted from one OS image, some web and
 * idle guests, a few databases — 736 MiB without KSM on the default 1 GiB host. Sized so both phases
 * (KSM off, KSM on until converged) finish in about a minute on a 2-core machine.
 */
export const DEFAULT_FLEET = 'os-image:16:size=24MiB,web:8:size=16MiB,idle:8:size=16MiB,db:4:size=24MiB';
/** Default host memory: room for DEFAULT_FLEET without KSM. */
export const DEFAULT_DENSITY_MEMORY = 2 ** 30;

export interface DensityFlags {
  fleet?: string;
  fleetFile?: string;
  memory: number;
  numaNodes: number;
  ksm: Array<[string, string]>;
  capacity?: boolean;
  swap?: number;
  mergeAcrossNodes: '0' | '1' | 'both';
  maxGuests?: number;
  maxSeconds: number;
  capacitySeconds: number;
  json?: string;
  csv?: string;
  html?: string;
  quiet?: boolean;
  backend: 'emulator' | 'linux' | 'both';
  lockWait: number;
  kernelCompat?: KernelCompat;
  service: ServiceSpec[];
  tuner: TunerSpec[];
  engine: EngineName[];
  thp?: ThpChoice;
}

function collectTuner(value: string, previous: TunerSpec[] = []): TunerSpec[] {
  const next = [...previous];
  for (const t of parseTuner(value)) {
    // ksmtuned may be compared with itself under different confs; anything else once.
    if (next.some((x) => x.name === t.name && x.conf === t.conf)) throw new Error(`--tuner ${t.name}${t.conf ? `=${t.conf}` : ''} given twice`);
    next.push(t);
  }
  return next;
}


/** Define every flag of `ksmsim density` on `cmd`. */
export function addDensityFlags(cmd: Command): Command {
  return cmd
    .option('--fleet <spec>', 'workloads and counts, e.g. "idle:20,web:10,db:2" (name:count[:key=value;...])')
    .option('--fleet-file <file>', 'a JSON or YAML fleet file: [{workload, count, args}]')
    .option('--memory <size>', 'physical memory of the host', (v) => parseSize(v, '--memory'), DEFAULT_DENSITY_MEMORY)
    .option('--numa-nodes <n>', 'NUMA nodes', (v) => parseCount(v, '--numa-nodes', 1, MAX_NUMA_NODES), 1)
    .addOption(new Option('--ksm <key=value>', 'a /sys/kernel/mm/ksm knob for the KSM-on runs (repeatable)').argParser(collectKnob).default([]))
    .addOption(new Option('--backend <backend>', 'which KSM runs the fleet: the emulator, this machine\'s kernel (linux: real processes, root, under the knob lock), or both side by side')
      .choices(['emulator', 'linux', 'both']).default('emulator'))
    .option('--lock-wait <s>', 'linux/both: how long to wait for another linux-backend run to release the real KSM knobs', (v) => parseCount(v, '--lock-wait', 0, 86400), 60)
    .option('--capacity', 'also launch guests until memory is full, with and without KSM (density gain); emulator only: refused with --backend linux or both, as it would fill the real machine\'s memory')
    .addOption(new Option('--merge-across-nodes <mode>', 'merge_across_nodes for the KSM run, or both to compare').choices(['0', '1', 'both']).default('1'))
    .option('--max-guests <n>', 'capacity mode: stop after this many guests (default: derived from --memory and the fleet, see docs/density.md)', (v) => parseCount(v, '--max-guests', 1, 4096))
    .option('--swap <size>', 'capacity mode: run the capacity pair again on hosts with this much swap (how many more guests fit, swap-ins per guest)', (v) => parseSize(v, '--swap'))
    .option('--capacity-seconds <s>', 'capacity mode: longest one capacity run may take', (v) => parseCount(v, '--capacity-seconds', 1, 86400), CAPACITY_SECONDS_DEFAULT)
    .option('--max-seconds <s>', 'longest wait for the saving to converge', (v) => parseCount(v, '--max-seconds', 1, 86400), 60)
    .option('--json <file>', 'write the full result as JSON (- for stdout; the headline then goes to stderr)')
    .option('--csv <dir>', 'write the time series and summaries as CSV files')
    .option('--html <file>', 'write a self-contained HTML report with charts')
    .option('--quiet', 'print nothing but errors (no headline, no progress line)')
    .addHelpText('after', `
--backend linux runs the same fleet (workloads, arguments, seeds) as real processes on this machine's
KSM: it needs root, a kernel with KSM and the native addon, and a fleet that fits in the available
memory. Exit status when the kernel run is refused: 2 capacity mode or --merge-across-nodes both
(emulator only), 3 backend unavailable, 4 knobs locked by another run, 5 fleet larger than available
memory (1 when a guest fails during the kernel run). With --backend both the emulator half runs anyway
and the JSON's "linux" is null. --memory and --numa-nodes describe the emulated host; the kernel run
uses this machine as it is. See docs/density-vs-kernel.md.`)
    .addOption(new Option('--kernel-compat <version>', 'emulate an older kernel: 2.6.32 has max_kernel_pages (default 2000) limiting KSM pages').choices(['2.6.32']))
    .addOption(new Option('--service <name[=file]>', 'KSM-on runs start these RHEL services instead of the density knobs: ksm[=SYSCONFIG], ksmtuned[=CONF] (repeatable)').argParser(collectService).default([]))
    .addOption(new Option('--tuner <name>', 'compare tuners on the same fleet (and its schedule): fixed, ksmtuned[=CONF], advisor, or all (repeatable); --max-seconds is then how long each runs after the last schedule event').argParser(collectTuner).default([]))
    .addOption(new Option('--thp <mode>', 'transparent_hugepage/enabled of the emulated hosts, or both to compare always with never (THP\'s cost against KSM\'s saving)').choices([...THP_CHOICES]))
    .option('--engine <list>', `merge engine, or a comma-separated list to compare (${ENGINE_NAMES.join(', ')}; docs/engines.md)`, (v) => parseEngineList(v), [DEFAULT_ENGINE]);
}

/**
 * Parse a density command line (the flags after `ksmsim density`) with the command's own definitions;
 * throws an Error with the message `ksmsim density` would print.
 */
export function parseDensityArgs(argv: readonly string[]): DensityFlags {
  const cmd = addDensityFlags(new Command('density'))
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .allowExcessArguments(false);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new Error(e.message.replace(/^error: /, ''));
    throw e;
  }
  return cmd.opts<DensityFlags>();
}

export interface DensityPlan {
  readonly fleet: FleetEntry[];
  readonly schedule: ScheduleEvent[];
  readonly options: DensityRunOptions;
}

/** The checks across flags, and the fleet read: throws an Error naming the flags in conflict. */
export function planDensity(flags: DensityFlags): DensityPlan {
  if (flags.fleet && flags.fleetFile) throw new Error('--fleet and --fleet-file: give one of them');
  if (flags.mergeAcrossNodes === 'both' && flags.numaNodes < 2) throw new Error('--merge-across-nodes both needs --numa-nodes 2 or more');
  let fleet: FleetEntry[];
  let schedule: ScheduleEvent[] = [];
  if (flags.fleetFile) ({ fleet, schedule } = readFleetPlan(flags.fleetFile));
  else fleet = parseFleetSpec(flags.fleet ?? DEFAULT_FLEET);
  if (flags.swap !== undefined && !flags.capacity) throw new Error(`--swap ${flags.swap}: swap is measured in capacity mode; add --capacity`);
  if (schedule.length && !flags.tuner.length) throw new Error(`--fleet-file ${flags.fleetFile}: its schedule (at: entries) runs only with --tuner`);
  if (flags.tuner.length && (flags.capacity || flags.csv || flags.mergeAcrossNodes === 'both' || flags.service.length)) {
    throw new Error('--tuner: drop --capacity, --csv, --merge-across-nodes both and --service (each tuner brings its own services)');
  }
  const options: DensityRunOptions = {
    memoryBytes: flags.memory, numaNodes: flags.numaNodes, knobs: flags.ksm, mergeAcrossNodes: flags.mergeAcrossNodes,
    capacity: !!flags.capacity, maxGuests: flags.maxGuests, capacitySeconds: flags.capacitySeconds, maxSeconds: flags.maxSeconds, sampleMs: 100,
    kernelCompat: flags.kernelCompat, services: flags.service, swapBytes: flags.swap, engine: flags.engine[0],
    ...(flags.thp && flags.thp !== 'both' ? { thp: flags.thp } : {}),
  };
  return { fleet, schedule, options };
}
