// stress-run.ts — owns one `ksmsim stress` run on real workers: start a host, launch stress guests
// (guests/stress/stress-guest.ts), let ksmd run flat out while a chaos loop flips knobs (and, with
// faults, kills guests, kills and restarts ksmd, and squeezes memory), then quiesce, let ksmd do two
// quiet full scans, verify every guest's memory against its shadow, recount every counter from the
// page tables, and account for every frame.

import { ErrnoError } from '../mem/errno.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { Host, type GuestHandle, type GuestReport } from '../host/host.ts';
import type { BrokenProtocol, EngineEvents } from '../ksm/ksm-engine.ts';
import type { KsmdStats } from '../ksm/ksmd-worker.ts';
import { KHUGEPAGED_DIR, KSM_DIR } from '../ksm/sysfs.ts';
import { CTL_KSM_ENTERED, type GuestSpaceHandles } from '../mem/guest-control.ts';
import {
  CMD_EXIT, CMD_PAUSE, CMD_QUIESCE, CMD_RUN, CMD_VERIFY, CP_RESULT, HostControlPage, STRESS_COUNTERS, type StressCounter,
} from './control-page.ts';
import { Prng, mixSeed } from '../platform/prng.ts';
import { recountHost, repairAfterKsmdDeath, type RepairResult } from './recount.ts';
import { projectPath } from '../platform/project-root.ts';
import type { ThpMode } from '../mem/thp.ts';

const GUEST_PROGRAM = projectPath('guests', 'stress', 'stress-guest.ts');

export interface StressOptions {
  readonly guests: number;
  readonly seconds: number;
  readonly seed: number;
  /** Fault injection: kill guests mid-write/COW, kill and restart ksmd, run short of memory. */
  readonly faults?: boolean;
  /** Host memory (default: plenty, or tight with faults). */
  readonly memoryBytes?: number;
  readonly numaNodes?: number;
  readonly regions?: number;
  readonly pages?: number;
  readonly contents?: number;
  /** Flip knobs while the guests run (default true). */
  readonly chaos?: boolean;
  /**
   * The host's transparent_hugepage/enabled (default madvise: the guests ask for no huge pages). With
   * always, regions default to 1024 pages so they hold whole 2 MiB blocks: huge faults, the guests'
   * own splits (partial munmap, mprotect, DONTNEED) and ksmd's splits all run under the stress.
   */
  readonly thp?: ThpMode;
  /** TEST ONLY: run ksmd with a deliberately broken protocol (see BrokenProtocol). */
  readonly brokenProtocol?: BrokenProtocol;
  readonly log?: (line: string) => void;
  /** A one-line status, refreshed while the guests run (the CLI shows it on a terminal). */
  readonly progress?: (line: string) => void;
}

export interface StressViolation {
  readonly guest: number;
  readonly address: number;
  readonly expected: number;
  readonly actual: number;
  readonly seed: number;
  /** The guest's own seed (derived from the run's seed and the guest's launch number). */
  readonly guest_seed?: number;
  readonly what: string;
}

export interface StressReport {
  readonly seed: number;
  /** How long the guests ran under chaos (--seconds, longer with faults until one of each fault happened). */
  readonly seconds: number;
  /** Wall time of the whole run: host start, guest boot, the run, quiet scans, audit, teardown. */
  readonly elapsed_seconds: number;
  readonly guests: number;
  readonly faults: boolean;
  readonly broken_protocol: BrokenProtocol;
  readonly ops: number;
  readonly ops_per_second: number;
  readonly reads: number;
  readonly writes: number;
  readonly memsets: number;
  readonly merges: number;
  readonly merge_aborts: number;
  readonly zero_merges: number;
  readonly cows: number;
  readonly unmerges: number;
  readonly knob_changes: number;
  readonly knob_refusals: Record<string, number>;
  readonly guest_counters: Record<StressCounter, number>;
  readonly violations: StressViolation[];
  readonly counter_mismatches: string[];
  readonly leaked_frames: number;
  readonly leaked_frames_after_exit: number;
  readonly guest_failures: string[];
  readonly fault_events: {
    guests_killed: number;
    oom_kills: number;
    ksmd_restarts: number;
    ksmd_repairs: RepairResult[];
  };
  readonly final_counters: Record<string, number>;
  /** The host's THP lines of /proc/vmstat at the end (huge faults, splits, collapses) and khugepaged's counters: --thp. */
  readonly thp_events?: Record<string, number>;
  readonly ok: boolean;
}

