// explore.ts — owns the seeded scheduler of the deterministic simulation: run interleavings of the
// model (model.ts) one step at a time, check the invariants after every step, and on a violation
// shrink the schedule to the shortest replay it can find and print it step by step.
//
// Interleaving k of a run with --seed X uses seed X+k for everything: the model's configuration
// and guest programs, and the scheduler's choices. `--seed X+k --interleavings 1` replays it
// exactly; `--seed X+k --replay a,b,c…` replays a given schedule (actor numbers: guests 0…G−1,
// ksmd G). When a schedule runs out, the remaining actors finish in a fixed order (guests in turn,
// then ksmd), so every replay ends with the final, exact accounting check.

import { Prng, mixSeed } from '../../platform/prng.ts';
import { DKSM_HAZARD } from './model-engines.ts';
import { SIM_HPAGE, STEP_KINDS, THP_BROKEN, SimModel, fmt, SimViolation, type SimBroken, type SimConfig, type SimScript, type Step, type StepKind } from './model.ts';

export type { SimBroken } from './model.ts';

/** The merge engine an exploration runs under (model-engines.ts), and for DKSM whether its regions stay writable. */
export interface SimEngineChoice {
  readonly engine: 'ksm' | 'dksm' | 'uksm';
  readonly writable?: boolean;
}
const KSM_ENGINE: SimEngineChoice = { engine: 'ksm' };

export interface ExploreOptions {
  readonly seed: number;
  /** Scheduler choices per interleaving before the deterministic finish (default 400). */
  readonly stepsPerInterleaving?: number;
  /** Stop after this many interleavings (default: no limit, but some bound must be given). */
  readonly interleavings?: number;
  /** Stop once this many steps were run in all (default: no limit). */
  readonly steps?: number;
  readonly broken?: SimBroken;
  /** Also kill a guest at a random step (then the host reclaims it), in a third of the interleavings. */
  readonly killGuests?: boolean;
  /** Also kill ksmd at a random step (repair, restart), in a third of the interleavings. */
  readonly killKsmd?: boolean;
  /**
   * The model as it stood before issue 11 (no swap, no read-only private pages, no sysfs writers),
   * for replays recorded then. Default false: every path.
   */
  readonly core?: boolean;
  /** Stop at the first violation (default true). */
  readonly stopAtFirst?: boolean;
  /** Replays the shrinker may try (default 3000). */
  readonly shrinkBudget?: number;
  /** The merge engine (default ksm). */
  readonly engine?: SimEngineChoice;
  /** Transparent huge pages (transparent_hugepage/enabled = always; ksm only): model-thp.ts. */
  readonly thp?: boolean;
  readonly progress?: (done: number) => void;
}

export interface SimFailure {
  readonly seed: number;
  readonly violation: string;
  /** Scheduler choices until the violation showed. */
  readonly steps: number;
  /** The shortest schedule found that still breaks an invariant. */
  readonly replay: string;
  readonly replaySteps: number;
  readonly replayViolation: string;
  readonly trace: string[];
  readonly command: string;
}

export interface ExploreResult {
  readonly seed: number;
  readonly broken: SimBroken;
  readonly engine: SimEngineChoice;
  /** DKSM, writable regions: differences its writable-region hazard explains (named, not violations), and the first. */
  readonly dksm_hazards: number;
  readonly dksm_hazard_example?: { seed: number; what: string };
  readonly interleavings: number;
  readonly distinct_schedules: number;
  readonly steps_total: number;
  readonly steps_per_second: number;
  readonly seconds: number;
  readonly merges: number;
  readonly cows: number;
  /** Pages ksmd unmerged for run=2. */
  readonly unmerges: number;
  /** KSM pages ksmd's reclaim swapped out of every mapping, and swap-ins that found their KSM page in the swap cache. */
  readonly ksm_swap_outs: number;
  readonly swap_cache_swap_ins: number;
  /** Private pages ksmd's reclaim took from a guest (write-protect, copy, exchange). */
  readonly private_swap_outs: number;
  readonly violations: number;
  /** Steps by the operation their actor was in (model-memory.ts STEP_KINDS). */
  readonly steps_by_kind: Record<StepKind, number>;
  /**
   * Interleavings whose only flaw is a known residual leak (documented): guest 0 was killed in a
   * window the real code documents, holding a frame, a KSM reference or a ksm_zero_pages count that
   * no in-flight word records (model-invariants.ts checkFinal). Counted, not failed.
   */
  readonly residual_leaks: number;
  /** The first of them, to replay. */
  readonly residual_example?: { seed: number; why: string };
  /** With thp: huge-page events summed over the interleavings, and kills that left the THP counter off (known, not violations). */
  readonly thp?: ThpTotals;
  readonly failure?: SimFailure;
}

