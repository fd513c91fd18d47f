// density-runner.ts — owns density experiments: run a fleet with KSM off and on (fixed fleet),
// launch guests until memory is full (capacity), and the NUMA trade-off of merge_across_nodes.

import { freemem } from 'node:os';
import { Host, parseKsmStat, type GuestHandle } from '../host/host.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { summarizeSpace } from '../mem/space-summary.ts';
import { meminfoValues } from '../mem/procfs.ts';
import { CTL_VA_HIGH, type GuestSpaceHandles } from '../mem/guest-control.ts';
import { PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED } from '../mem/pte.ts';
import type { KsmdHostStats } from '../host/ksmd-controller.ts';
import { defaultMaxGuests, type CapBasis } from './capacity-cap.ts';
import { runCapacity } from './capacity-run.ts';
import { CONVERGE_MIN_SCANS, convergedNow, convergenceOf, savedPages, convergenceFields } from './convergence.ts';
import { applyKnobs, DENSITY_DEFAULT_KNOBS, engineOffKnobs, engineOnKnobs, expand, startHost, usedBytes, type DensityOptions, type MeasuredPhase } from './density-host.ts';
import type { CapacityResult, CapacityRun, CapacityWithSwap, DensityResult, DensitySample, FleetEntry, GuestProfit, NumaTradeoff } from './density-types.ts';
import { EmulatedTunedHost } from '../tuning/emulated-tuned-host.ts';
import { engineDir } from '../engines/engine.ts';
import { startServices, type RunningServices, type ServicesReport } from '../tuning/host-services.ts';

export { DENSITY_DEFAULT_KNOBS, type DensityOptions, type DensityRunOptions } from './density-host.ts';

interface PhaseResult extends MeasuredPhase {
  /** ksmd's thread CPU time from the fleet being up to the end (null: no /proc/thread-self). */
  ksmdCpuMs: number | null;
  ksmdCpuClock: string | null;
  /** Wall time inside ksmd's scan batches over the same span. */
  ksmdScanWallMs: number;
  remoteShare: number;
  services?: ServicesReport;
  engineCpuSeconds: number | null;
  consideredPages: number;
  presentPages: number;
  /** vmstat thp_split_page at the end of the phase (its host started at 0). */
  thpSplitPages: number;
}

function takeSample(host: Host, t0: number, baseline: number, names: Map<number, string>): DensitySample {
  const nodes = host.nodeMemory();
  const perGuest = host.guests.map((g) => {
    const st = parseKsmStat(safeStat(host, g.pid));
    return { name: names.get(g.pid) ?? String(g.pid), pid: g.pid, ksm_merging_pages: st.ksm_merging_pages ?? 0, ksm_process_profit: st.ksm_process_profit ?? 0 };
  });
  return {
    t: (performance.now() - t0) / 1000,
    guests: host.guests.length,
    memory_used_bytes: nodes.reduce((n, x) => n + x.usedBytes, 0) - baseline,
    node_used_bytes: nodes.map((n) => n.usedBytes),
    counters: host.files.counters(),
    anon_huge_bytes: meminfoValues(host.memory).AnonHugePages! * 1024,
    per_guest: perGuest,
    vmstat: host.memory.vmstat.snapshot(),
    meminfo_kb: meminfoValues(host.memory),
  };
}

function safeStat(host: Host, pid: number): string {
  try {
    return host.ksmStat(pid);
  } catch {
    return '';
  }
}

