// linux-density.ts — owns `ksmsim density --backend linux`: the same fleet (same workloads,
// arguments and seeds, so the same page contents) as real processes on this machine's KSM, KSM off
// (the same fleet with mergeable=0) then on, under one knob guard (run lock, snapshot, the kernel's
// defaults to start from, run=2 and the snapshot restored at the end), measured from the kernel:
// the guests' own VMAs in /proc/PID/smaps, the KSM counters, /proc/PID/ksm_stat and ksmd's CPU.

import { release, totalmem } from 'node:os';
import { readdirSync } from 'node:fs';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { withKnobGuard } from '../backend/linux/knob-guard.ts';
import {
  addVmaBytes, emptyVmaBytes, findKsmdPid, readGuestVmaBytes, readKsmStatOf, readMemAvailable, readProcessRss, readThreadCpu,
  type ThreadCpu, type VmaBytes,
} from '../backend/linux/proc-memory.ts';
import { readRealFile, selectedChoice, writeRealFile } from '../backend/linux/real-files.ts';
import { startLinuxGuest, type LinuxGuestProcess, type LinuxGuestResult } from '../backend/linux/run-linux-guest.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { KSM_DIR, ksmCounterFileNames } from '../ksm/sysfs.ts';
import { compileModule } from '../platform/module-compiler.ts';
import { CONVERGE_MIN_SCANS, convergedNow, convergenceOf, savedPages, convergenceFields } from './convergence.ts';
import { DENSITY_DEFAULT_KNOBS, READY, expand, type DensityOptions, type MeasuredPhase } from './density-host.ts';
import type { DensityResult, DensitySample, FleetEntry, GuestProfit, KernelPhaseMemory } from './density-types.ts';
import { fleetTooLarge } from './fleet-footprint.ts';

/** Why the kernel half did not run; the CLI maps `kind` to an exit status (see EXIT_STATUS). */
export class LinuxDensityRefused extends Error {
  constructor(readonly kind: 'unavailable' | 'busy' | 'too-large' | 'capacity', message: string) {
    super(message);
    this.name = 'LinuxDensityRefused';
  }
}

/** Exit statuses of `ksmsim density --backend linux|both` when the kernel run is refused. */
export const LINUX_REFUSED_EXIT: Readonly<Record<LinuxDensityRefused['kind'], number>> = {
  unavailable: 3, busy: 4, 'too-large': 5, capacity: 2,
};

export interface LinuxDensityOptions {
  /** How long to wait for another linux-backend run to release the knobs (default 0: refuse at once). */
  readonly lockWaitMs?: number;
  /** The run lock's file (tests); default run-lock.ts's. */
  readonly lockPath?: string;
}

const READY_TIMEOUT_MS = 120_000;

/** Refuse what cannot run, before anything starts: no linux backend, capacity mode, a fleet too large. */
export function checkLinuxDensity(o: DensityOptions, fleet: readonly FleetEntry[]): void {
  if (o.capacity) throw new LinuxDensityRefused('capacity', 'capacity mode runs on the emulator only: on the real kernel it would fill this machine\'s memory until the OOM killer stops it');
  if (o.mergeAcrossNodes === 'both') throw new LinuxDensityRefused('capacity', '--merge-across-nodes both runs on the emulator only');
  const a = linuxBackendAvailable();
  if (!a.ok) throw new LinuxDensityRefused('unavailable', `the linux backend is not available here: ${a.reason}`);
  const big = fleetTooLarge(fleet, readMemAvailable());
  if (big) throw new LinuxDensityRefused('too-large', big);
}

interface KernelPhase extends MeasuredPhase {
  ksmdCpu: { ms: number; clock: ThreadCpu['clock'] } | null;
  memory: KernelPhaseMemory;
}

interface RunningGuest {
  readonly name: string;
  readonly workload: string;
  readonly proc: LinuxGuestProcess;
  /** The guest's own mappings, as its process last reported them. */
  ranges: ReadonlyArray<readonly [number, number]>;
  ended?: LinuxGuestResult;
}

function readCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ksmCounterFileNames()) {
    try {
      const v = Number(readRealFile(KSM_DIR + name).trim());
      if (Number.isFinite(v)) out[name] = v;
    } catch {
      // A counter this kernel lacks (ksm_zero_pages before 6.10, …) is left out, as a sample would.
    }
  }
  return out;
}