export interface ThpTotals {
  faults: number;
  fallbacks: number;
  splits: number;
  zero_remaps: number;
  collapses: number;
  collapse_eagain: number;
  /** MADV_COLLAPSE found the head made huge by khugepaged meanwhile and replaced it (uncounting it). */
  collapse_over_huge: number;
  khugepaged_collapses: number;
  khugepaged_abandoned: number;
  /** khugepaged split a block again after its head's install: the guest had split off and changed a tail. */
  settle_splits: number;
  /**
   * Kills after which the repair corrected nr_anon_transparent_hugepages: the reclaimed guest's
   * retired slot held a count (a change the dead thread never counted, or one ksmd was still to
   * count), or the repair after a killed ksmd recounted a guest's slot. A count still off after
   * a repair is a violation (invariant 6).
   */
  count_repairs: number;
}

interface RunResult {
  violation?: string;
  /** Choices made (actor per step) until the end or the violation. */
  choices: number[];
  steps: number;
  trace?: string[];
  merges: number;
  cows: number;
  unmerges: number;
  ksmSwapOuts: number;
  cacheSwapIns: number;
  privateSwapOuts: number;
  /** 1 if the run ended with a documented residual leak only. */
  residual: number;
  residualWhy: string;
  /** Steps per STEP_KINDS index. */
  kinds: number[];
  hazards: number;
  hazardExample: string;
  thp?: ThpTotals;
}

/** Which kills an exploration may inject: 1 a guest, 2 ksmd. */
export type SimKills = number;
export const KILL_GUEST = 1;
export const KILL_KSMD = 2;

/**
 * The configuration of interleaving `seed`. The paths added by issue 11 (swap under memory
 * pressure, read-only private pages, sysfs writers) are drawn from a second generator, so the
 * core draws — and the replays recorded before — stay what they were.
 */