/** Wait until every handle is READY; throws naming the guest if one ends first. */
export async function waitReady(handles: ReadonlyArray<{ name: string; handle: GuestHandle }>, ready: Set<string>, timeoutMs: number): Promise<void> {
  const ended = new Map<string, string>();
  for (const h of handles) void h.handle.done.then((r) => ended.set(h.name, `${r.status}${r.error ? `: ${r.error}` : ''}`));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handles.every((h) => ready.has(h.name))) return;
    const dead = handles.find((h) => ended.has(h.name) && !ready.has(h.name));
    if (dead) throw new Error(`guest ${dead.name} ended before it was ready (${ended.get(dead.name)})`);
    if (Date.now() > deadline) throw new Error(`guests not ready after ${timeoutMs / 1000} s: ${handles.filter((h) => !ready.has(h.name)).map((h) => h.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One fixed-fleet phase on a fresh host. */
async function runPhase(o: DensityOptions, fleet: readonly FleetEntry[], ksmOn: boolean, mergeAcross: '0' | '1', label: string): Promise<PhaseResult> {
  const ready = new Set<string>();
  const host = await startHost(o, ready);
  const handles: Array<{ name: string; handle: GuestHandle; workload: string }> = [];
  let services: RunningServices | undefined;
  try {
    const baseline = usedBytes(host);
    const withServices = ksmOn && !!o.services?.length;
    const on = engineOnKnobs(o, mergeAcross);
    const off = engineOffKnobs(o);
    const knobs = ksmOn ? await applyKnobs(host, on.knobs, on.dir) : await applyKnobs(host, off.knobs, off.dir);
    const guests = expand(fleet);
    // Each program compiles once, before the clock and before any guest: a broken one stops the run here.
    for (const program of new Set(guests.map((g) => g.program))) host.prepare(program);
    const tuned = new EmulatedTunedHost(host);
    services = withServices ? await startServices(tuned, o.services!) : undefined;
    const t0 = performance.now();
    const names = new Map<number, string>();
    for (const g of guests) {
      const handle = tuned.track(host.launch(g.program, { name: g.name, args: g.entry.args }));
      names.set(handle.pid, g.name);
      handles.push({ name: g.name, handle, workload: g.entry.workload });
    }
    const series: DensitySample[] = [];
    let readyAt = 0;
    /** full_scans when the wait for convergence began (undefined before it). */
    let scansFrom: number | undefined;
    const sample = () => {
      const s = takeSample(host, t0, baseline, names);
      series.push(s);
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const saved = mib(savedPages(s.counters) * PAGE_SIZE);
      if (ready.size < handles.length) o.status?.(`[density ${label}] booting ${handles.length} guests: ${ready.size} ready · memory ${mib(s.memory_used_bytes)} · saved ${saved}`);
      else if (scansFrom === undefined) o.status?.(`[density ${label}] ${handles.length} guests up · memory ${mib(s.memory_used_bytes)}`);
      else {
        const scans = (s.counters.full_scans ?? 0) - scansFrom;
        const step = scans < CONVERGE_MIN_SCANS ? `${scans}/${CONVERGE_MIN_SCANS} full scans` : `${scans} full scans, saving to hold steady for 2 s`;
        o.status?.(`[density ${label}] waiting for convergence: ${step} · saved ${saved}`
          + ` · ${((performance.now() - readyAt) / 1000).toFixed(0)} s of at most ${o.maxSeconds} s`);
      }
      return s;
    };
    const timer = setInterval(sample, o.sampleMs);
    let atReady: KsmdHostStats | undefined;
    let convergeFrom = 0;
    try {
      await waitReady(handles, ready, 120_000);
      readyAt = performance.now();
      atReady = await host.ksmd?.stats();
      if (!ksmOn) {
        await new Promise((r) => setTimeout(r, Math.max(500, 3 * o.sampleMs)));
      } else {
        // Converged: at least 12 full scans since the fleet was up (smart_scan skips an unchanging page
        // for up to 8 scans, so every page has had its chance), and the saving steady (within 1 %)
        // over the last two seconds; or the time limit.
        const scans0 = host.files.counters().full_scans ?? 0;
        scansFrom = scans0;
        const uksmRounds0 = o.engine === 'uksm' ? Number(host.readFile(engineDir('uksm') + 'full_scans')) : 0;
        const deadline = readyAt + o.maxSeconds * 1000;
        convergeFrom = series.length;
        for (;;) {
          await new Promise((r) => setTimeout(r, o.sampleMs));
          if (performance.now() > deadline) break;
          if ((o.engine ?? 'ksm') === 'ksm') {
            if (convergedNow(series, host.files.counters().full_scans, scans0, (performance.now() - t0) / 1000)) break;
          } else {
            // The other engines converge on memory (DKSM merges inside madvise); UKSM also needs its
            // rounds, as ksmd its full scans: its areas start on the ladder's lowest rung (0.2 % of a
            // core with the full governor) and climb only as their passes merge.
            if (o.engine === 'uksm' && Number(host.readFile(engineDir('uksm') + 'full_scans')) < uksmRounds0 + CONVERGE_MIN_SCANS) continue;
            const window = series.filter((s) => s.t * 1000 >= performance.now() - t0 - 2000);
            if (window.length < 5) continue;
            const v = window.map((s) => Math.round(s.memory_used_bytes / PAGE_SIZE));
            const hi = Math.max(...v);
            if (hi - Math.min(...v) <= Math.max(1, hi * 0.01)) break;
          }
        }
      }
    } finally {
      clearInterval(timer);
    }
    const last = sample();
    const end = performance.now();
    await services?.stop();
    const engineCpu = host.engine.mergeCpuSeconds?.() ?? null;
    const reach = pagesInReach(handles.map((h) => h.handle.handles));
    const considered = host.engine.consideredPages?.() ?? reach.mergeable;
    const atEnd = await host.ksmd?.stats();
    const convergence = ksmOn ? convergenceOf(series, convergeFrom, (readyAt - t0) / 1000, scansFrom ?? 0) : null;
    let mapped = 0;
    let remote = 0;
    const perGuest: GuestProfit[] = handles.map((h) => {
      const sum = summarizeSpace(h.handle.handles, host.memory);
      mapped += sum.privatePages + sum.ksmPages;
      remote += sum.remotePages;
      const st = parseKsmStat(safeStat(host, h.handle.pid));
      return {
        name: h.name, workload: h.workload, pid: h.handle.pid, ksm_merging_pages: st.ksm_merging_pages ?? 0,
        ksm_process_profit: st.ksm_process_profit ?? 0, private_pages: sum.privatePages,
      };
    });
    return {
      series, memoryUsed: last.memory_used_bytes, counters: { ...last.counters }, perGuest, convergence, fleetUpSeconds: (readyAt - t0) / 1000,
      ksmdCpuMs: atEnd?.cpuMs != null && atReady?.cpuMs != null ? atEnd.cpuMs - atReady.cpuMs : null,
      ksmdCpuClock: atEnd?.cpuClock ?? null,
      ksmdScanWallMs: (atEnd?.busyMs ?? 0) - (atReady?.busyMs ?? 0), wallMs: end - readyAt, remoteShare: mapped ? remote / mapped : 0, knobs,
      ...(services ? { services: services.report() } : {}),
      engineCpuSeconds: engineCpu, consideredPages: considered, presentPages: reach.present,
      thpSplitPages: host.memory.vmstat.get('thp_split_page'),
    };
  } finally {
    await services?.stop();
    await Promise.all(handles.map((h) => h.handle.kill()));
    await host.shutdown();
  }
}

/** What a capacity pair's gain means, from why each run stopped (see CapacityResult.density_gain_bound). */
export function gainBound(without: CapacityRun, withKsm: CapacityRun): CapacityResult['density_gain_bound'] {
  if (without.stop.kind !== 'oom') return 'unknown';
  if (withKsm.stop.kind === 'oom') return 'exact';
  return withKsm.stop.kind === 'guest-failed' ? 'unknown' : 'at-least';
}

/** Both capacity runs, KSM off then on, under one cap: --max-guests, or derived (capacity-cap.ts). */
async function runCapacityPair(o: DensityOptions, fleet: readonly FleetEntry[], perGuest: readonly GuestProfit[], memoryWithout: number): Promise<CapacityResult> {
  // What a guest of each fleet entry holds with nothing merged: the largest of its kind in the
  // KSM-off phase (perGuest is in fleet order, entry by entry).
  const footprintBytes: number[] = [];
  let at = 0;
  for (const e of fleet) {
    const mine = perGuest.slice(at, at + e.count);
    footprintBytes.push(Math.max(0, ...mine.map((g) => g.private_pages * PAGE_SIZE)));
    at += e.count;
  }
  const guests = fleet.reduce((n, e) => n + e.count, 0);
  let basis: CapBasis | null = null;
  if (o.maxGuests === undefined) {
    const mps = [...DENSITY_DEFAULT_KNOBS, ...o.knobs].filter(([k]) => k === 'max_page_sharing').at(-1)?.[1];
    basis = defaultMaxGuests({ hostBytes: o.memoryBytes, guestBytes: memoryWithout / Math.max(1, guests), maxPageSharing: mps ? Number(mps) : 256, machineFreeBytes: freemem() });
  }
  const maxGuests = o.maxGuests ?? basis!.max_guests;
  const plan = { maxGuests, footprintBytes };
  const withoutRun = await runCapacity(o, fleet, false, plan);
  const withRun = await runCapacity(o, fleet, true, plan);
  let withSwap: CapacityWithSwap | undefined;
  if (o.swapBytes) {
    // The same pair on hosts with swap: how many more guests fit, and what each costs in swap-ins.
    const swapOff = await runCapacity(o, fleet, false, plan, o.swapBytes);
    const swapOn = await runCapacity(o, fleet, true, plan, o.swapBytes);
    withSwap = {
      swap_bytes: o.swapBytes, without_ksm: swapOff, with_ksm: swapOn,
      extra_guests_without_ksm: swapOff.guests - withoutRun.guests, extra_guests_with_ksm: swapOn.guests - withRun.guests,
    };
  }
  return {
    max_guests: maxGuests,
    max_guests_basis: basis && { limited_by: basis.limited_by, memory_bound: basis.memory_bound, machine_bound: basis.machine_bound, ceiling: basis.ceiling, guest_bytes: basis.guest_bytes },
    without_ksm: withoutRun,
    with_ksm: withRun,
    density_gain: withoutRun.guests ? withRun.guests / withoutRun.guests : null,
    density_gain_bound: gainBound(withoutRun, withRun),
    ...(withSwap ? { with_swap: withSwap } : {}),
  };
}

export async function runDensity(o: DensityOptions, fleet: readonly FleetEntry[]): Promise<DensityResult> {
  const mac = o.mergeAcrossNodes === 'both' ? '1' : o.mergeAcrossNodes;
  const without = await runPhase(o, fleet, false, mac, 'without KSM');
  const withKsm = await runPhase(o, fleet, true, mac, 'with KSM');
  let numa: NumaTradeoff[] | undefined;
  if (o.mergeAcrossNodes === 'both') {
    const other = await runPhase(o, fleet, true, '0', 'merge_across_nodes=0');
    numa = [
      { merge_across_nodes: 1, memory_with_ksm_bytes: withKsm.memoryUsed, saved_bytes: without.memoryUsed - withKsm.memoryUsed, remote_access_share: withKsm.remoteShare },
      { merge_across_nodes: 0, memory_with_ksm_bytes: other.memoryUsed, saved_bytes: without.memoryUsed - other.memoryUsed, remote_access_share: other.remoteShare },
    ];
  }
  let capacity: Pick<DensityResult, 'guests_fit_without_ksm' | 'guests_fit_with_ksm' | 'density_gain' | 'capacity'> = {};
  if (o.capacity) {
    const c = await runCapacityPair(o, fleet, without.perGuest, without.memoryUsed);
    capacity = { guests_fit_without_ksm: c.without_ksm.guests, guests_fit_with_ksm: c.with_ksm.guests, density_gain: c.density_gain ?? 0, capacity: c };
  }
  const c = withKsm.counters;
  return {
    backend: 'emulator',
    fleet,
    host: { memory_bytes: o.memoryBytes, numa_nodes: o.numaNodes },
    knobs: withKsm.knobs,
    memory_without_ksm_bytes: without.memoryUsed,
    memory_with_ksm_bytes: withKsm.memoryUsed,
    saved_bytes: without.memoryUsed - withKsm.memoryUsed,
    pages_shared: c.pages_shared ?? 0,
    pages_sharing: c.pages_sharing ?? 0,
    general_profit: c.general_profit ?? 0,
    fleet_up_seconds: withKsm.fleetUpSeconds,
    ...convergenceFields(withKsm.convergence),
    ksmd_cpu_seconds: withKsm.ksmdCpuMs === null ? null : withKsm.ksmdCpuMs / 1000,
    ksmd_cpu_clock: withKsm.ksmdCpuClock,
    ksmd_wall_seconds: withKsm.wallMs / 1000,
    ksmd_cpu_share: withKsm.ksmdCpuMs === null || withKsm.wallMs <= 0 ? null : withKsm.ksmdCpuMs / withKsm.wallMs,
    ksmd_scan_wall_seconds: withKsm.ksmdScanWallMs / 1000,
    thp: o.thp ?? 'madvise',
    anon_huge_bytes_without_ksm: without.series.at(-1)?.anon_huge_bytes ?? 0,
    anon_huge_bytes_with_ksm: withKsm.series.at(-1)?.anon_huge_bytes ?? 0,
    thp_split_pages: withKsm.thpSplitPages,
    engine: o.engine ?? 'ksm',
    ...((o.engine ?? 'ksm') !== 'ksm' ? { engine_cpu_seconds: withKsm.engineCpuSeconds } : {}),
    considered_pages: withKsm.consideredPages,
    present_pages: withKsm.presentPages,
    per_guest: withKsm.perGuest,
    ...capacity,
    ...(numa ? { numa } : {}),
    series: { without_ksm: without.series, with_ksm: withKsm.series },
    ...(withKsm.services ? { services: withKsm.services } : {}),
  };
}

/** Present pages of the guests, and those in mergeable areas (PTE_MERGEABLE), from their page tables. */
function pagesInReach(spaces: readonly GuestSpaceHandles[]): { present: number; mergeable: number } {
  let present = 0;
  let mergeable = 0;
  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    const high = Math.min(h.vaPages, Atomics.load(new Int32Array(h.control), CTL_VA_HIGH));
    for (let p = 0; p < high; p++) {
      const pte = Atomics.load(pt, p);
      if (!(pte & (PTE_PRESENT | PTE_SWAPPED))) continue;
      present++;
      if (pte & PTE_MERGEABLE) mergeable++;
    }
  }
  return { present, mergeable };
}