function guestMemory(g: RunningGuest): VmaBytes {
  return readGuestVmaBytes(g.proc.pid, g.ranges);
}

/**
 * The fleet's memory now: Σ Rss of the guests' own VMAs minus what KSM freed. Rss counts a KSM page
 * once in every VMA that maps it, pages_sharing counts those extra mappings; a zero page merged with
 * use_zero_pages=1 maps the kernel's zero page, which Rss does not count at all.
 */
function fleetMemory(guests: readonly RunningGuest[], counters: Readonly<Record<string, number>>): { used: number; sum: VmaBytes } {
  const sum = emptyVmaBytes();
  for (const g of guests) addVmaBytes(sum, guestMemory(g));
  return { used: sum.rss - (counters.pages_sharing ?? 0) * PAGE_SIZE, sum };
}

function takeSample(guests: readonly RunningGuest[], t0: number): DensitySample {
  const counters = readCounters();
  const { used } = fleetMemory(guests, counters);
  return {
    t: (performance.now() - t0) / 1000,
    guests: guests.filter((g) => !g.ended).length,
    memory_used_bytes: used,
    node_used_bytes: [used],
    counters,
    per_guest: guests.map((g) => {
      const st = readKsmStatOf(g.proc.pid);
      return { name: g.name, pid: g.proc.pid, ksm_merging_pages: st.ksm_merging_pages ?? 0, ksm_process_profit: st.ksm_process_profit ?? 0 };
    }),
  };
}

function writeKnobs(knobs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const applied: Record<string, string> = {};
  for (const [k, v] of knobs) {
    try {
      writeRealFile(KSM_DIR + k, v);
    } catch (e) {
      throw new Error(`--ksm ${k}=${v}: ${(e as Error).message}`);
    }
    applied[k] = selectedChoice(readRealFile(KSM_DIR + k));
  }
  return applied;
}