function configFor(rng: Prng, broken: SimBroken, kills: SimKills, seed: number, core: boolean, engine: SimEngineChoice, thp = false): SimConfig {
  const guests = rng.chance(0.7) ? 2 : 3;
  const pages = guests === 2 ? 2 + rng.below(2) : 2;
  const ext = new Prng(mixSeed(seed, 0x11e5));
  const swap = !core && ext.chance(0.5);
  const readOnlyPages = !core && ext.chance(0.5);
  // sysfs writers: each writes `run` once or twice (2 = unmerge all, 1, 0) through the request channel.
  const writers: number[][] = [];
  const nWriters = core ? 0 : ext.pick([0, 0, 1, 2]);
  for (let w = 0; w < nWriters; w++) {
    const values: number[] = [];
    for (let i = 1 + ext.below(2); i > 0; i--) values.push(ext.pick([2, 2, 1, 0]));
    writers.push(values);
  }
  const extended = {
    // With swap, one frame per page and no more: faults run short of frames and page out.
    slots: swap ? guests * pages : 0,
    readOnlyPages,
    writers,
    killWriter: nWriters > 0 && ext.chance(0.5),
  };
  const base = {
    guests,
    pages,
    frames: guests * pages + 4,
    opsPerGuest: 3 + rng.below(4),
    spins: 1 + rng.below(2),
    useZero: rng.chance(0.5),
    maxSharing: rng.pick([2, 256]),
    broken,
    killGuest: (kills & KILL_GUEST) !== 0 && rng.chance(1 / 3),
    killKsmd: (kills & KILL_KSMD) !== 0 && rng.chance(0.5),
    run2AfterPass: rng.chance(0.3) ? 1 + rng.below(3) : -1,
  };
  // KSM pages in swap (issue 15), drawn after everything above so older configurations stay as
  // they were: the swap cache, MADV_PAGEOUT and ksmd's reclaim of KSM pages.
  const ksmSwap = swap && ext.chance(0.6);
  const pageouts: { g: number; at: number; p: number }[] = [];
  if (ksmSwap) {
    for (let g = 0; g < guests; g++) if (ext.chance(0.7)) pageouts.push({ g, at: ext.below(base.opsPerGuest + 1), p: ext.below(pages) });
  }
  const cfg = { ...base, ...extended, frames: swap ? guests * pages + 1 : base.frames, ksmSwap, pageouts };
  if (thp) {
    // Two guests of one block each (model-memory.ts SIM_HPAGE); frames for both blocks and three
    // folios more (one more with swap: faults then fall back, and swap-outs split).
    return {
      ...cfg, thp: true, guests: 2, pages: SIM_HPAGE, frames: (swap ? 3 : 5) * SIM_HPAGE, slots: swap ? 2 * SIM_HPAGE : 0,
      pageouts: pageouts.filter((o) => o.g < 2),
    };
  }
  if (engine.engine === 'ksm') return cfg;
  // The other engines: no ksmd to kill, no sysfs request channel, no run=2, and no KSM pages in swap
  // (ksmd's reclaim and its swap cache are ksmd's; drawn all the same, so a seed's memory, programs
  // and schedule are the ones ksm gets).
  return { ...cfg, engine: engine.engine, dksmWritable: engine.writable ?? false, writers: [], killWriter: false, killKsmd: false, run2AfterPass: -1, ksmSwap: false, pageouts: [] };
}

/** One interleaving: random choices from `seed`, or the given schedule. */
export function runInterleaving(seed: number, maxSteps: number, broken: SimBroken, schedule?: readonly number[], tracing = false, kills: SimKills = 0, core = false, engine: SimEngineChoice = KSM_ENGINE, thp = false): RunResult {
  const rng = new Prng(seed);
  return runModel(seed, maxSteps, broken, configFor(rng, broken, kills, seed, core, engine, thp), rng, undefined, schedule, tracing);
}

/**
 * A scripted interleaving (tests): the configuration, the initial memory and the programs are
 * given, the schedule too (then the fixed-order finish, as for any replay).
 */
export function runScripted(cfg: SimConfig, script: SimScript, schedule: readonly number[]): RunResult {
  return runModel(0, 0, cfg.broken, cfg, new Prng(0), script, schedule, true);
}

