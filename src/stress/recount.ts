// recount.ts — owns the stress run's end-of-run audit: every KSM counter recounted from scratch from
// the page tables, the frame accounting (free + mapped + zero page = total, so leaked frames show),
// and the per-frame invariants (a private frame mapped once, a KSM frame's mapcount = its mappers).
// The one recount of the project: the stress CLI and the tests (test/helpers/recount.ts) both use
// it; it returns findings instead of asserting. Definitions: see the header of that test helper.
//
// Also owns the stop-the-world repair that follows a killed ksmd (repairAfterKsmdDeath): see there.

import { createHash } from 'node:crypto';
import type { Host } from '../host/host.ts';
import { PAGE_SIZE, ZERO_FRAME } from '../mem/constants.ts';
import {
  CTL_KSM_DOMAIN, CTL_KSM_ENTERED, CTL_KSM_ZERO_PAGES, CTL_MERGING_PAGES, CTL_RMAP_ITEMS, CTL_THP_SLOT, VM_MERGEABLE, readVmaTable,
  type GuestSpaceHandles, type VmaSnapshot,
} from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import type { KsmState } from '../ksm/ksm-state.ts';
import type { ChainCensus } from '../ksm/ksm-engine.ts';
import { PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, describePte, pteFrame } from '../mem/pte.ts';
import { HPAGE_PAGES, countHuge } from '../mem/thp.ts';

export const RECOUNTED = [
  'pages_shared', 'pages_sharing', 'ksm_zero_pages', 'rmap_items', 'stable_node_chains', 'stable_node_dups', 'general_profit',
] as const;
export type Recounted = (typeof RECOUNTED)[number];

export interface GuestRecount {
  readonly pid: number;
  /** /proc/<pid>/ksm_stat as recounted: ksm_rmap_items, ksm_merging_pages, ksm_zero_pages. */
  readonly rmapItems: number;
  readonly mergingPages: number;
  readonly ksmZeroPages: number;
  /** What the guest's control words (its ksm_stat) say now. */
  readonly reported: { rmapItems: number; mergingPages: number; ksmZeroPages: number };
  /** Private frames mapped in mergeable areas that are not KSM pages (candidates for pages_unshared). */
  readonly unmergedMergeable: number;
}

export interface FrameRecount {
  readonly total: number;
  /** Free frames (set bits of the allocator's bitmap). */
  readonly free: number;
  readonly private: number;
  readonly ksm: number;
  /** Frames only the swap cache holds (KSM pages swapped out of every mapping, not yet reclaimed). */
  readonly swapCacheOnly: number;
  readonly reserved: number;
}

export interface Recount {
  readonly counters: Record<Recounted, number>;
  readonly guests: readonly GuestRecount[];
  readonly frames: FrameRecount;
  /** Unmerged pages in mergeable areas (pages_unshared + pages_volatile, when nothing is skipped). */
  readonly unmergedMergeable: number;
  /** KSM frames: mappers per frame (for tests that want the distribution). */
  readonly ksmMappers: ReadonlyMap<number, number>;
  /** Swap entries in PTEs, per slot. */
  readonly swapUsers: ReadonlyMap<number, number>;
  /** Frames in the swap cache → their slot. */
  readonly swapCached: ReadonlyMap<number, number>;
  /** Frames neither free, nor mapped by a recounted guest, nor the zero page. */
  readonly leakedFrames: number;
  readonly leakedFrameList: readonly number[];
  /** Broken invariants (frame mapped twice, mapcount ≠ mappers, a mapped frame marked free, …). */
  readonly problems: readonly string[];
}

/**
 * Recount everything from the page tables of the given guests (which must be alive or quiesced).
 * `swappedIsProblem`: report swapped pages as a problem (for runs that never swap).
 */
