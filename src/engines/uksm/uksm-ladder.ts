// uksm-ladder.ts — owns UKSM's scan ladder (uksm.c: uksm_scan_ladder, uksm_do_scan, judge_slot):
// every mergeable area (a VMA "slot") sits on one of four rungs. Each scan period a rung may spend
// its CPU share (cpu_ratios: N/10000 of a core, or MAX/n of max_cpu_percentage) on its areas; it
// visits them sparsely, every `step`-th page of the rung, the step chosen so one pass over the rung
// takes about its eval_intervals (cover_msecs) at that share. When a pass leaves an area, the area
// is judged by what it merged in that pass (net of the copy-on-writes since, unless they exceed
// thrash_threshold % of the merges): at least abundant_threshold pages → one rung up, else one rung
// down; an area whose every page has been scanned goes back to rung 0. A round ends when every
// non-empty rung has finished a pass.
//
// Order within an area (get_next_rmap_item): each visit takes the next position of the area's order
// and first swaps it with a random position at or after it (an incremental Fisher-Yates shuffle,
// uksm.c's UKSM_SLOT_NEED_RERAND, which nothing clears), so every pass over an area visits a fresh
// uniform permutation of its pages, each page once, however many rung passes the sampling spreads
// it over.
//
// Deviations (docs/engines.md#the-scan-ladder): each area draws from its own seeded stream
// (mixSeed(seed, pid, first page)) where uksm.c draws every swap from the one prandom_u32 stream, so
// an area's order replays from the seed whatever the timing did to the other areas; uksm.c's release
// of an order block with no rmap_item in it (try_free_last_pool), which refills that block in address
// order, is not modelled; round_update_ladder's second promotion (of areas whose pages others merged
// into) is not modelled; a "copy-on-write" is a page this scanner merged that it finds private again
// (a write fault, or MADV_DONTNEED and a new fault).

import { VM_MERGEABLE, VM_SHARED, tryReadVmaTable, type VmaSnapshot } from '../../mem/guest-control.ts';
import { Prng, mixSeed } from '../../platform/prng.ts';
import { LADDER, TIME_RATIO_SCALE, type UksmState } from './uksm-state.ts';

/** RUNG_SAMPLED_MIN: a pass samples at least this many pages of its rung. */
const SAMPLED_MIN = 3;
/** uksm.c's ema(): alpha 20 %. */
const EMA_ALPHA = 20;
/** UKSM_PAGE_TIME_DEFAULT (ns), restored when the estimate runs away and every 256 evaluation rounds. */
const PAGE_TIME_DEFAULT = 500;

/** One mergeable area on the ladder. */
export interface LadderSlot {
  readonly pid: number;
  readonly start: number;
  readonly pages: number;
  rung: number;
  /** Next position in `order` to scan (slot->pages_scanned % slot->pages). */
  cursor: number;
  /** The visiting order: page indexes, shuffled one position per visit (uksm.c's rmap_list_entry array). */
  readonly order: Uint32Array;
  /** The area's own stream for those shuffles. */
  readonly rng: Prng;
  /** Pages scanned since the area was last fully scanned (slot->pages_scanned). */
  scanned: number;
  /** Merged in the current pass over the area, and copy-on-writes seen in it. */
  merged: number;
  cowed: number;
  /** Pages this scanner merged and has not since seen private again. */
  readonly marks: Uint8Array;
}

interface Rung {
  readonly slots: LadderSlot[];
  cur: number;
  offset: number;
  step: number;
  /** Pages this rung may still scan in the current period. */
  quota: number;
  /** Its CPU time for the period (ms), and what it has spent of it. */
  timeMs: number;
  spentMs: number;
  finished: boolean;
  /** Pages scanned on this rung since boot. */
  scanned: number;
}

/** What one page's scan found, as bits: the page was a private frame before it; it merged. */
export const PAGE_WAS_PRIVATE = 1;
export const PAGE_MERGED = 2;

/** A rung as tests and the docs see it. */
export interface RungInfo {
  readonly areas: number;
  readonly pages: number;
  readonly step: number;
  readonly pagesToScan: number;
  readonly scanned: number;
}