function runModel(seed: number, maxSteps: number, broken: SimBroken, cfg: SimConfig, rng: Prng, script: SimScript | undefined, schedule: readonly number[] | undefined, tracing: boolean): RunResult {
  const m = new SimModel(cfg, rng, script);
  m.tracing = tracing;
  const actors: Step[] = [];
  for (let g = 0; g < cfg.guests; g++) actors.push(m.guest(g));
  actors.push(m.engineActor());
  // Actor G+1 (with killGuest or killKsmd): first "kill guest 0" (one step: worker.terminate()),
  // then the host's reclaim of it, as its own actor; or "kill ksmd", then the host's repair, after
  // which a new ksmd takes actor G's place.
  // Actors after those: the sysfs writers (each a root process writing `run`).
  const KSMD = cfg.guests;
  const KILLER = cfg.guests + 1;
  const killer = cfg.killGuest || cfg.killKsmd;
  const killWriter = cfg.killGuest && (cfg.writers?.length ?? 0) > 0 && cfg.killWriter === true;
  let killed = false;
  if (killer) {
    actors.push((function* (): Step {
      yield '';
    })());
  }
  const FIRST_WRITER = actors.length;
  const nWriters = cfg.writers?.length ?? 0;
  for (let w = 0; w < nWriters; w++) actors.push(m.writer(w));
  const KIND_SYSFS = STEP_KINDS.indexOf('sysfs_request');
  const n = actors.length;
  const done = new Uint8Array(n);
  const runnable: number[] = [];
  for (let a = 0; a < n; a++) runnable.push(a);
  const sched = new Prng(mixSeed(seed, 0x5c4ed));
  const choices: number[] = [];
  const trace: string[] | undefined = tracing ? [] : undefined;
  let steps = 0;
  const kinds: number[] = new Array<number>(STEP_KINDS.length).fill(0);
  const KIND_KILL = STEP_KINDS.indexOf('kill');
  const stepActor = (a: number): void => {
    if (a === KILLER && killer && !killed) {
      killed = true;
      steps++;
      kinds[KIND_KILL]!++;
      const victim = killWriter ? FIRST_WRITER : cfg.killGuest ? 0 : KSMD;
      const alive = !done[victim];
      if (!done[victim]) {
        done[victim] = 1;
        runnable.splice(runnable.indexOf(victim), 1);
        if (cfg.killGuest && !killWriter) {
          m.guestKilled = true;
          m.killWindow = m.window[0]!;
          m.killWindowFrame = m.windowFrame[0]!;
          m.killWindowDocumented = m.windowDocumented[0] === 1;
          m.killWindowLeak = m.windowLeak[0]!;
        }
      }
      actors[a] = killWriter ? (alive ? m.reapWriter(0) : (function* (): Step {})()) : cfg.killGuest ? m.reclaim(0) : (function* (): Step {
        yield* m.repairAfterKsmdDeath();
        actors[KSMD] = m.ksmd();
        done[KSMD] = 0;
        runnable.push(KSMD);
      })();
      if (trace) trace.push(`${String(steps).padStart(4)}  host: worker.terminate() of ${killWriter ? 'writer 0' : cfg.killGuest ? 'guest 0' : 'ksmd'}${m.killWindow ? ` (guest 0 dies in the window "${m.killWindow}"${m.killWindowFrame >= 0 ? ` of frame ${m.killWindowFrame}` : ''})` : ''}`);
      m.check();
      return;
    }
    const r = actors[a]!.next();
    steps++;
    kinds[a >= FIRST_WRITER ? KIND_SYSFS : m.kindOf[a]!]!++;
    if (r.done) {
      done[a] = 1;
      runnable.splice(runnable.indexOf(a), 1);
      if (trace) trace.push(`${String(steps).padStart(4)}  ${a === cfg.guests ? 'ksmd' : a >= FIRST_WRITER ? `writer ${a - FIRST_WRITER}` : a === KILLER ? (killWriter ? 'host reap' : cfg.killGuest ? 'host reclaim' : 'host repair') : `guest ${a}`} finished`);
    } else if (trace) trace.push(`${String(steps).padStart(4)}  ${r.value}`);
    m.check();
  };
  try {
    if (trace && cfg.engine && cfg.engine !== 'ksm') trace.push(`engine ${cfg.engine}${cfg.engine === 'dksm' ? (cfg.dksmWritable ? ' (writable regions)' : ' (read-only regions: mprotect(PROT_READ) before each MADV_MERGEABLE)') : ' (its scanner is actor ' + cfg.guests + ', in ksmd\'s place)'}`);
    if (trace) trace.push(`seed ${seed}: ${cfg.guests} guests × ${cfg.pages} pages, ${cfg.frames} frames, spins ${cfg.spins}, use_zero_pages ${cfg.useZero ? 1 : 0}, max_page_sharing ${cfg.maxSharing}${cfg.run2AfterPass > 0 ? `, run=2 after pass ${cfg.run2AfterPass}` : ''}${cfg.killGuest ? `, guest 0 killable (actor ${KILLER})` : ''}${cfg.killKsmd ? `, ksmd killable (actor ${KILLER})` : ''}${broken !== 'none' ? `, BROKEN ${broken}` : ''}`);
    if (trace && cfg.thp) trace.push(`      THP always: each guest's pages are one ${SIM_HPAGE}-page block (a folio of ${SIM_HPAGE} frames stands for 512); khugepaged runs on ksmd's thread each pass; huge pages now: ${m.thpPages}`);
    if (trace && cfg.slots) trace.push(`      swap: ${cfg.slots} slots${cfg.ksmSwap ? ', KSM pages swap too (swap cache, MADV_PAGEOUT, ksmd reclaim)' : ''}${cfg.readOnlyPages ? ', some private pages read-only' : ''}`);
    if (trace) for (let w = 0; w < nWriters; w++) trace.push(`      writer ${w} (actor ${FIRST_WRITER + w}${killWriter && w === 0 ? ', killable' : ''}) writes run: ${cfg.writers![w]!.join(', ')}`);
    if (trace) for (let g = 0; g < cfg.guests; g++) trace.push(`      guest ${g} program: ${m.programs[g]!.map((o) => (o.kind === 'write' ? `write p${o.p}=${o.v}` : `${o.kind} p${o.p}`)).join(', ')}`);
    if (trace && cfg.thp) for (let g = 0; g < cfg.guests; g++) trace.push(`      guest ${g} memory: ${Array.from(m.pt.subarray(g * cfg.pages, (g + 1) * cfg.pages), (pte) => fmt(pte)).join(', ')}`);
    if (schedule) {
      for (const a of schedule) {
        if (a < 0 || a >= n || done[a]) continue;
        choices.push(a);
        stepActor(a);
      }
    } else {
      while (runnable.length > 0 && choices.length < maxSteps) {
        const a = runnable[sched.below(runnable.length)]!;
        choices.push(a);
        stepActor(a);
      }
    }
    if (trace && runnable.length) trace.push('      — schedule ends: the rest run in a fixed order (guests, then ksmd) —');
    // Fixed-order finish: guests, then the host's reclaim (a kill not yet done does not happen), then ksmd.
    if (killer && !killed) {
      done[KILLER] = 1;
      runnable.splice(runnable.indexOf(KILLER), 1);
    }
    const order = [...Array(cfg.guests).keys(), ...(killer ? [KILLER] : []), cfg.guests];
    if (cfg.engine === 'dksm') {
      // Guests may wait on DKSM's lock for one another (or for the host to release a dead holder's):
      // the guests and the host take turns until all are done.
      let budget = 1_000_000;
      while (order.slice(0, -1).some((a) => !done[a])) {
        for (const a of order.slice(0, -1)) if (!done[a]) stepActor(a);
        if (--budget === 0) throw new SimViolation(`the guests cannot finish: the DKSM lock is held by ${m.dksmLock ? `guest ${m.dksmLock - 1}` : 'nobody'}`);
      }
      while (!done[KSMD]) stepActor(KSMD);
    } else if (nWriters === 0) {
      for (const a of order) while (!done[a]) stepActor(a);
    } else {
      // Writers wait for ksmd's answer: after the guests and the host, writers and ksmd take turns.
      // A writer that cannot finish (a lock nobody releases) is a violation, not a hang.
      for (const a of order.slice(0, -1)) while (!done[a]) stepActor(a);
      let budget = 100_000;
      while (!done[KSMD] || runnable.some((a) => a >= FIRST_WRITER)) {
        for (const a of [...runnable]) if (!done[a] && a >= FIRST_WRITER) stepActor(a);
        if (!done[KSMD]) stepActor(KSMD);
        if (--budget === 0) {
          const stuck = runnable.filter((a) => a >= FIRST_WRITER).map((a) => `writer ${a - FIRST_WRITER}`);
          throw new SimViolation(`${stuck.join(', ') || 'ksmd'} cannot finish: the request lock is held by ${m.reqLock}${m.reqLock ? ' (a writer killed holding it?)' : ''} (finding 3)`);
        }
      }
    }
    m.checkFinal();
  } catch (e) {
    if (!(e instanceof SimViolation)) throw e;
    if (trace) trace.push(`      VIOLATION: ${e.message}`);
    return { violation: e.message, choices, steps, trace, merges: m.merges, cows: m.cows, unmerges: m.unmerges, ksmSwapOuts: m.ksmSwapOuts, cacheSwapIns: m.cacheSwapIns, privateSwapOuts: m.privateSwapOuts, residual: 0, residualWhy: '', kinds, hazards: m.hazards, hazardExample: m.hazardExample, thp: thpTotals(m, cfg) };
  }
  if (trace && m.residualLeaks) trace.push(`      known residual leak (documented, not a violation): ${m.residualWhy}`);
  if (trace && m.hazards) trace.push(`      ${DKSM_HAZARD} (named, not a violation): ${m.hazards} × — ${m.hazardExample}`);
  return { choices, steps, trace, merges: m.merges, cows: m.cows, unmerges: m.unmerges, ksmSwapOuts: m.ksmSwapOuts, cacheSwapIns: m.cacheSwapIns, privateSwapOuts: m.privateSwapOuts, residual: m.residualLeaks, residualWhy: m.residualWhy, kinds, hazards: m.hazards, hazardExample: m.hazardExample, thp: thpTotals(m, cfg) };
}