/** `ksmOutsideMergeable`: KSM pages may lie outside VM_MERGEABLE areas (DKSM merges without marking the area). */
export function recountSpaces(mem: PhysicalMemory, mergeAcross: boolean, maxSharing: number, spaces: readonly GuestSpaceHandles[], swappedIsProblem = false, ksmOutsideMergeable = false): Recount {
  const problems: string[] = [];

  const ksmMappers = new Map<number, number>();
  /** The merge domain of each KSM frame's mappers (docs/security.md: a frame never spans two). */
  const ksmDomain = new Map<number, number>();
  const privateOwner = new Map<number, string>();
  /** Swap entries in PTEs, per slot. */
  const slotUsers = new Map<number, number>();
  let ksmZero = 0;
  let rmapItems = 0;
  let unmergedMergeable = 0;
  const perGuest: GuestRecount[] = [];

  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    const ctl = new Int32Array(h.control);
    const vmas = readVmaTable(ctl, new Int32Array(h.vmaTable), 0, [] as VmaSnapshot[]);
    const registered = Atomics.load(ctl, CTL_KSM_ENTERED) !== 0;
    const domain = Atomics.load(ctl, CTL_KSM_DOMAIN);
    let gRmap = 0;
    let gMerging = 0;
    let gZero = 0;
    let gUnmerged = 0;
    const inVma = new Uint8Array(h.vaPages);
    for (const v of vmas) {
      const mergeable = (v.flags & VM_MERGEABLE) !== 0;
      for (let p = v.start; p < v.start + v.pages; p++) {
        inVma[p] = 1;
        const pte = Atomics.load(pt, p);
        if (pte === 0) continue;
        const where = `guest ${h.pid} page 0x${p.toString(16)} (${describePte(pte)})`;
        if (mergeable !== ((pte & PTE_MERGEABLE) !== 0)) problems.push(`${where}: MERGEABLE bit disagrees with its VMA`);
        if (pte & PTE_SWAPPED) {
          if (swappedIsProblem) problems.push(`${where}: swapped, which this run never does`);
          slotUsers.set(pteFrame(pte), (slotUsers.get(pteFrame(pte)) ?? 0) + 1);
          continue;
        }
        if (!(pte & PTE_PRESENT)) continue;
        if (pte & PTE_ZERO) {
          if (pteFrame(pte) !== ZERO_FRAME) problems.push(`${where}: ZERO bit on a frame that is not the zero page`);
          if (pte & PTE_KSM) problems.push(`${where}: both ZERO and KSM`);
          if (pte & PTE_KSM_ZERO) {
            gZero++;
            if (!mergeable) problems.push(`${where}: a KSM zero page outside a mergeable area`);
          }
          continue;
        }
        if (pte & PTE_KSM_ZERO) problems.push(`${where}: KSM_ZERO without ZERO`);
        const f = pteFrame(pte);
        if (f === ZERO_FRAME) problems.push(`${where}: maps frame 0 without the ZERO bit`);
        if (mergeable && registered) gRmap++;
        if (pte & PTE_KSM) {
          gMerging++;
          ksmMappers.set(f, (ksmMappers.get(f) ?? 0) + 1);
          const d = ksmDomain.get(f);
          if (d !== undefined && d !== domain) problems.push(`${where}: KSM frame ${f} is shared across merge domains ${d} and ${domain}`);
          ksmDomain.set(f, domain);
          if (!mergeable && !ksmOutsideMergeable) problems.push(`${where}: a KSM page outside a mergeable area`);
          continue;
        }
        if (mergeable) gUnmerged++;
        const other = privateOwner.get(f);
        if (other !== undefined) problems.push(`frame ${f} is private to both ${other} and ${where}`);
        privateOwner.set(f, where);
      }
    }
    for (let p = 0; p < h.vaPages; p++) {
      if (!inVma[p] && Atomics.load(pt, p) !== 0) problems.push(`guest ${h.pid} page 0x${p.toString(16)}: PTE ${describePte(Atomics.load(pt, p))} outside every VMA`);
    }
    rmapItems += gRmap;
    ksmZero += gZero;
    unmergedMergeable += gUnmerged;
    perGuest.push({
      pid: h.pid, rmapItems: gRmap, mergingPages: gMerging, ksmZeroPages: gZero, unmergedMergeable: gUnmerged,
      reported: {
        rmapItems: Atomics.load(ctl, CTL_RMAP_ITEMS),
        mergingPages: Atomics.load(ctl, CTL_MERGING_PAGES),
        ksmZeroPages: Atomics.load(ctl, CTL_KSM_ZERO_PAGES),
      },
    });
  }

  // Swap: every slot a PTE names is allocated, with a swap count equal to the PTEs that name it; an
  // allocated slot no PTE names is leaked. A slot's swap-cache frame holds one reference of its own.
  const swapCached = new Map<number, number>();
  const swap = mem.swap;
  if (swap) {
    for (let slot = 0; slot < swap.slots; slot++) {
      const users = slotUsers.get(slot) ?? 0;
      if (swap.isFree(slot)) {
        if (users) problems.push(`swap slot ${slot} is named by ${users} PTE(s) but marked free`);
        continue;
      }
      if (swap.count(slot) !== users) problems.push(`swap slot ${slot}: swap count ${swap.count(slot)}, but ${users} PTE(s) name it`);
      const f = swap.cached(slot);
      if (f !== 0) {
        if (swapCached.has(f)) problems.push(`frame ${f} is in the swap cache of two slots`);
        swapCached.set(f, slot);
        if (!mem.inSwapCache(f)) problems.push(`frame ${f} is in slot ${slot}'s swap cache without PG_swapcache`);
      }
    }
  }

  // KSM frames: each is a live, tagged frame whose mapcount is exactly its number of mappers (plus
  // the swap cache's reference).
  let sharing = 0;
  const groups = new Map<string, number>();
  for (const [f, n] of ksmMappers) {
    sharing += n - 1;
    if (privateOwner.has(f)) problems.push(`frame ${f} is both a KSM page and private to ${privateOwner.get(f)}`);
    if (mem.allocator.isFree(f)) problems.push(`KSM frame ${f} is mapped ${n} times but marked free`);
    const mc = mem.mapcount(f);
    const cached = swapCached.has(f) ? 1 : 0;
    if (mc !== n + cached) problems.push(`KSM frame ${f}: mapcount ${mc}, but ${n} PTEs map it${cached ? ' and the swap cache holds it' : ''}`);
    if (mem.frameTag(f) === 0) problems.push(`KSM frame ${f} carries no stable-node tag`);
    if (n > maxSharing) problems.push(`KSM frame ${f} has ${n} mappers, above max_page_sharing ${maxSharing}`);
    // Chains group equal content per node (merge_across_nodes=0) and per merge domain, as ksmd's trees do.
    const key = createHash('sha256').update(mem.frameBytes(f)).digest('hex') + (mergeAcross ? '' : `@${mem.nodeOf(f)}`) + `#${ksmDomain.get(f)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  let chains = 0;
  let dups = 0;
  for (const n of groups.values()) {
    if (n > 1) {
      chains++;
      dups += n;
    }
  }
  for (const [f, who] of privateOwner) if (mem.allocator.isFree(f)) problems.push(`private frame ${f} of ${who} is marked free`);
  if (mem.allocator.isFree(ZERO_FRAME)) problems.push('the zero frame is marked free');

  // Frame accounting.
  const total = mem.totalFrames;
  const free = mem.freeFrames();
  let swapCacheOnly = 0;
  for (const [f, slot] of swapCached) {
    if (ksmMappers.has(f)) continue;
    swapCacheOnly++;
    if (mem.allocator.isFree(f)) problems.push(`frame ${f} in slot ${slot}'s swap cache is marked free`);
    if (mem.mapcount(f) !== 1) problems.push(`frame ${f}, held only by the swap cache, has mapcount ${mem.mapcount(f)}`);
  }
  const frames: FrameRecount = { total, free, private: privateOwner.size, ksm: ksmMappers.size, swapCacheOnly, reserved: 1 };
  const leakedFrameList: number[] = [];
  for (let f = 0; f < total; f++) {
    if (f === ZERO_FRAME || mem.allocator.isFree(f) || privateOwner.has(f) || ksmMappers.has(f) || swapCached.has(f)) continue;
    leakedFrameList.push(f);
  }
  const accounted = free + frames.private + frames.ksm + swapCacheOnly + frames.reserved;
  if (accounted !== total) {
    problems.push(`frames: ${free} free + ${frames.private} private + ${frames.ksm} KSM + ${swapCacheOnly} swap cache + 1 zero = ${accounted}, but the host has ${total}`);
  }

  const counters: Record<Recounted, number> = {
    pages_shared: ksmMappers.size,
    pages_sharing: sharing,
    ksm_zero_pages: ksmZero,
    rmap_items: rmapItems,
    stable_node_chains: chains,
    stable_node_dups: dups,
    general_profit: (sharing + ksmZero) * PAGE_SIZE - rmapItems * 64,
  };
  return { counters, guests: perGuest, frames, unmergedMergeable, ksmMappers, swapUsers: slotUsers, swapCached, leakedFrames: leakedFrameList.length, leakedFrameList, problems };
}