export interface LadderGuest {
  readonly pid: number;
  readonly ctl: Int32Array;
  readonly vmas: Int32Array;
}

export class ScanLadder {
  private readonly state: UksmState;
  private readonly rungs: Rung[] = Array.from({ length: LADDER }, () => ({ slots: [], cur: 0, offset: 0, step: 1, quota: 0, timeMs: 0, spentMs: 0, finished: false, scanned: 0 }));
  private readonly slots = new Map<string, LadderSlot>();
  private readonly rng: Prng;
  private readonly seed: number;
  private readonly vmaBuf: VmaSnapshot[] = [];
  /** Where the current period stands: the rung being scanned (LADDER: the period is done). */
  private periodRung = LADDER;
  /** The cost per page (ns) the quotas and steps were last computed with. */
  private pageTimeNs = PAGE_TIME_DEFAULT;
  /** Whether a rung also stops when its CPU time is spent (the page cost is an estimate), or only at its quota. */
  private timed = true;
  /** uksm_eval_round: rounds finished. */
  evalRound = 1;
  /** Told of every judgement (tests and traces): the area, its rung before and after. */
  onJudge: ((slot: LadderSlot, from: number, to: number) => void) | undefined;

  constructor(state: UksmState, seed: number) {
    this.state = state;
    this.rng = new Prng(seed);
    this.seed = seed;
  }

  /** The rung an area is on (undefined: not on the ladder). */
  rungOf(pid: number, start: number): number | undefined {
    for (const s of this.slots.values()) if (s.pid === pid && s.start === start) return s.rung;
    return undefined;
  }

  info(): RungInfo[] {
    return this.rungs.map((r) => ({ areas: r.slots.length, pages: rungPages(r), step: r.step, pagesToScan: r.quota, scanned: r.scanned }));
  }

  get areas(): number {
    return this.slots.size;
  }

  /**
   * uksm_enter_all_slots / cleanup_vma_slots: private mergeable areas that appeared enter rung 0,
   * areas that went (munmap, MADV_UNMERGEABLE, a guest's exit, a split) leave. A guest rewriting its
   * table keeps its areas until the next period (never wait on its seqlock here: docs in tryReadVmaTable).
   */
  sync(guests: readonly LadderGuest[]): void {
    const seen = new Set<string>();
    const alive = new Set<number>();
    for (const g of guests) {
      alive.add(g.pid);
      if (!tryReadVmaTable(g.ctl, g.vmas, VM_MERGEABLE, this.vmaBuf)) {
        for (const [k, s] of this.slots) if (s.pid === g.pid) seen.add(k);
        continue;
      }
      for (const v of this.vmaBuf) {
        if (v.flags & VM_SHARED) continue;
        const key = `${g.pid}:${v.start}:${v.pages}`;
        seen.add(key);
        if (!this.slots.has(key)) this.enter(this.newSlot(g.pid, v.start, v.pages), key);
      }
    }
    for (const [k, s] of this.slots) if (!seen.has(k) || !alive.has(s.pid)) this.remove(k, s);
  }

  /** uksm_calc_scan_pages: each rung's page quota for the next period, and its step. */
  startPeriod(pageTimeNs: number, timed: boolean): void {
    this.pageTimeNs = pageTimeNs;
    this.timed = timed;
    const sleepMs = Math.max(1, this.state.get('sleep_millisecs'));
    for (let i = 0; i < LADDER; i++) {
      const r = this.rungs[i]!;
      const ratio = this.realRatio(i);
      // cpu_ratio_to_nsec: the scan time that is ratio/10000 of (scan + sleep).
      r.timeMs = (sleepMs * ratio) / (TIME_RATIO_SCALE - ratio);
      r.spentMs = 0;
      r.quota = Math.max(1, Math.floor((r.timeMs * 1e6) / pageTimeNs));
      this.calcStep(r, i);
    }
    this.periodRung = 0;
  }

