// stress-run.ts — owns one `ksmsim stress` run on real workers: start a host, launch stress guests
// (guests/stress/stress-guest.ts), let the merge engine run flat out while a chaos loop flips its
// knobs (and, with faults, kills guests, kills and restarts ksmd, and squeezes memory), then quiesce,
// let the engine do two quiet rounds, verify every guest's memory against its shadow, recount every
// counter from the page tables, and account for every frame.
//
// The same run for every engine (--engine): ksmd (ksm), DKSM merging inside the guests' madvise calls,
// UKSM's whole-system scanner. Per engine only the knobs, the chaos, the quiet rounds and the recount
// differ (ENGINE_STRESS below). Under DKSM the guests make a region read-only before advising it
// (--readonly-advise), as DKSM needs; with `writable` they do not, and a byte another guest changed in
// place through its writable DKSM first page is reported as DKSM's writable-region hazard, by name,
// not as a violation.

import { ErrnoError } from '../mem/errno.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { Host, type GuestHandle, type GuestReport } from '../host/host.ts';
import type { BrokenProtocol, EngineEvents } from '../ksm/ksm-engine.ts';
import type { KsmdStats } from '../ksm/ksmd-worker.ts';
import { KHUGEPAGED_DIR } from '../ksm/sysfs.ts';
import { CTL_KSM_ENTERED, type GuestSpaceHandles } from '../mem/guest-control.ts';
import {
  CMD_EXIT, CMD_PAUSE, CMD_QUIESCE, CMD_RUN, CMD_VERIFY, CP_RESULT, HostControlPage, STRESS_COUNTERS, type StressCounter,
} from './control-page.ts';
import { Prng, mixSeed } from '../platform/prng.ts';
import { recountEngineHost, recountHost, repairAfterKsmdDeath, type RepairResult } from './recount.ts';
import { projectPath } from '../platform/project-root.ts';
import { DEFAULT_ENGINE, engineDir, type EngineName } from '../engines/engine.ts';
import { DKSM_HAZARD } from '../engines/dksm/dksm-hazard.ts';
import type { ThpMode } from '../mem/thp.ts';

const GUEST_PROGRAM = projectPath('guests', 'stress', 'stress-guest.ts');

export interface StressOptions {
  readonly guests: number;
  readonly seconds: number;
  readonly seed: number;
  /** Fault injection: kill guests mid-write/COW, kill and restart ksmd, run short of memory. */
  readonly faults?: boolean;
  /** Host memory (default: plenty, or tight with faults or swap). */
  readonly memoryBytes?: number;
  /**
   * Swap space: memory is then tight (as with faults), the guests also madvise(MADV_PAGEOUT/COLD),
   * and ksmd's reclaim swaps KSM pages out of every mapping; the report counts swap traffic.
   */
  readonly swapBytes?: number;
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
  /** The merge engine (default ksm). */
  readonly engine?: EngineName;
  /** dksm: advise writable regions too (DKSM's hazard then shows, named, not as violations). */
  readonly writable?: boolean;
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
  /** The frame the guest's page mapped when it saw the difference (-1: none). */
  readonly frame?: number;
  /** The shared frame the page's bytes were last copied from (a copy-on-write or an unmerge), if any. */
  readonly from?: number;
}

export interface StressReport {
  readonly seed: number;
  readonly engine: EngineName;
  /** dksm: whether regions were advised while writable. */
  readonly writable: boolean;
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
  /** dksm, writable regions: differences another page's in-place write through its writable DKSM first page explains (the first 100), and how many. */
  readonly dksm_hazards: StressViolation[];
  readonly dksm_hazard_count: number;
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
  /** The engine's own files at the audit (dksm, uksm). */
  readonly engine_files?: Record<string, string>;
  /** With --swap: the swap traffic (/proc/vmstat) and ksmd's KSM swap-outs; null without swap. */
  readonly swap: StressSwap | null;
  /** The host's THP lines of /proc/vmstat at the end (huge faults, splits, collapses) and khugepaged's counters: --thp. */
  readonly thp_events?: Record<string, number>;
  readonly ok: boolean;
}

export interface StressSwap {
  readonly swap_bytes: number;
  readonly pswpout: number;
  readonly pswpin: number;
  /** KSM pages ksmd's reclaim swapped out of every mapping, and private pages it took from any guest. */
  readonly ksm_swap_outs: number;
  readonly private_swap_outs_by_reclaim: number;
  readonly ksm_swpin_copy: number;
  readonly cow_ksm: number;
  readonly pageouts: number;
  /** Swap slots still allocated once every guest exited (must be 0). */
  readonly leaked_slots_after_exit: number;
}