/** Recount the host's live guests and list every difference with ksmd's published counters. */
export function recountHost(host: Host, spaces: readonly GuestSpaceHandles[], chains?: ChainCensus): { recount: Recount; mismatches: string[] } {
  const r = recountSpaces(host.memory, host.ksm.get('merge_across_nodes') === 1, host.ksm.get('max_page_sharing'), spaces);
  return { recount: r, mismatches: recountDifferences(host.files.counters(), r, chains) };
}

/**
 * The recount for a host under DKSM or UKSM: their own counters are events (DKSM) or a scanner's
 * round-end census (UKSM), not state the page tables fix, so only the frame invariants and the
 * zero-page counters (host-wide and each guest's ksm_stat, which UKSM keeps as ksmd does) are checked.
 */
export function recountEngineHost(host: Host, spaces: readonly GuestSpaceHandles[]): { recount: Recount; mismatches: string[] } {
  const r = recountSpaces(host.memory, host.ksm.get('merge_across_nodes') === 1, host.ksm.get('max_page_sharing'), spaces, false, host.engine.name === 'dksm');
  const out = [...r.problems];
  const zero = host.ksm.get('ksm_zero_pages');
  if (zero !== r.counters.ksm_zero_pages) out.push(`ksm_zero_pages: the host says ${zero}, recount says ${r.counters.ksm_zero_pages}`);
  for (const g of r.guests) if (g.reported.ksmZeroPages !== g.ksmZeroPages) out.push(`guest ${g.pid} ksm_zero_pages: ${g.reported.ksmZeroPages}, recount ${g.ksmZeroPages}`);
  return { recount: r, mismatches: out };
}