  get periodDone(): boolean {
    return this.periodRung >= LADDER;
  }

  /** The highest CPU share among the rungs that have areas (the period's bound), in 1/10000. */
  maxRatio(): number {
    let m = 0;
    for (let i = 0; i < LADDER; i++) if (this.rungs[i]!.slots.length) m = Math.max(m, this.realRatio(i));
    return m;
  }

  /**
   * Go on with the current period: rung by rung, each up to its quota. `visit` scans one page.
   * `more()` is asked every few pages (false: pause here, go on at the next call). Returns pages scanned.
   */
  scan(visit: (slot: LadderSlot, index: number) => number, more: () => boolean): number {
    let n = 0;
    while (this.periodRung < LADDER) {
      const r = this.rungs[this.periodRung]!;
      let last = performance.now();
      while (r.quota > 0 && r.slots.length) {
        const slot = r.slots[r.cur]!;
        const idx = nextPage(slot);
        const out = visit(slot, idx);
        // A page merged here and found private again was copied on write (or dropped and refaulted).
        if (out & PAGE_WAS_PRIVATE && slot.marks[idx]) {
          slot.cowed++;
          slot.marks[idx] = 0;
        }
        if (out & PAGE_MERGED) {
          slot.merged++;
          slot.marks[idx] = 1;
        }
        slot.cursor = (slot.cursor + 1) % slot.pages;
        slot.scanned++;
        r.quota--;
        r.scanned++;
        n++;
        if (r.offset + r.step > slot.pages - 1 || slot.scanned >= slot.pages) this.judge(slot);
        else r.offset += r.step;
        if ((n & 63) === 0) {
          // The quota assumed the average page cost; a rung never overruns its CPU time either.
          const t = performance.now();
          r.spentMs += t - last;
          last = t;
          if (this.timed && r.spentMs >= r.timeMs) r.quota = 0;
          if (!more()) return n;
        }
      }
      this.periodRung++;
    }
    return n;
  }

  /** The period is over: true when a round ended (every non-empty rung finished a pass). */
  endPeriod(): boolean {
    let any = false;
    for (const r of this.rungs) {
      if (!r.slots.length) continue;
      any = true;
      if (!r.finished) return false;
    }
    if (!any) return false;
    for (const r of this.rungs) r.finished = false;
    this.evalRound++;
    return true;
  }

  /** uksm.c's ema() of the cost per page, reset to the default when it runs away and every 256 rounds. */
  nextPageTime(last: number, measured: number): number {
    let ema = measured > last * 10 ? last * 2 : Math.round((EMA_ALPHA * measured + (100 - EMA_ALPHA) * last) / 100);
    if (ema > 100_000 || (this.evalRound & 255) === 0) ema = PAGE_TIME_DEFAULT;
    return Math.max(1, ema);
  }

  /** rung_real_ratio: N/10000 as given, or MAX/n as a share of max_cpu_percentage; at least 1. */
  private realRatio(i: number): number {
    const c = this.state.cpuRatios()[i]!;
    const r = c > 0 ? c : Math.floor((-c * this.state.get('max_cpu_percentage')) / 100);
    return Math.min(TIME_RATIO_SCALE - 1, Math.max(1, r));
  }

  /** uksm_calc_rung_step: the pages the rung can sample in eval_intervals ms at its share, spread over its pages. */
  private calcStep(r: Rung, i: number): void {
    const cover = this.state.evalIntervals()[i]!;
    if (cover === 0) {
      r.step = 1;
      return;
    }
    const sampled = Math.max(SAMPLED_MIN, Math.floor((cover * (1e6 / TIME_RATIO_SCALE) * this.realRatio(i)) / this.pageTimeNs));
    const pages = rungPages(r);
    r.step = pages > sampled ? Math.floor(pages / sampled) : 1;
  }