function thpTotals(m: SimModel, cfg: SimConfig): ThpTotals | undefined {
  if (!cfg.thp) return undefined;
  const e = m.thpEvents;
  return {
    faults: e.faults, fallbacks: e.fallbacks, splits: e.splits, zero_remaps: e.zeroRemaps, collapses: e.collapses, collapse_eagain: e.collapseEagain, collapse_over_huge: e.collapseOverHuge,
    khugepaged_collapses: e.khugepaged, khugepaged_abandoned: e.khugepagedAbandoned, settle_splits: e.settleSplits, count_repairs: m.thpCountRepairs,
  };
}

function addThp(into: ThpTotals, r: ThpTotals): void {
  for (const k of Object.keys(into) as (keyof ThpTotals)[]) into[k] += r[k];
}

/** Refuse what the huge-page simulation does not model: it runs under ksm, on the full model, and its broken variants need it. */
export function checkThpChoice(thp: boolean, engine: SimEngineChoice, core: boolean, broken: SimBroken): void {
  if (thp && engine.engine !== 'ksm') throw new Error(`--thp always: the simulation models huge pages under --engine ksm only (not ${engine.engine})`);
  if (thp && core) throw new Error('--thp always: not with --core-model (the model before issue 11 has no huge pages)');
  if (THP_BROKEN.includes(broken) && !thp) throw new Error(`--broken ${broken}: add --thp always (a huge-page variant)`);
}