/**
 * Every difference between ksmd's counters (global, and each guest's ksm_stat) and the recount.
 * With ksmd's chain census, stable_node_chains/dups are checked in two steps instead of one: the
 * published counters must equal ksmd's chains as they stand, and those chains less their stale dups
 * (KSM pages gone, which the kernel prunes only when a stable-tree search meets the chain) must equal
 * the KSM pages the page tables show. Without it the counters must equal the recount directly.
 */
export function recountDifferences(counters: Readonly<Record<string, number>>, r: Recount, chains?: ChainCensus): string[] {
  const out = [...r.problems];
  for (const k of RECOUNTED) {
    if (chains && (k === 'stable_node_chains' || k === 'stable_node_dups')) continue;
    if (counters[k] !== r.counters[k]) out.push(`${k}: ksmd says ${counters[k]}, recount says ${r.counters[k]}`);
  }
  if (chains) {
    if (counters['stable_node_chains'] !== chains.chains || counters['stable_node_dups'] !== chains.dups) {
      out.push(`stable_node_chains/dups: ksmd says ${counters['stable_node_chains']}/${counters['stable_node_dups']}, but its stable tree holds ${chains.chains}/${chains.dups}`);
    }
    if (chains.liveChains !== r.counters.stable_node_chains || chains.liveDups !== r.counters.stable_node_dups) {
      out.push(`stable_node_chains/dups without stale dups: ksmd has ${chains.liveChains}/${chains.liveDups}, recount says ${r.counters.stable_node_chains}/${r.counters.stable_node_dups}`);
    }
  }
  for (const g of r.guests) {
    if (g.reported.rmapItems !== g.rmapItems) out.push(`guest ${g.pid} ksm_rmap_items: ${g.reported.rmapItems}, recount ${g.rmapItems}`);
    if (g.reported.mergingPages !== g.mergingPages) out.push(`guest ${g.pid} ksm_merging_pages: ${g.reported.mergingPages}, recount ${g.mergingPages}`);
    if (g.reported.ksmZeroPages !== g.ksmZeroPages) out.push(`guest ${g.pid} ksm_zero_pages: ${g.reported.ksmZeroPages}, recount ${g.ksmZeroPages}`);
  }
  return out;
}