/** One phase on the real kernel: launch the fleet, wait for READY, sample until converged (KSM on). */
async function runKernelPhase(
  o: DensityOptions, fleet: readonly FleetEntry[], ksmOn: boolean, label: string, running: Set<LinuxGuestProcess>, ksmdPid: number | null,
): Promise<KernelPhase> {
  const mac = o.mergeAcrossNodes === 'both' ? '1' : o.mergeAcrossNodes;
  // merge_across_nodes is written only where the kernel has it (CONFIG_NUMA).
  const hasMac = readdirSync(KSM_DIR).includes('merge_across_nodes');
  const knobs = ksmOn ? writeKnobs([...(hasMac ? [['merge_across_nodes', mac] as const] : []), ...DENSITY_DEFAULT_KNOBS, ...o.knobs]) : {};
  const planned = expand(fleet);
  // Each program compiles once, before the clock (startLinuxGuest then finds it compiled).
  for (const program of new Set(planned.map((g) => g.program))) compileModule(program);
  const ready = new Set<string>();
  const guests: RunningGuest[] = [];
  const t0 = performance.now();
  try {
    for (const p of planned) {
      // The KSM-off baseline: the same guests, not madvised (their own mergeable= is replaced).
      const args = ksmOn ? [...p.entry.args] : [...p.entry.args.filter((a) => !/^(--)?mergeable=/.test(a)), 'mergeable=0'];
      const g: RunningGuest = {
        name: p.name, workload: p.entry.workload, ranges: [],
        proc: startLinuxGuest({ program: p.program, name: p.name, args }, {
          onLog: (line) => {
            const m = READY.exec(line);
            if (m) ready.add(m[1]!);
            else o.log(line);
          },
          onMaps: (ranges) => {
            g.ranges = ranges;
          },
        }),
      };
      running.add(g.proc);
      void g.proc.done.then((r) => {
        g.ended = r;
      });
      guests.push(g);
    }
    const series: DensitySample[] = [];
    let readyAt = 0;
    let scansFrom: number | undefined;
    const sample = (): DensitySample => {
      const s = takeSample(guests, t0);
      series.push(s);
      const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const saved = mib(savedPages(s.counters) * PAGE_SIZE);
      if (ready.size < guests.length) o.status?.(`[density kernel ${label}] booting ${guests.length} guests: ${ready.size} ready · memory ${mib(s.memory_used_bytes)} · saved ${saved}`);
      else if (scansFrom === undefined) o.status?.(`[density kernel ${label}] ${guests.length} guests up · memory ${mib(s.memory_used_bytes)}`);
      else {
        const scans = (s.counters.full_scans ?? 0) - scansFrom;
        const step = scans < CONVERGE_MIN_SCANS ? `${scans}/${CONVERGE_MIN_SCANS} full scans` : `${scans} full scans, saving to hold steady for 2 s`;
        o.status?.(`[density kernel ${label}] waiting for convergence: ${step} · saved ${saved} · ${((performance.now() - readyAt) / 1000).toFixed(0)} s of at most ${o.maxSeconds} s`);
      }
      return s;
    };
    // Each sample reads every guest's smaps (a few ms each): the next one is timed from the end of
    // the last, so a large fleet samples less often instead of piling samples up.
    let timer: NodeJS.Timeout | undefined;
    let sampling = true;
    const tick = (): void => {
      if (!sampling) return;
      sample();
      timer = setTimeout(tick, o.sampleMs);
    };
    timer = setTimeout(tick, o.sampleMs);
    let cpuAtReady: ThreadCpu | null = null;
    let convergeFrom = 0;
    try {
      await waitReady(guests, ready);
      readyAt = performance.now();
      cpuAtReady = ksmdPid === null ? null : readThreadCpu(ksmdPid);
      if (!ksmOn) {
        await new Promise((r) => setTimeout(r, Math.max(500, 3 * o.sampleMs)));
      } else {
        const scans0 = readCounters().full_scans ?? 0;
        scansFrom = scans0;
        convergeFrom = series.length;
        const deadline = readyAt + o.maxSeconds * 1000;
        for (;;) {
          await new Promise((r) => setTimeout(r, o.sampleMs));
          if (performance.now() > deadline) break;
          const dead = guests.find((g) => g.ended);
          if (dead) throw new Error(`guest ${dead.name} ended during the run (${dead.ended!.error ?? `exit ${dead.ended!.exitCode}`})`);
          if (convergedNow(series, readCounters().full_scans ?? 0, scans0, (performance.now() - t0) / 1000)) break;
        }
      }
    } finally {
      sampling = false;
      clearTimeout(timer);
    }
    const last = sample();
    const end = performance.now();
    const cpuAtEnd = ksmdPid === null ? null : readThreadCpu(ksmdPid);
    const convergence = ksmOn ? convergenceOf(series, convergeFrom, (readyAt - t0) / 1000, scansFrom ?? 0) : null;
    const { sum } = fleetMemory(guests, last.counters);
    let processRss = 0;
    const perGuest: GuestProfit[] = guests.map((g) => {
      const mem = guestMemory(g);
      processRss += readProcessRss(g.proc.pid);
      const st = readKsmStatOf(g.proc.pid);
      return {
        name: g.name, workload: g.workload, pid: g.proc.pid, ksm_merging_pages: st.ksm_merging_pages ?? 0,
        ksm_process_profit: st.ksm_process_profit ?? 0, private_pages: Math.round((mem.rss - mem.ksm) / PAGE_SIZE),
      };
    });
    const c = last.counters;
    return {
      series, memoryUsed: last.memory_used_bytes, counters: { ...c }, perGuest, convergence, fleetUpSeconds: (readyAt - t0) / 1000,
      ksmdCpu: cpuAtReady && cpuAtEnd ? { ms: cpuAtEnd.ms - cpuAtReady.ms, clock: cpuAtEnd.clock } : null,
      wallMs: end - readyAt, knobs,
      memory: {
        rss_bytes: sum.rss, pss_bytes: sum.pss, anonymous_bytes: sum.anonymous, ksm_bytes: sum.ksm, process_rss_bytes: processRss,
        pages_sharing: c.pages_sharing ?? 0, ksm_zero_pages: c.ksm_zero_pages ?? 0, general_profit: c.general_profit ?? 0,
      },
    };
  } finally {
    for (const g of guests) g.proc.kill();
    // The next phase (or the restore) starts only when this fleet's memory is gone.
    await Promise.all(guests.map((g) => g.proc.done));
    for (const g of guests) running.delete(g.proc);
  }
}