  /** judge_slot: up, down, or back to rung 0; then the rung's scan moves on to its next area. */
  private judge(slot: LadderSlot): void {
    const from = slot.rung;
    const thrash = this.state.get('thrash_threshold');
    let dedup = slot.merged;
    if (dedup && thrash) dedup = (slot.cowed * 100) / slot.merged > thrash ? 0 : slot.merged - slot.cowed;
    const full = slot.scanned >= slot.pages;
    let to: number;
    if (full && thrash) to = 0;
    else if (dedup > 0 && dedup >= this.state.get('abundant_threshold')) to = Math.min(LADDER - 1, from + 1);
    else to = Math.max(0, from - 1);
    this.onJudge?.(slot, from, to);
    slot.merged = 0;
    slot.cowed = 0;
    if (full) slot.scanned = 0;
    const r = this.rungs[from]!;
    if (to === from) this.advance(r);
    else {
      this.leave(r, slot);
      this.join(to, slot);
    }
  }

  /** advance_current_scan: carry the stride over into the next area; past the last, the pass is finished. */
  private advance(r: Rung): void {
    const slot = r.slots[r.cur]!;
    let carry = Math.max(0, r.offset + r.step - slot.pages);
    r.cur++;
    while (r.cur < r.slots.length && carry >= r.slots[r.cur]!.pages) carry -= r.slots[r.cur++]!.pages;
    if (r.cur < r.slots.length) r.offset = carry;
    else this.resetPass(r, true);
  }

  /** reset_current_scan: start a pass at a random offset below the step (recomputed: the rung's pages change). */
  private resetPass(r: Rung, finished: boolean): void {
    if (finished) r.finished = true;
    this.calcStep(r, this.rungs.indexOf(r));
    r.cur = 0;
    r.offset = r.step > 1 ? this.rng.below(r.step) : 0;
    while (r.cur < r.slots.length - 1 && r.offset >= r.slots[r.cur]!.pages) r.offset -= r.slots[r.cur++]!.pages;
    if (r.slots.length && r.offset >= r.slots[r.cur]!.pages) r.offset = 0;
  }

  /** alloc_vma_slot: an area enters with its pages in address order, to be shuffled as it is scanned. */
  private newSlot(pid: number, start: number, pages: number): LadderSlot {
    const order = new Uint32Array(pages);
    for (let i = 0; i < pages; i++) order[i] = i;
    return { pid, start, pages, rung: 0, cursor: 0, order, rng: new Prng(mixSeed(this.seed, pid, start)), scanned: 0, merged: 0, cowed: 0, marks: new Uint8Array(pages) };
  }

  private enter(slot: LadderSlot, key: string): void {
    this.slots.set(key, slot);
    this.join(0, slot);
  }

  private remove(key: string, slot: LadderSlot): void {
    this.slots.delete(key);
    this.leave(this.rungs[slot.rung]!, slot);
  }

  private join(i: number, slot: LadderSlot): void {
    const r = this.rungs[i]!;
    slot.rung = i;
    r.slots.push(slot);
    if (r.slots.length === 1) this.resetPass(r, false);
  }

  /** rung_rm_slot: the scan position stays on the area that followed it. */
  private leave(r: Rung, slot: LadderSlot): void {
    const i = r.slots.indexOf(slot);
    if (i < 0) return;
    r.slots.splice(i, 1);
    if (i < r.cur) r.cur--;
    else if (i === r.cur) r.offset = 0;
    // Leaving from the end of the pass finishes it (advance_current_scan before the delete), even if
    // that empties the rung: a rung whose areas all climb away must not hold the round open.
    if (r.cur >= r.slots.length) this.resetPass(r, i >= r.cur);
  }
}

/**
 * get_next_rmap_item's order: swap the position to scan with a random one at or after it, then scan
 * what it holds. Positions before it were fixed earlier in this pass, so a pass is a permutation.
 */
export function nextPage(slot: LadderSlot): number {
  const pos = slot.cursor;
  const swap = pos + slot.rng.below(slot.pages - pos);
  const page = slot.order[swap]!;
  slot.order[swap] = slot.order[pos]!;
  slot.order[pos] = page;
  return page;
}

function rungPages(r: Rung): number {
  let n = 0;
  for (const s of r.slots) n += s.pages;
  return n;
}