export interface RepairResult {
  /** KSM frames whose mapcount held references of the dead ksmd (its temporary references). */
  readonly mapcountsFixed: number;
  /** Private frames whose mapcount a dead ksmd left non-zero (mid merge_two_pages). */
  readonly privateMapcountsCleared: number;
  /** Frames the dead ksmd held (deferred frees, a KSM page it was building): freed now. */
  readonly framesReclaimed: number;
  /** ksm_zero_pages counters (per guest, host-wide) a dead ksmd left between its two updates. */
  readonly zeroPageCountersFixed: number;
  /** Swap slots whose count held a dead ksmd's hold (mid reclaim of a KSM page): set to their PTEs, freed if none. */
  readonly swapSlotsFixed: number;
  /** Guests' shares of nr_anon_transparent_hugepages a dead ksmd (a split, khugepaged) left between a head's change and its count. */
  readonly hugeCountsFixed: number;
}

/**
 * After ksmd was killed: its in-flight state (temporary references on KSM frames, frees deferred
 * until a guest left a page) lived only on its own heap, so nobody can finish it. With every guest
 * stopped (no syscall or access in progress, hazard words clear) and ksmd dead, the page tables are
 * the whole truth: a KSM frame's mapcount must equal its mappers, a private frame's must be 0, and
 * a frame that no PTE maps and that is not free belonged to the dead ksmd, ksm_zero_pages is
 * the number of KSM zero-page PTEs, and each guest's share of nr_anon_transparent_hugepages is the
 * number of its heads with HUGE (ksmd splits and khugepaged collapses). This is the host's fsck;
 * it is exact only in that stopped world, which the stress harness provides (guests paused through
 * their control pages). The successor ksmd then rebuilds its trees from the page tables.
 */