/** What differs per engine: its knobs at start and at the audit, its chaos, and how to wait for two quiet rounds. */
interface EngineStress {
  readonly start: ReadonlyArray<readonly [string, number | string]>;
  readonly quiesce: ReadonlyArray<readonly [string, number | string]>;
  chaos(rng: Prng, setKnob: (k: string, v: number | string) => Promise<boolean>, numaNodes: number): Promise<void>;
  /** The counter that counts rounds (undefined: the engine has no rounds to wait for). */
  readonly rounds?: string;
}

const UKSM_FLAT_OUT = 'MAX/1 MAX/1 MAX/1 MAX/1';

const ENGINE_STRESS: Record<EngineName, EngineStress> = {
  ksm: {
    start: [['sleep_millisecs', 0], ['pages_to_scan', 2000], ['run', 1]],
    // Chains of max_page_sharing dups collapse lazily (chain_prune, every
    // stable_node_chains_prune_millisecs, as in the kernel): prune at every batch so the quiet scans
    // leave the chain counters settled too.
    quiesce: [['run', 1], ['sleep_millisecs', 0], ['pages_to_scan', 5000], ['stable_node_chains_prune_millisecs', 0]],
    chaos: (rng, setKnob, numaNodes) => chaosStep(rng, setKnob, numaNodes),
    rounds: 'full_scans',
  },
  dksm: {
    start: [['run', 1]],
    quiesce: [['run', 1]],
    // run 1 → 0 frees the table and zeroes the counters under the lock while other guests advise.
    chaos: async (rng, setKnob) => {
      if (rng.chance(0.1)) await setKnob('run', 0);
      if (rng.chance(0.5)) await setKnob('run', 1);
    },
  },
  uksm: {
    // Every rung at max_cpu: the scanner runs flat out on every area, whatever rung it is on.
    start: [['sleep_millisecs', 1], ['max_cpu_percentage', 99], ['cpu_ratios', UKSM_FLAT_OUT]],
    quiesce: [['run', 1], ['sleep_millisecs', 1], ['max_cpu_percentage', 99], ['cpu_ratios', UKSM_FLAT_OUT], ['eval_intervals', '0 0 0 0']],
    chaos: async (rng, setKnob) => {
      if (!rng.chance(0.35)) return;
      const x = rng.below(100);
      if (x < 25) await setKnob('run', rng.pick([1, 1, 1, 0]));
      else if (x < 40) await setKnob('cpu_governor', rng.pick(['full', 'medium', 'low', 'quiet']));
      else if (x < 55) await setKnob('cpu_ratios', rng.pick([UKSM_FLAT_OUT, '20 40 MAX/4 MAX/1', 'MAX/2 MAX/2 MAX/1 MAX/1', '100 200 300 400']));
      else if (x < 70) await setKnob('eval_intervals', rng.pick(['1000 500 200 50', '10 10 10 10', '0 0 0 0', '5 50 500 5000']));
      else if (x < 80) await setKnob('max_cpu_percentage', rng.pick([10, 50, 99]));
      else if (x < 90) await setKnob('abundant_threshold', rng.pick([0, 1, 10, 99]));
      else await setKnob('sleep_millisecs', rng.pick([1, 2, 5]));
      // The quiet governor and run=0 slow it to a crawl: back to flat out soon so merging keeps going.
      if (rng.chance(0.5)) {
        await setKnob('run', 1);
        await setKnob('cpu_ratios', UKSM_FLAT_OUT);
        await setKnob('max_cpu_percentage', 99);
      }
    },
    rounds: 'full_scans',
  },
};

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
  const swapBytes = o.swapBytes ?? 0;
  const memoryBytes = o.memoryBytes ?? (faults || swapBytes
    ? Math.max(numaNodes * 64 * PAGE_SIZE, Math.ceil(0.7 * o.guests * perGuest + 48) * PAGE_SIZE)
    : Math.max(64 * 2 ** 20, 4 * o.guests * perGuest * PAGE_SIZE));
  const engine = o.engine ?? DEFAULT_ENGINE;
  const es = ENGINE_STRESS[engine];
  const knobDir = engineDir(engine);
  const readonlyAdvise = engine === 'dksm' && !o.writable;
  const violations: StressViolation[] = [];
  // Frames a guest wrote in place through its writable DKSM first page: frame → the writing pages ("pid:vpage").
  const inplace = new Map<number, Set<string>>();
  const guestFailures: string[] = [];
  /** Guests that exited with status 3 (they saw violations): failures unless DKSM's hazard explains all they saw. */
  const violationExits: GuestReport[] = [];
  const rng = new Prng(mixSeed(o.seed, 0xc4a05));
  const host = await Host.start({
    memoryBytes, numaNodes, engine, swapBytes: swapBytes || undefined, thp: o.thp,
    ksmdOptions: o.brokenProtocol && o.brokenProtocol !== 'none' ? { brokenProtocol: o.brokenProtocol } : {},
    onLog: (line) => {
      const m = /^\[[^\]]*\] @violation (.*)$/.exec(line);
      const w = /^\[[^\]]*\] @inplace (.*)$/.exec(line);
      if (m) {
        // The guest names its own seed; the report names the run's (which derives the guest's).
        const v = JSON.parse(m[1]!) as StressViolation & { seed: number };
        if (violations.length < 10_000) violations.push({ ...v, guest_seed: v.seed, seed: o.seed });
      } else if (w) {
        const x = JSON.parse(w[1]!) as { guest: number; vpage: number; frame: number };
        if (!inplace.has(x.frame)) inplace.set(x.frame, new Set());
        inplace.get(x.frame)!.add(`${x.guest}:${x.vpage}`);
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
  const pastEvents: EngineEvents = { merges: 0, mergeAborts: 0, zeroMerges: 0, unmerges: 0, deferredFrees: 0, ksmSwapOuts: 0, privateSwapOuts: 0 };
  const addEvents = (st: KsmdStats, into: EngineEvents = pastEvents): EngineEvents => {
    for (const k of Object.keys(into) as (keyof EngineEvents)[]) into[k] += st.events[k];
    return into;
  };

  const setKnob = async (k: string, v: number | string): Promise<boolean> => {
    try {
      await host.writeFile(knobDir + k, String(v));
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
    if (readonlyAdvise) args.push('--readonly-advise');
    if (swapBytes) args.push('--pageout');
    // The stress guest reads its own page table (copy-on-write counting, DKSM's in-place writes).
    const handle = host.launch(GUEST_PROGRAM, { name: `${victim ? 'victim' : 'stress'}.${n}`, args, exposePageTable: true });
    const g: LiveGuest = { handle, victim, last: zeroCounters(), ended: false };
    void handle.done.then((r) => {
      g.ended = true;
      g.report = r;
      foldCounters(g);
      if (r.status === 'oom-killed') oomKills++;
      else if (r.status === 'failed' && r.exitCode === 3) violationExits.push(r);
      else if (r.status === 'failed' && !g.victim && !/killed/.test(r.error ?? '')) guestFailures.push(`${r.name} (pid ${r.pid}): ${r.error}`);
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
    for (const [k, v] of es.start) await setKnob(k, v);
    for (let i = 0; i < o.guests; i++) launch(false);
    await waitControlPages(guests);
    log(`stress: ${o.guests} guests on ${memoryBytes / 2 ** 20} MiB (${numaNodes} nodes)${swapBytes ? ` + ${swapBytes / 2 ** 20} MiB swap` : ''}, engine ${engine}${engine === 'dksm' ? (readonlyAdvise ? ' (read-only regions)' : ' (writable regions)') : ''}, seed ${o.seed}${faults ? ', faults on' : ''}`);

    // ───────────── the chaos loop ─────────────
    const loopStarted = performance.now();
    const endAt = loopStarted + o.seconds * 1000;
    let victim: LiveGuest | undefined;
    let victimKillAt = 0;
    let nextKsmdKill = performance.now() + 300 + rng.below(700);
    let restarting: Promise<void> | undefined;
    let lastProgress = 0;
    // With faults, the run goes on (at most 60 s more) until at least one guest was killed and (ksm)
    // one ksmd restarted, however slowly the workers boot on a loaded machine.
    const faultsPending = () => faults && (guestsKilled === 0 || (engine === 'ksm' && ksmdRestarts === 0 && !restarting));
    while (performance.now() < endAt || (faultsPending() && performance.now() < endAt + 60_000)) {
      await sleep(5 + rng.below(30));
      for (const g of live()) snapshot(g);
      if (o.progress && performance.now() - lastProgress > 250) {
        lastProgress = performance.now();
        let ops = totals.ops;
        for (const g of guests) if (!folded.has(g)) ops += g.last.ops;
        o.progress(`[ksmsim] stress ${((lastProgress - loopStarted) / 1000).toFixed(1)}/${o.seconds} s · ${live().length} guests · ops ${ops} · ${engine === 'ksm' ? `pages_sharing ${host.ksm.get('pages_sharing')}` : engine} · knob changes ${knobChanges}${faults ? ` · killed ${guestsKilled} · ksmd restarts ${ksmdRestarts}` : ''}`);
      }
      if (o.chaos ?? true) await es.chaos(rng, setKnob, numaNodes);
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
        if (engine === 'ksm' && !restarting && performance.now() >= nextKsmdKill) {
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
    for (const [k, v] of es.quiesce) await setKnob(k, v);
    await waitControlPages(live());
    await commandAll(CMD_QUIESCE);
    if (engine === 'ksm') await quietScans(host, live().map((g) => g.handle.handles));
    else if (es.rounds) await quietRounds(host, knobDir + es.rounds);
    await commandAll(CMD_VERIFY);
    // The verification reads every page back, and so swaps in what ksmd's reclaim swapped out during
    // the quiet scans: pages present again whose rmap items ksmd dropped when it found them swapped.
    // Scan until two full passes go by without a swap-out, so that ksmd's items and the recount
    // describe the same page tables (reclaim stops once free frames are back above its watermark).
    if (engine === 'ksm' && swapBytes) await quietScansWithoutSwapOut(host, live().map((g) => g.handle.handles));
    let unverified = 0;
    for (const g of live()) unverified += g.cp?.get(CP_RESULT) ?? 0;
    // Stop the engine between batches so that its counters, its chain census and the recount
    // describe one and the same moment (a search may still prune a chain: stale dups are pruned lazily).
    // (DKSM has nothing running to stop, and its run 1 → 0 would zero its counters.)
    if (engine !== 'dksm') await setKnob('run', 0);
    const spaces = live().map((g) => g.handle.handles);
    let stats: KsmdStats | undefined;
    let audit: ReturnType<typeof recountHost>;
    if (engine === 'ksm') {
      const lastStats = await host.ksmd!.stats();
      stats = { ...lastStats, events: addEvents(lastStats, { ...pastEvents }) };
      audit = recountHost(host, spaces, lastStats.chains);
      if (stats.pendingFrees !== 0) audit.mismatches.push(`ksmd still holds ${stats.pendingFrees} deferred frees after quiet scans`);
    } else {
      // UKSM frees a replaced page once its guest is off it; the guests are quiet now.
      host.engine.drain?.();
      audit = recountEngineHost(host, spaces);
    }
    const { recount, mismatches } = audit;
    const finalCounters = host.files.counters() as Record<string, number>;
    const engineFiles = host.engine.snapshot?.();
    if (engine !== 'dksm') await setKnob('run', 1);

    await commandAll(CMD_EXIT);
    await Promise.all(guests.map((g) => g.handle.done));
    for (const g of guests) foldCounters(g);
    // Every guest is gone: the engine must let go of everything and every frame must be free again.
    await sleep(100);
    host.engine.drain?.();
    const usable = host.memory.nodes.reduce((n, _r, i) => n + host.memory.usableFrames(i), 0);
    let leakedAfterExit = usable - host.memory.freeFrames();
    const swap = host.memory.swap;
    const leakedSlots = () => (swap ? swap.slots - swap.freeSlots() : 0);
    for (let i = 0; i < 50 && (leakedAfterExit !== 0 || leakedSlots() !== 0); i++) {
      await sleep(20);
      leakedAfterExit = usable - host.memory.freeFrames();
    }
    const vm = host.memory.vmstat;
    const swapReport: StressSwap | null = swap ? {
      swap_bytes: swapBytes, pswpout: vm.get('pswpout'), pswpin: vm.get('pswpin'), ksm_swap_outs: stats?.events.ksmSwapOuts ?? 0, private_swap_outs_by_reclaim: stats?.events.privateSwapOuts ?? 0,
      ksm_swpin_copy: vm.get('ksm_swpin_copy'), cow_ksm: vm.get('cow_ksm'), pageouts: totals.pageouts, leaked_slots_after_exit: leakedSlots(),
    } : null;

    const elapsed = (performance.now() - started) / 1000;
    // DKSM's hazard: a difference on a frame another guest wrote in place through its writable first page.
    const hazards: StressViolation[] = [];
    const protocol = violations.filter((v) => {
      const self = `${v.guest}:${Math.floor(v.address / PAGE_SIZE)}`;
      const writers = [v.frame, v.from].flatMap((f) => (f === undefined ? [] : [...(inplace.get(f) ?? [])]));
      if (engine !== 'dksm' || !writers.some((w) => w !== self)) return true;
      hazards.push({ ...v, what: `${DKSM_HAZARD}: ${v.what}` });
      return false;
    });
    if (unverified && violations.length === 0) {
      protocol.push({ guest: -1, address: -1, expected: -1, actual: -1, seed: o.seed, what: `${unverified} bytes differ at the final verification` });
    }
    // A guest exits 3 for any violation it saw, hazards included: only one that saw something else failed.
    const failures = [...guestFailures];
    for (const r of violationExits) {
      if (protocol.some((v) => v.guest === r.pid) || !hazards.some((h) => h.guest === r.pid)) failures.push(`${r.name} (pid ${r.pid}): exited with violations`);
    }
    const report: StressReport = {
      seed: o.seed,
      engine,
      writable: engine === 'dksm' && !readonlyAdvise,
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
      merges: stats ? stats.events.merges + stats.events.zeroMerges : engineMerges(engine, engineFiles),
      merge_aborts: stats?.events.mergeAborts ?? 0,
      zero_merges: stats?.events.zeroMerges ?? 0,
      cows: totals.cows,
      unmerges: totals.unmerges + (stats?.events.unmerges ?? 0),
      knob_changes: knobChanges,
      knob_refusals: knobRefusals,
      guest_counters: totals,
      violations: protocol.slice(0, 100),
      dksm_hazards: hazards.slice(0, 100),
      dksm_hazard_count: hazards.length,
      counter_mismatches: mismatches,
      leaked_frames: recount.leakedFrames,
      leaked_frames_after_exit: leakedAfterExit,
      guest_failures: failures,
      fault_events: { guests_killed: guestsKilled, oom_kills: oomKills, ksmd_restarts: ksmdRestarts, ksmd_repairs: repairs },
      final_counters: finalCounters,
      ...(engineFiles ? { engine_files: engineFiles } : {}),
      swap: swapReport,
      ...(o.thp ? {
        thp_events: {
          ...Object.fromEntries(Object.entries(host.memory.vmstat.snapshot()).filter(([k]) => k.startsWith('thp_'))),
          khugepaged_full_scans: host.ksm.get('khugepaged_full_scans'),
          khugepaged_pages_collapsed: host.ksm.get('khugepaged_pages_collapsed'),
        },
      } : {}),
      ok: false,
    };
    // Read-only DKSM regions must show no hazard at all; writable ones may (named, not failures).
    const hazardsOk = hazards.length === 0 || report.writable;
    const unexplained = totals.violations - hazards.length;
    return { ...report, ok: protocol.length === 0 && hazardsOk && mismatches.length === 0 && recount.leakedFrames === 0 && leakedAfterExit === 0 && (swapReport?.leaked_slots_after_exit ?? 0) === 0 && failures.length === 0 && unexplained <= 0 };
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

/** quietScans, again, until a pair of them saw no swap-out (bounded: reclaim only runs below its watermark). */
async function quietScansWithoutSwapOut(host: Host, spaces: readonly GuestSpaceHandles[]): Promise<void> {
  const vm = host.memory.vmstat;
  for (let i = 0; i < 20; i++) {
    const before = vm.get('pswpout');
    await quietScans(host, spaces);
    if (vm.get('pswpout') === before) return;
  }
  throw new Error(`ksmd's reclaim kept swapping out through 20 pairs of quiet full scans (pswpout ${vm.get('pswpout')})`);
}

/**
 * Two more rounds of a scanning engine (UKSM's full_scans) with the guests quiet. A scanner with no
 * area to scan finishes no round: when neither the rounds nor pages_scanned move for a while, there
 * is nothing left to wait for.
 */
async function quietRounds(host: Host, roundsFile: string): Promise<void> {
  const read = (p: string) => Number(host.readFile(p).trim());
  const scannedFile = roundsFile.replace(/[^/]+$/, 'pages_scanned');
  const target = read(roundsFile) + 2;
  const deadline = Date.now() + 120_000;
  let scanned = read(scannedFile);
  let still = Date.now();
  while (read(roundsFile) < target) {
    if (Date.now() > deadline) throw new Error(`the ${roundsFile} scanner did not finish two quiet rounds in 120 s (${read(roundsFile)} of ${target})`);
    const now = read(scannedFile);
    if (now !== scanned) {
      scanned = now;
      still = Date.now();
    } else if (Date.now() - still > 2000) return;
    await sleep(5);
  }
}

/** Merges an engine reports in its own files (DKSM's pages_merged; UKSM's pages_sharing at the audit). */
function engineMerges(engine: EngineName, files: Record<string, string> | undefined): number {
  if (!files) return 0;
  return Number(engine === 'dksm' ? files.pages_merged : files.pages_sharing) || 0;
}

/** One chaos tick: maybe flip one knob to a random allowed value (EBUSY and friends are expected). */
async function chaosStep(rng: Prng, setKnob: (k: string, v: number | string) => Promise<boolean>, numaNodes: number): Promise<void> {
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
  const regions = r.engine === 'dksm' ? (r.writable ? ', writable regions' : ', read-only regions') : '';
  const lines = [
    `stress: ${r.guests} guests, ${r.seconds} s of chaos (${r.elapsed_seconds} s in all), engine ${r.engine}${regions}, seed ${r.seed}${r.faults ? ', faults' : ''}${r.broken_protocol !== 'none' ? `, BROKEN PROTOCOL ${r.broken_protocol}` : ''}`,
    `  ops ${r.ops} (${r.ops_per_second}/s): reads ${r.reads}, writes ${r.writes}, memsets ${r.memsets}`,
    `  merges ${r.merges} (aborted ${r.merge_aborts}), copy-on-writes ${r.cows}, unmerges ${r.unmerges}, knob changes ${r.knob_changes}`,
  ];
  if (r.faults) {
    const f = r.fault_events;
    const rep = f.ksmd_repairs.reduce((a, x) => ({ m: a.m + x.mapcountsFixed, p: a.p + x.privateMapcountsCleared, f: a.f + x.framesReclaimed, z: a.z + x.zeroPageCountersFixed, s: a.s + x.swapSlotsFixed, h: a.h + x.hugeCountsFixed }), { m: 0, p: 0, f: 0, z: 0, s: 0, h: 0 });
    lines.push(`  faults: guests killed ${f.guests_killed}, OOM kills ${f.oom_kills}, ksmd restarts ${f.ksmd_restarts} (repaired ${rep.m} KSM mapcounts, ${rep.p} private mapcounts, ${rep.z} ksm_zero_pages counters, ${rep.s} swap counts, ${rep.h} huge-page counts, reclaimed ${rep.f} frames ksmd held), EAGAIN ${r.guest_counters.eagain}, ENOMEM ${r.guest_counters.enomem}`);
  }
  if (r.swap) {
    const w = r.swap;
    lines.push(`  swap ${w.swap_bytes / 2 ** 20} MiB: pswpout ${w.pswpout}, pswpin ${w.pswpin}, KSM pages swapped out of every mapping ${w.ksm_swap_outs}, private pages reclaimed by ksmd ${w.private_swap_outs_by_reclaim}, ksm_swpin_copy ${w.ksm_swpin_copy}, cow_ksm ${w.cow_ksm}, PAGEOUT/COLD calls ${w.pageouts}, slots left after exit ${w.leaked_slots_after_exit}`);
  }
  if (r.engine === 'dksm') lines.push(`  ${DKSM_HAZARD}s ${r.dksm_hazard_count}${r.writable ? ' (named, not violations)' : ''}`);
  if (r.thp_events) lines.push(`  THP: ${Object.entries(r.thp_events).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`  violations ${r.violations.length}, counter mismatches ${r.counter_mismatches.length}, leaked frames ${r.leaked_frames} (after exit ${r.leaked_frames_after_exit}), guest failures ${r.guest_failures.length}`);
  for (const v of r.violations.slice(0, 10)) lines.push(`  VIOLATION guest ${v.guest} address 0x${v.address.toString(16)}: expected ${v.expected}, got ${v.actual} (${v.what}; seed ${v.seed})`);
  for (const m of r.counter_mismatches.slice(0, 10)) lines.push(`  MISMATCH ${m}`);
  for (const f of r.guest_failures.slice(0, 10)) lines.push(`  FAILED ${f}`);
  for (const h of r.dksm_hazards.slice(0, 3)) lines.push(`  ${h.what} — guest ${h.guest} address 0x${h.address.toString(16)}: expected ${h.expected}, got ${h.actual} (frame ${h.frame}, written in place by another guest)`);
  lines.push(r.ok ? '  OK' : '  FAILED');
  return lines;
}