/** Delta-debugging over the schedule: drop chunks of choices while some invariant still breaks. */
function shrink(seed: number, broken: SimBroken, choices: number[], budget: number, kills: SimKills, core: boolean, engine: SimEngineChoice, thp: boolean): { schedule: number[]; violation: string } {
  let best = choices;
  let violation = runInterleaving(seed, 0, broken, best, false, kills, core, engine, thp).violation ?? '';
  let tries = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && tries < budget; chunk >>= 1) {
    let i = 0;
    while (i < best.length && tries < budget) {
      const cand = best.slice(0, i).concat(best.slice(i + chunk));
      tries++;
      const r = runInterleaving(seed, 0, broken, cand, false, kills, core, engine, thp);
      if (r.violation) {
        best = r.choices.length < cand.length ? r.choices : cand;
        violation = r.violation;
      } else i += chunk;
    }
  }
  return { schedule: best, violation };
}

export function explore(o: ExploreOptions): ExploreResult {
  const broken = o.broken ?? 'none';
  const started = performance.now();
  const seen = new Set<number>();
  let stepsTotal = 0;
  let violations = 0;
  let merges = 0;
  let cows = 0;
  let unmerges = 0;
  let ksmSwapOuts = 0;
  let cacheSwapIns = 0;
  let privateSwapOuts = 0;
  let residual = 0;
  let residualExample: { seed: number; why: string } | undefined;
  let failure: SimFailure | undefined;
  let hazards = 0;
  let hazardExample: { seed: number; what: string } | undefined;
  const engine = o.engine ?? KSM_ENGINE;
  if (engine.engine !== 'ksm' && (o.killKsmd || (broken !== 'none' && broken !== 'no-recompare'))) {
    throw new Error(`--engine ${engine.engine}: --kill-ksmd and --broken ${broken} are ksmd's (this engine has no ksmd; it has --broken no-recompare)`);
  }
  const core = o.core ?? false;
  const thp = o.thp ?? false;
  checkThpChoice(thp, engine, core, broken);
  const thpSum: ThpTotals | undefined = thp ? { faults: 0, fallbacks: 0, splits: 0, zero_remaps: 0, collapses: 0, collapse_eagain: 0, collapse_over_huge: 0, khugepaged_collapses: 0, khugepaged_abandoned: 0, settle_splits: 0, count_repairs: 0 } : undefined;
  const kinds = new Array<number>(STEP_KINDS.length).fill(0);
  const maxInterleavings = o.interleavings ?? Infinity;
  const maxSteps = o.steps ?? Infinity;
  if (maxInterleavings === Infinity && maxSteps === Infinity) throw new Error('explore needs a bound: interleavings or steps');
  const perRun = o.stepsPerInterleaving ?? 400;
  let k = 0;
  for (; k < maxInterleavings && stepsTotal < maxSteps; k++) {
    const seed = (o.seed + k) >>> 0;
    const kills = (o.killGuests ? KILL_GUEST : 0) | (o.killKsmd ? KILL_KSMD : 0);
    const r = runInterleaving(seed, perRun, broken, undefined, false, kills, core, engine, thp);
    if (thpSum && r.thp) addThp(thpSum, r.thp);
    stepsTotal += r.steps;
    hazards += r.hazards;
    if (r.hazards && !hazardExample) hazardExample = { seed, what: r.hazardExample };
    for (let i = 0; i < kinds.length; i++) kinds[i]! += r.kinds[i]!;
    merges += r.merges;
    cows += r.cows;
    unmerges += r.unmerges;
    ksmSwapOuts += r.ksmSwapOuts;
    cacheSwapIns += r.cacheSwapIns;
    privateSwapOuts += r.privateSwapOuts;
    if (r.residual) {
      residual++;
      residualExample ??= { seed, why: r.residualWhy };
    }
    seen.add(scheduleKey(seed, r.choices));
    if (o.progress && (k & 0xffff) === 0) o.progress(k);
    if (r.violation) {
      violations++;
      if (!failure) {
        const s = shrink(seed, broken, r.choices, o.shrinkBudget ?? 3000, kills, core, engine, thp);
        const replay = runInterleaving(seed, 0, broken, s.schedule, true, kills, core, engine, thp);
        failure = {
          seed,
          violation: r.violation,
          steps: r.choices.length,
          replay: s.schedule.join(','),
          replaySteps: replay.steps,
          replayViolation: replay.violation ?? s.violation,
          trace: replay.trace ?? [],
          command: `ksmsim stress --deterministic --seed ${seed} --replay ${s.schedule.join(',') || '""'}${broken !== 'none' ? ` --broken ${broken}` : ''}${kills & KILL_GUEST ? ' --kill-guests' : ''}${kills & KILL_KSMD ? ' --kill-ksmd' : ''}${core ? ' --core-model' : ''}${engine.engine !== 'ksm' ? ` --engine ${engine.engine}${engine.writable ? ' --writable' : ''}` : ''}${thp ? ' --thp always' : ''}`,
        };
      }
      if (o.stopAtFirst ?? true) {
        k++;
        break;
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    seed: o.seed, broken, engine, dksm_hazards: hazards, dksm_hazard_example: hazardExample, interleavings: k, distinct_schedules: seen.size, steps_total: stepsTotal,
    steps_per_second: Math.round(stepsTotal / Math.max(seconds, 1e-9)), seconds: Number(seconds.toFixed(3)),
    merges, cows, unmerges, ksm_swap_outs: ksmSwapOuts, swap_cache_swap_ins: cacheSwapIns, private_swap_outs: privateSwapOuts, violations, steps_by_kind: kindRecord(kinds), residual_leaks: residual, residual_example: residualExample, ...(thpSum ? { thp: thpSum } : {}), failure,
  };
}

export function kindRecord(kinds: readonly number[]): Record<StepKind, number> {
  return Object.fromEntries(STEP_KINDS.map((k, i) => [k, kinds[i] ?? 0])) as Record<StepKind, number>;
}

/** A 52-bit key of (seed, schedule), for counting distinct interleavings. */
function scheduleKey(seed: number, choices: readonly number[]): number {
  let a = mixSeed(seed, 1);
  let b = mixSeed(seed, 2);
  for (const c of choices) {
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ (c + 0x9e), 0x5bd1e995) >>> 0;
    b ^= b >>> 15;
  }
  return a * 0x100000 + (b & 0xfffff);
}

export function replaySchedule(seed: number, schedule: string, broken: SimBroken, kills: SimKills = 0, core = false, engine: SimEngineChoice = KSM_ENGINE, thp = false): RunResult {
  const list = schedule.trim() === '' ? [] : schedule.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`--replay: expected comma-separated actor numbers, got ${JSON.stringify(s)}`);
    return n;
  });
  return runInterleaving(seed, 0, broken, list, true, kills, core, engine, thp);
}