interface LiveGuest {
  handle: GuestHandle;
  victim: boolean;
  cp?: HostControlPage;
  last: Record<StressCounter, number>;
  ended: boolean;
  report?: GuestReport;
}

const zeroCounters = (): Record<StressCounter, number> => Object.fromEntries(STRESS_COUNTERS.map((c) => [c, 0])) as Record<StressCounter, number>;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runStress(o: StressOptions): Promise<StressReport> {
  const log = o.log ?? (() => {});
  const faults = o.faults ?? false;
  const regions = o.regions ?? 4;
  const pages = o.pages ?? (o.thp === 'always' ? 1024 : 32);
  const contents = o.contents ?? 4;
  const numaNodes = o.numaNodes ?? 2;
  const perGuest = regions * pages + 16;
  // With faults, memory is tight: 70 % of what the guests map when nothing merges (plus room for a
  // small victim), so copy-on-write and unmerge run out whenever ksmd falls behind.
  const memoryBytes = o.memoryBytes ?? (faults
    ? Math.max(numaNodes * 64 * PAGE_SIZE, Math.ceil(0.7 * o.guests * perGuest + 48) * PAGE_SIZE)
    : Math.max(64 * 2 ** 20, 4 * o.guests * perGuest * PAGE_SIZE));
  const violations: StressViolation[] = [];
  const guestFailures: string[] = [];
  const rng = new Prng(mixSeed(o.seed, 0xc4a05));
  const host = await Host.start({
    memoryBytes, numaNodes, thp: o.thp,
    ksmdOptions: o.brokenProtocol && o.brokenProtocol !== 'none' ? { brokenProtocol: o.brokenProtocol } : {},
    onLog: (line) => {
      const m = /^\[[^\]]*\] @violation (.*)$/.exec(line);
      if (m) {
        // The guest names its own seed; the report names the run's (which derives the guest's).
        const v = JSON.parse(m[1]!) as StressViolation & { seed: number };
        if (violations.length < 100) violations.push({ ...v, guest_seed: v.seed, seed: o.seed });
      } else if (/@error /.test(line)) log(line);
    },
  });
  // khugepaged every 100 ms, not 10 s: its collapses race with the guests during the run too.
  if (o.thp === 'always') await host.writeFile(KHUGEPAGED_DIR + 'scan_sleep_millisecs', '100');
  const totals = zeroCounters();
  const guests: LiveGuest[] = [];
  const knobRefusals: Record<string, number> = {};
  let knobChanges = 0;
  let guestsKilled = 0;
  let oomKills = 0;
  let ksmdRestarts = 0;
  const repairs: RepairResult[] = [];
  let launched = 0;
  const started = performance.now();
  // ksmd's event counts, summed over the ksmd threads killed so far (each new one starts at 0).
  const pastEvents: EngineEvents = { merges: 0, mergeAborts: 0, zeroMerges: 0, unmerges: 0, deferredFrees: 0 };
  const addEvents = (st: KsmdStats, into: EngineEvents = pastEvents): EngineEvents => {
    for (const k of Object.keys(into) as (keyof EngineEvents)[]) into[k] += st.events[k];
    return into;
  };

  const setKnob = async (k: string, v: number): Promise<boolean> => {
    try {
      await host.writeFile(KSM_DIR + k, String(v));
      knobChanges++;
      return true;
    } catch (e) {
      if (e instanceof ErrnoError || (e as { code?: string }).code) {
        const key = `${k}:${(e as ErrnoError).code}`;
        knobRefusals[key] = (knobRefusals[key] ?? 0) + 1;
        return false;
      }
      throw e;
    }
  };

  const launch = (victim: boolean): LiveGuest => {
    const n = launched++;
    const args = ['--seed', String(mixSeed(o.seed, n)), '--regions', String(victim ? 1 : regions), '--pages', String(victim ? Math.min(pages, 16) : pages), '--contents', String(contents), '--content-seed', String(o.seed)];
    if (victim) args.push('--victim');
    const handle = host.launch(GUEST_PROGRAM, { name: `${victim ? 'victim' : 'stress'}.${n}`, args });
    const g: LiveGuest = { handle, victim, last: zeroCounters(), ended: false };
    void handle.done.then((r) => {
      g.ended = true;
      g.report = r;
      foldCounters(g);
      if (r.status === 'oom-killed') oomKills++;
      else if (r.status === 'failed' && !g.victim && !/killed/.test(r.error ?? '')) guestFailures.push(`${r.name} (pid ${r.pid}): ${r.error}`);
      else if (r.status === 'failed' && r.exitCode === 3) guestFailures.push(`${r.name} (pid ${r.pid}): exited with violations`);
    });
    guests.push(g);
    return g;
  };
  // Counters of a guest that is gone are folded into the totals from the last snapshot.
  const snapshot = (g: LiveGuest): void => {
    if (g.ended) return;
    g.cp ??= HostControlPage.find(host.memory, g.handle.handles);
    if (g.cp) g.last = g.cp.counters();
  };
  const folded = new Set<LiveGuest>();
  const foldCounters = (g: LiveGuest): void => {
    if (folded.has(g)) return;
    folded.add(g);
    for (const c of STRESS_COUNTERS) totals[c] += g.last[c];
  };
  const live = () => guests.filter((g) => !g.ended);
  /** Send a command to every live guest and wait until each acknowledges it (or ends). */
  const commandAll = async (cmd: number, filter: (g: LiveGuest) => boolean = () => true, timeoutMs = 60_000): Promise<void> => {
    const want = new Map<LiveGuest, number>();
    for (const g of live().filter(filter)) {
      g.cp ??= HostControlPage.find(host.memory, g.handle.handles);
      if (g.cp) want.set(g, g.cp.command(cmd));
    }
    const deadline = Date.now() + timeoutMs;
    for (const [g, seq] of want) {
      while (!g.ended && g.cp!.acked() < seq) {
        if (Date.now() > deadline) throw new Error(`guest ${g.handle.name} did not acknowledge command ${cmd}`);
        await sleep(1);
      }
      snapshot(g);
    }
  };
  const waitControlPages = async (gs: LiveGuest[]): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (const g of gs) {
      while (!g.ended && !(g.cp ??= HostControlPage.find(host.memory, g.handle.handles))) {
        if (Date.now() > deadline) throw new Error(`guest ${g.handle.name} never mapped its control page`);
        await sleep(2);
      }
    }
  };

  try {
    for (const [k, v] of [['sleep_millisecs', 0], ['pages_to_scan', 2000], ['run', 1]] as const) await setKnob(k, v);
    for (let i = 0; i < o.guests; i++) launch(false);
    await waitControlPages(guests);
    log(`stress: ${o.guests} guests on ${memoryBytes / 2 ** 20} MiB (${numaNodes} nodes), seed ${o.seed}${faults ? ', faults on' : ''}`);

    // ───────────── the chaos loop ─────────────
    const loopStarted = performance.now();
    const endAt = loopStarted + o.seconds * 1000;
    let victim: LiveGuest | undefined;
    let victimKillAt = 0;
    let nextKsmdKill = performance.now() + 300 + rng.below(700);
    let restarting: Promise<void> | undefined;
    let lastProgress = 0;
    // With faults, the run goes on (at most 60 s more) until at least one guest was killed and one
    // ksmd restarted, however slowly the workers boot on a loaded machine.
    const faultsPending = () => faults && (guestsKilled === 0 || (ksmdRestarts === 0 && !restarting));
    while (performance.now() < endAt || (faultsPending() && performance.now() < endAt + 60_000)) {
      await sleep(5 + rng.below(30));
      for (const g of live()) snapshot(g);
      if (o.progress && performance.now() - lastProgress > 250) {
        lastProgress = performance.now();
        let ops = totals.ops;
        for (const g of guests) if (!folded.has(g)) ops += g.last.ops;
        o.progress(`[ksmsim] stress ${((lastProgress - loopStarted) / 1000).toFixed(1)}/${o.seconds} s · ${live().length} guests · ops ${ops} · pages_sharing ${host.ksm.get('pages_sharing')} · knob changes ${knobChanges}${faults ? ` · killed ${guestsKilled} · ksmd restarts ${ksmdRestarts}` : ''}`);
      }
      if (o.chaos ?? true) await chaosStep(rng, setKnob, numaNodes);
      if (faults) {
        // A victim guest killed at a random moment of its write / copy-on-write loop.
        if (!victim || victim.ended) {
          victim = launch(true);
          victimKillAt = 0;
        } else if (victimKillAt === 0 && victim.last.ops > 0) {
          // It is in its write loop now (it has published counters): kill it a little later.
          victimKillAt = performance.now() + 5 + rng.below(150);
        } else if (victimKillAt !== 0 && performance.now() >= victimKillAt) {
          snapshot(victim);
          await victim.handle.kill();
          guestsKilled++;
          await victim.handle.done;
        }
        // Guests the OOM killer took are replaced, so the load stays.
        const main = live().filter((g) => !g.victim).length;
        for (let i = main; i < o.guests; i++) launch(false);
        // ksmd killed mid-merge (it is almost always mid-batch: sleep_millisecs 0), then restarted.
        if (!restarting && performance.now() >= nextKsmdKill) {
          // (ksmd answers the stats call between two batches; kill it a few ms later, mid-batch.
          // The merges of those last milliseconds are lost to the count, not to the audit.)
          addEvents(await host.ksmd!.stats());
          await sleep(1 + rng.below(15));
          await host.ksmd!.kill();
          // The guests ran on while ksmd died; stop them for the repair (a stopped world), let them
          // go again, then start the new ksmd: it boots while the guests and the chaos run on.
          await waitControlPages(live());
          await commandAll(CMD_PAUSE);
          repairs.push(repairAfterKsmdDeath(host.memory, host.ksm, live().map((g) => g.handle.handles)));
          await commandAll(CMD_RUN);
          restarting = host.restartKsmd().then(() => {
            ksmdRestarts++;
            restarting = undefined;
            nextKsmdKill = performance.now() + 300 + rng.below(1000);
          });
        }
      }
    }

    const runSeconds = (performance.now() - loopStarted) / 1000;

    // ───────────── quiesce and audit ─────────────
    await restarting;
    if (victim && !victim.ended) {
      snapshot(victim);
      await victim.handle.kill();
      guestsKilled++;
      await victim.handle.done;
    }
    await setKnob('run', 1);
    await setKnob('sleep_millisecs', 0);
    await setKnob('pages_to_scan', 5000);
    // Chains of max_page_sharing dups collapse lazily (chain_prune, every
    // stable_node_chains_prune_millisecs, as in the kernel): prune at every batch so the quiet scans
    // leave the chain counters settled too.
    await setKnob('stable_node_chains_prune_millisecs', 0);
    await waitControlPages(live());
    await commandAll(CMD_QUIESCE);
    await quietScans(host, live().map((g) => g.handle.handles));
    await commandAll(CMD_VERIFY);
    let unverified = 0;
    for (const g of live()) unverified += g.cp?.get(CP_RESULT) ?? 0;
    // Stop ksmd between batches so that its counters, its chain census and the recount describe one
    // and the same moment (a search may still prune a chain: stale dups are pruned lazily).
    await setKnob('run', 0);
    const lastStats = await host.ksmd!.stats();
    const events = addEvents(lastStats, { ...pastEvents });
    const stats = { ...lastStats, events };
    const spaces = live().map((g) => g.handle.handles);
    const { recount, mismatches } = recountHost(host, spaces, lastStats.chains);
    if (stats.pendingFrees !== 0) mismatches.push(`ksmd still holds ${stats.pendingFrees} deferred frees after quiet scans`);
    const finalCounters = host.files.counters() as Record<string, number>;
    await setKnob('run', 1);

    await commandAll(CMD_EXIT);
    await Promise.all(guests.map((g) => g.handle.done));
    for (const g of guests) foldCounters(g);
    // Every guest is gone: ksmd must let go of everything and every frame must be free again.
    await sleep(100);
    const usable = host.memory.nodes.reduce((n, _r, i) => n + host.memory.usableFrames(i), 0);
    let leakedAfterExit = usable - host.memory.freeFrames();
    for (let i = 0; i < 50 && leakedAfterExit !== 0; i++) {
      await sleep(20);
      leakedAfterExit = usable - host.memory.freeFrames();
    }

    const elapsed = (performance.now() - started) / 1000;
    if (unverified && violations.length === 0) {
      violations.push({ guest: -1, address: -1, expected: -1, actual: -1, seed: o.seed, what: `${unverified} bytes differ at the final verification` });
    }
    const report: StressReport = {
      seed: o.seed,
      seconds: Number(runSeconds.toFixed(3)),
      elapsed_seconds: Number(elapsed.toFixed(3)),
      guests: o.guests,
      faults,
      broken_protocol: o.brokenProtocol ?? 'none',
      ops: totals.ops,
      ops_per_second: Math.round(totals.ops / runSeconds),
      reads: totals.reads,
      writes: totals.writes,
      memsets: totals.memsets,
      merges: stats.events.merges + stats.events.zeroMerges,
      merge_aborts: stats.events.mergeAborts,
      zero_merges: stats.events.zeroMerges,
      cows: totals.cows,
      unmerges: totals.unmerges + stats.events.unmerges,
      knob_changes: knobChanges,
      knob_refusals: knobRefusals,
      guest_counters: totals,
      violations,
      counter_mismatches: mismatches,
      leaked_frames: recount.leakedFrames,
      leaked_frames_after_exit: leakedAfterExit,
      guest_failures: guestFailures,
      fault_events: { guests_killed: guestsKilled, oom_kills: oomKills, ksmd_restarts: ksmdRestarts, ksmd_repairs: repairs },
      final_counters: finalCounters,
      ...(o.thp ? {
        thp_events: {
          ...Object.fromEntries(Object.entries(host.memory.vmstat.snapshot()).filter(([k]) => k.startsWith('thp_'))),
          khugepaged_full_scans: host.ksm.get('khugepaged_full_scans'),
          khugepaged_pages_collapsed: host.ksm.get('khugepaged_pages_collapsed'),
        },
      } : {}),
      ok: false,
    };
    return { ...report, ok: violations.length === 0 && mismatches.length === 0 && recount.leakedFrames === 0 && leakedAfterExit === 0 && guestFailures.length === 0 && totals.violations === 0 };
  } finally {
    await host.shutdown();
  }
}