async function waitReady(guests: readonly RunningGuest[], ready: ReadonlySet<string>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (guests.every((g) => ready.has(g.name))) return;
    const dead = guests.find((g) => g.ended && !ready.has(g.name));
    if (dead) throw new Error(`guest ${dead.name} ended before it was ready (${dead.ended!.error ?? `exit ${dead.ended!.exitCode}`})`);
    if (Date.now() > deadline) throw new Error(`guests not ready after ${READY_TIMEOUT_MS / 1000} s: ${guests.filter((g) => !ready.has(g.name)).map((g) => g.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function numaNodes(): number {
  try {
    return Math.max(1, readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)).length);
  } catch {
    return 1;
  }
}

/** The density experiment on the real kernel. Throws LinuxDensityRefused when it cannot run here. */
export async function runLinuxDensity(o: DensityOptions, fleet: readonly FleetEntry[], lo: LinuxDensityOptions = {}): Promise<DensityResult> {
  checkLinuxDensity(o, fleet);
  const running = new Set<LinuxGuestProcess>();
  const ksmdPid = findKsmdPid();
  const beforeRestore = (): void => {
    // Also from a signal handler: kill synchronously, then unmerge everything (run=2) before the
    // guard writes the snapshot back (restoreKnobs writes run=2 too, but only when a knob differs).
    for (const g of running) g.kill();
    try {
      writeRealFile(KSM_DIR + 'run', '2');
    } catch {
      // The restore reports a knob it cannot write.
    }
  };
  let phases: { without: KernelPhase; withKsm: KernelPhase };
  try {
    phases = await withKnobGuard(async () => {
      const without = await runKernelPhase(o, fleet, false, 'without KSM', running, ksmdPid);
      const withKsm = await runKernelPhase(o, fleet, true, 'with KSM', running, ksmdPid);
      return { without, withKsm };
    }, { startFromDefaults: true, waitMs: lo.lockWaitMs ?? 0, path: lo.lockPath, beforeRestore });
  } catch (e) {
    const msg = (e as Error).message;
    // The lock is taken by another process, or by this one (a run in progress in the same process).
    if (/are in use by pid|is already held by this process/.test(msg)) throw new LinuxDensityRefused('busy', `another linux-backend run holds the real KSM knobs: ${msg}`);
    throw e;
  }
  const { without, withKsm } = phases;
  const c = withKsm.counters;
  const saved = without.memoryUsed - withKsm.memoryUsed;
  const freed = savedPages(c) * PAGE_SIZE;
  return {
    backend: 'linux',
    fleet,
    host: { memory_bytes: totalmem(), numa_nodes: numaNodes() },
    knobs: withKsm.knobs,
    memory_without_ksm_bytes: without.memoryUsed,
    memory_with_ksm_bytes: withKsm.memoryUsed,
    saved_bytes: saved,
    pages_shared: c.pages_shared ?? 0,
    pages_sharing: c.pages_sharing ?? 0,
    general_profit: c.general_profit ?? 0,
    fleet_up_seconds: withKsm.fleetUpSeconds,
    ...convergenceFields(withKsm.convergence),
    ksmd_cpu_seconds: withKsm.ksmdCpu ? withKsm.ksmdCpu.ms / 1000 : null,
    ksmd_cpu_clock: withKsm.ksmdCpu?.clock ?? null,
    ksmd_wall_seconds: withKsm.wallMs / 1000,
    ksmd_cpu_share: withKsm.ksmdCpu && withKsm.wallMs > 0 ? withKsm.ksmdCpu.ms / withKsm.wallMs : null,
    ksmd_scan_wall_seconds: null,
    per_guest: withKsm.perGuest,
    kernel: {
      kernel: release(),
      ksmd_pid: ksmdPid,
      without_ksm: without.memory,
      with_ksm: withKsm.memory,
      pss_with_ksm_bytes: withKsm.memory.pss_bytes,
      freed_by_ksm_bytes: freed,
      saved_minus_freed_bytes: saved - freed,
    },
    series: { without_ksm: without.series, with_ksm: withKsm.series },
  };
}