export function describeExploration(r: ExploreResult): string[] {
  const lines = [
    `deterministic simulation${r.engine.engine !== 'ksm' ? ` under ${r.engine.engine}${r.engine.engine === 'dksm' ? (r.engine.writable ? ' (writable regions)' : ' (read-only regions)') : ''}` : ''}${r.thp ? ' with transparent huge pages' : ''}: ${r.interleavings} interleavings from seed ${r.seed} (${r.distinct_schedules} distinct), ${r.steps_total} steps in ${r.seconds} s (${r.steps_per_second} steps/s)${r.broken !== 'none' ? `, BROKEN protocol ${r.broken}` : ''}`,
    `  merges ${r.merges}, copy-on-writes ${r.cows}, run=2 unmerges ${r.unmerges}, KSM pages swapped out by reclaim ${r.ksm_swap_outs}, private pages by reclaim ${r.private_swap_outs}, swap-ins from the swap cache ${r.swap_cache_swap_ins}, violations ${r.violations}, known residual leaks (documented) ${r.residual_leaks}`,
  ];
  lines.push(`  steps by kind: ${STEP_KINDS.map((k) => `${k} ${r.steps_by_kind[k]}`).join(', ')}`);
  if (r.thp) lines.push(`  THP: huge faults ${r.thp.faults} (fallbacks ${r.thp.fallbacks}), splits ${r.thp.splits} (zero subpages remapped ${r.thp.zero_remaps}), MADV_COLLAPSE ${r.thp.collapses} (EAGAIN ${r.thp.collapse_eagain}, over khugepaged's ${r.thp.collapse_over_huge}), khugepaged collapses ${r.thp.khugepaged_collapses} (abandoned ${r.thp.khugepaged_abandoned}, split again to settle ${r.thp.settle_splits}), repairs that corrected nr_anon_transparent_hugepages ${r.thp.count_repairs}`);
  if (r.residual_example) lines.push(`  first residual leak: seed ${r.residual_example.seed}: ${r.residual_example.why}`);
  if (r.engine.engine === 'dksm') lines.push(`  ${DKSM_HAZARD}s ${r.dksm_hazards}${r.engine.writable ? ' (named, not violations)' : ''}${r.dksm_hazard_example ? `; first at seed ${r.dksm_hazard_example.seed}: ${r.dksm_hazard_example.what}` : ''}`);
  const f = r.failure;
  if (f) {
    lines.push(`  VIOLATION at seed ${f.seed} after ${f.steps} scheduler steps: ${f.violation}`);
    lines.push(`  shortest replay found: ${f.replay.split(',').length} scheduled steps (${f.replaySteps} steps in all): ${f.replayViolation}`);
    lines.push(`  replay with: ${f.command}`);
    for (const t of f.trace) lines.push(`  ${t}`);
  }
  return lines;
}