/**
 * Two full scans by ksmd with the guests stopped. ksmd scans only while some guest is registered
 * with KSM (its mm_slot list is otherwise empty, and full_scans stands still, as in the kernel):
 * then there is nothing to wait for.
 */
async function quietScans(host: Host, spaces: readonly GuestSpaceHandles[]): Promise<void> {
  const target = host.ksm.get('full_scans') + 2;
  const deadline = Date.now() + 120_000;
  while (host.ksm.get('full_scans') < target) {
    const registered = spaces.some((h) => Atomics.load(new Int32Array(h.control), CTL_KSM_ENTERED) === 1);
    if (!registered) {
      await sleep(200);
      if (!spaces.some((h) => Atomics.load(new Int32Array(h.control), CTL_KSM_ENTERED) === 1)) return;
    }
    if (Date.now() > deadline) {
      throw new Error(`ksmd did not finish two quiet full scans in 120 s (full_scans ${host.ksm.get('full_scans')}, run ${host.ksm.get('run')}, ksmd alive ${host.ksm.ksmdAlive()}, registered ${registered})`);
    }
    await sleep(2);
  }
}

/** One chaos tick: maybe flip one knob to a random allowed value (EBUSY and friends are expected). */
async function chaosStep(rng: Prng, setKnob: (k: string, v: number) => Promise<boolean>, numaNodes: number): Promise<void> {
  if (!rng.chance(0.35)) return;
  const x = rng.below(100);
  if (x < 30) await setKnob('run', rng.pick([1, 1, 1, 0, 2]));
  else if (x < 40) await setKnob('use_zero_pages', rng.below(2));
  else if (x < 50) await setKnob('max_page_sharing', rng.pick([2, 3, 16, 256]));
  else if (x < 58 && numaNodes > 1) await setKnob('merge_across_nodes', rng.below(2));
  else if (x < 75) await setKnob('pages_to_scan', rng.pick([1, 16, 100, 2000, 10000]));
  else if (x < 88) await setKnob('sleep_millisecs', rng.pick([0, 0, 1, 5]));
  else await setKnob('smart_scan', rng.below(2));
  // run=0 and run=2 leave ksmd stopped: start it again soon so merging keeps going.
  if (rng.chance(0.5)) await setKnob('run', 1);
}