export function repairAfterKsmdDeath(mem: PhysicalMemory, ksm: KsmState, spaces: readonly GuestSpaceHandles[]): RepairResult {
  const r = recountSpaces(mem, true, Number.MAX_SAFE_INTEGER, spaces);
  // ksmd counts a KSM zero page in the guest's control word and in the host-wide counter, one
  // after the other; killed in between, the two disagree. The PTEs decide.
  let zeroPageCountersFixed = 0;
  let zeroTotal = 0;
  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    let n = 0;
    for (let p = 0; p < pt.length; p++) if ((Atomics.load(pt, p) & (PTE_PRESENT | PTE_KSM_ZERO)) === (PTE_PRESENT | PTE_KSM_ZERO)) n++;
    const ctl = new Int32Array(h.control);
    if (Atomics.load(ctl, CTL_KSM_ZERO_PAGES) !== n) {
      Atomics.store(ctl, CTL_KSM_ZERO_PAGES, n);
      zeroPageCountersFixed++;
    }
    zeroTotal += n;
  }
  if (ksm.get('ksm_zero_pages') !== zeroTotal) {
    ksm.set('ksm_zero_pages', zeroTotal);
    zeroPageCountersFixed++;
  }
  // A KSM frame's mapcount is its PTEs plus the swap cache's reference; PG_swapcache and
  // nr_swapcached follow the slots' cache words (ksmd may have died inside addToSwapCache).
  let mapcountsFixed = 0;
  for (const [f, n] of r.ksmMappers) {
    const want = n + (r.swapCached.has(f) ? 1 : 0);
    if (mem.mapcount(f) !== want) {
      mem.setMapcount(f, want);
      mapcountsFixed++;
    }
    if (mem.inSwapCache(f) !== r.swapCached.has(f)) mem.markSwapCache(f, r.swapCached.has(f));
  }
  for (const f of r.swapCached.keys()) {
    if (r.ksmMappers.has(f)) continue;
    if (mem.mapcount(f) !== 1) {
      mem.setMapcount(f, 1);
      mapcountsFixed++;
    }
    mem.markSwapCache(f, true);
  }
  mem.vmstat.add('nr_swapcached', r.swapCached.size - mem.vmstat.get('nr_swapcached'));
  // Swap slots: ksmd's own hold on a slot it was swapping a KSM page out to died with it.
  let swapSlotsFixed = 0;
  const swap = mem.swap;
  if (swap) {
    for (let slot = 0; slot < swap.slots; slot++) {
      if (swap.isFree(slot)) continue;
      const users = r.swapUsers.get(slot) ?? 0;
      if (users > 0 && swap.count(slot) === users) continue;
      swapSlotsFixed++;
      if (users > 0) {
        swap.setCount(slot, users);
        continue;
      }
      // No PTE names it (ksmd died holding it, or inside the put that was freeing it): it goes, with
      // its cache reference.
      swap.setCount(slot, 1);
      mem.putSwapSlot(slot);
    }
  }
  let privateMapcountsCleared = 0;
  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    for (let p = 0; p < pt.length; p++) {
      const pte = Atomics.load(pt, p);
      if ((pte & (PTE_PRESENT | PTE_KSM | PTE_ZERO)) !== PTE_PRESENT) continue;
      const f = pteFrame(pte);
      if (mem.mapcount(f) !== 0) {
        mem.setMapcount(f, 0);
        privateMapcountsCleared++;
      }
      if (mem.frameFlags(f) !== 0) mem.setFrameFlags(f, 0);
    }
  }
  for (const f of r.leakedFrameList) {
    mem.setMapcount(f, 0);
    mem.free(f);
  }
  return { mapcountsFixed, privateMapcountsCleared, framesReclaimed: r.leakedFrames, zeroPageCountersFixed, swapSlotsFixed, hugeCountsFixed: recountHugePages(mem, spaces) };
}

/**
 * Each guest's share of nr_anon_transparent_hugepages set to the heads with HUGE in its page table.
 * Exact only stopped-the-world, as this repair runs: ksmd (and khugepaged, on its thread) is dead and
 * every guest is paused between two operations, so no thread has changed a head and not yet counted
 * it. A guest with no slot yet has no head that anyone counted: a head there would be khugepaged's,
 * killed before its count claimed the slot, so the slot is claimed for it.
 */
function recountHugePages(mem: PhysicalMemory, spaces: readonly GuestSpaceHandles[]): number {
  let fixed = 0;
  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    let heads = 0;
    for (let p = 0; p < pt.length; p += HPAGE_PAGES) if (Atomics.load(pt, p) & PTE_HUGE) heads++;
    const ctl = new Int32Array(h.control);
    const slotAndGen = Atomics.load(ctl, CTL_THP_SLOT); // a live guest's: never a retired one
    const now = slotAndGen >= 0 ? mem.vmstat.hugeOf(slotAndGen) : 0;
    if (now === heads) continue;
    fixed++;
    countHuge(ctl, mem, heads - now);
  }
  return fixed;
}