/** Human-readable lines for a report. */
export function describeStress(r: StressReport): string[] {
  const lines = [
    `stress: ${r.guests} guests, ${r.seconds} s of chaos (${r.elapsed_seconds} s in all), seed ${r.seed}${r.faults ? ', faults' : ''}${r.broken_protocol !== 'none' ? `, BROKEN PROTOCOL ${r.broken_protocol}` : ''}`,
    `  ops ${r.ops} (${r.ops_per_second}/s): reads ${r.reads}, writes ${r.writes}, memsets ${r.memsets}`,
    `  merges ${r.merges} (aborted ${r.merge_aborts}), copy-on-writes ${r.cows}, unmerges ${r.unmerges}, knob changes ${r.knob_changes}`,
  ];
  if (r.faults) {
    const f = r.fault_events;
    const rep = f.ksmd_repairs.reduce((a, x) => ({ m: a.m + x.mapcountsFixed, p: a.p + x.privateMapcountsCleared, f: a.f + x.framesReclaimed, z: a.z + x.zeroPageCountersFixed }), { m: 0, p: 0, f: 0, z: 0 });
    lines.push(`  faults: guests killed ${f.guests_killed}, OOM kills ${f.oom_kills}, ksmd restarts ${f.ksmd_restarts} (repaired ${rep.m} KSM mapcounts, ${rep.p} private mapcounts, ${rep.z} ksm_zero_pages counters, reclaimed ${rep.f} frames ksmd held), EAGAIN ${r.guest_counters.eagain}, ENOMEM ${r.guest_counters.enomem}`);
  }
  if (r.thp_events) lines.push(`  THP: ${Object.entries(r.thp_events).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`  violations ${r.violations.length}, counter mismatches ${r.counter_mismatches.length}, leaked frames ${r.leaked_frames} (after exit ${r.leaked_frames_after_exit}), guest failures ${r.guest_failures.length}`);
  for (const v of r.violations.slice(0, 10)) lines.push(`  VIOLATION guest ${v.guest} address 0x${v.address.toString(16)}: expected ${v.expected}, got ${v.actual} (${v.what}; seed ${v.seed})`);
  for (const m of r.counter_mismatches.slice(0, 10)) lines.push(`  MISMATCH ${m}`);
  for (const f of r.guest_failures.slice(0, 10)) lines.push(`  FAILED ${f}`);
  lines.push(r.ok ? '  OK' : '  FAILED');
  return lines;
}
