// recount.ts — owns the stress run's end-of-run audit: every KSM counter recounted from scratch from
// the page tables, the frame accounting (free + mapped + zero page = total, so leaked frames show),
// and the per-frame invariants (a private frame mapped once, a KSM frame's mapcount = its mappers).
// Same definitions as test/helpers/recount.ts (which tests use); this one lives in src so the CLI
// can run it, and it returns findings instead of asserting.
//
// Also owns the stop-the-world repair that follows a killed ksmd (repairAfterKsmdDeath): see there.

import { createHash } from 'node:crypto';
import type { Host } from '../host/host.ts';
import { PAGE_SIZE, ZERO_FRAME } from '../mem/constants.ts';
import {
  CTL_KSM_ENTERED, CTL_KSM_ZERO_PAGES, CTL_MERGING_PAGES, CTL_RMAP_ITEMS, VM_MERGEABLE, readVmaTable,
  type GuestSpaceHandles, type VmaSnapshot,
} from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import type { KsmState } from '../ksm/ksm-state.ts';
import { PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, describePte, pteFrame } from '../mem/pte.ts';

export const RECOUNTED = [
  'pages_shared', 'pages_sharing', 'ksm_zero_pages', 'rmap_items', 'stable_node_chains', 'stable_node_dups', 'general_profit',
] as const;
export type Recounted = (typeof RECOUNTED)[number];

export interface StressRecount {
  readonly counters: Record<Recounted, number>;
  /** Frames neither free, nor mapped by a live guest, nor the zero page. */
  readonly leakedFrames: number;
  readonly leakedFrameList: number[];
  readonly frames: { total: number; free: number; private: number; ksm: number };
  /** Broken per-frame invariants and per-guest counter differences, as lines. */
  readonly problems: string[];
  readonly ksmMappers: Map<number, number>;
}

/** Walk every live guest's page table. */
export function recountSpaces(mem: PhysicalMemory, mergeAcross: boolean, maxSharing: number, spaces: readonly GuestSpaceHandles[]): StressRecount {
  const problems: string[] = [];
  const ksmMappers = new Map<number, number>();
  const privateOwner = new Map<number, string>();
  let ksmZero = 0;
  let rmapItems = 0;
  for (const h of spaces) {
    const pt = new Int32Array(h.pageTable);
    const ctl = new Int32Array(h.control);
    const vmas = readVmaTable(ctl, new Int32Array(h.vmaTable), 0, [] as VmaSnapshot[]);
    const registered = Atomics.load(ctl, CTL_KSM_ENTERED) !== 0;
    let gRmap = 0;
    let gMerging = 0;
    let gZero = 0;
    for (const v of vmas) {
      const mergeable = (v.flags & VM_MERGEABLE) !== 0;
      for (let p = v.start; p < v.start + v.pages; p++) {
        const pte = Atomics.load(pt, p);
        if (pte === 0) continue;
        const where = `guest ${h.pid} page 0x${p.toString(16)} (${describePte(pte)})`;
        if (mergeable !== ((pte & PTE_MERGEABLE) !== 0)) problems.push(`${where}: MERGEABLE bit disagrees with its VMA`);
        if (pte & PTE_SWAPPED) continue;
        if (!(pte & PTE_PRESENT)) continue;
        if (pte & PTE_ZERO) {
          if (pteFrame(pte) !== ZERO_FRAME) problems.push(`${where}: ZERO bit on a frame that is not the zero page`);
          if (pte & PTE_KSM_ZERO) gZero++;
          continue;
        }
        const f = pteFrame(pte);
        if (mergeable && registered) gRmap++;
        if (pte & PTE_KSM) {
          gMerging++;
          ksmMappers.set(f, (ksmMappers.get(f) ?? 0) + 1);
          continue;
        }
        const other = privateOwner.get(f);
        if (other !== undefined) problems.push(`frame ${f} is private to both ${other} and ${where}`);
        privateOwner.set(f, where);
      }
    }
    rmapItems += gRmap;
    ksmZero += gZero;
    const rep = [Atomics.load(ctl, CTL_RMAP_ITEMS), Atomics.load(ctl, CTL_MERGING_PAGES), Atomics.load(ctl, CTL_KSM_ZERO_PAGES)];
    if (rep[0] !== gRmap) problems.push(`guest ${h.pid} ksm_rmap_items: ksmd says ${rep[0]}, recount ${gRmap}`);
    if (rep[1] !== gMerging) problems.push(`guest ${h.pid} ksm_merging_pages: ksmd says ${rep[1]}, recount ${gMerging}`);
    if (rep[2] !== gZero) problems.push(`guest ${h.pid} ksm_zero_pages: says ${rep[2]}, recount ${gZero}`);
  }
  let sharing = 0;
  const groups = new Map<string, number>();
  for (const [f, n] of ksmMappers) {
    sharing += n - 1;
    if (privateOwner.has(f)) problems.push(`frame ${f} is both a KSM page and private to ${privateOwner.get(f)}`);
    if (mem.allocator.isFree(f)) problems.push(`KSM frame ${f} is mapped ${n} times but marked free`);
    const mc = mem.mapcount(f);
    if (mc !== n) problems.push(`KSM frame ${f}: mapcount ${mc}, but ${n} PTEs map it`);
    if (mem.frameFlags(f) === 0) problems.push(`KSM frame ${f} carries no stable-node tag`);
    if (n > maxSharing) problems.push(`KSM frame ${f} has ${n} mappers, above max_page_sharing ${maxSharing}`);
    const key = createHash('sha256').update(mem.frameBytes(f)).digest('hex') + (mergeAcross ? '' : `@${mem.nodeOf(f)}`);
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
  const total = mem.totalFrames;
  const free = mem.freeFrames();
  const leakedFrameList: number[] = [];
  for (let f = 0; f < total; f++) {
    if (f === ZERO_FRAME || mem.allocator.isFree(f) || privateOwner.has(f) || ksmMappers.has(f)) continue;
    leakedFrameList.push(f);
  }
  return {
    counters: {
      pages_shared: ksmMappers.size,
      pages_sharing: sharing,
      ksm_zero_pages: ksmZero,
      rmap_items: rmapItems,
      stable_node_chains: chains,
      stable_node_dups: dups,
      general_profit: (sharing + ksmZero) * PAGE_SIZE - rmapItems * 64,
    },
    leakedFrames: leakedFrameList.length,
    leakedFrameList,
    frames: { total, free, private: privateOwner.size, ksm: ksmMappers.size },
    problems,
    ksmMappers,
  };
}

/** Recount the host's live guests and list every difference with ksmd's published counters. */
export function recountHost(host: Host, spaces: readonly GuestSpaceHandles[]): { recount: StressRecount; mismatches: string[] } {
  const r = recountSpaces(host.memory, host.ksm.get('merge_across_nodes') === 1, host.ksm.get('max_page_sharing'), spaces);
  const c = host.files.counters();
  const mismatches = [...r.problems];
  for (const k of RECOUNTED) if (c[k] !== r.counters[k]) mismatches.push(`${k}: ksmd says ${c[k]}, recount says ${r.counters[k]}`);
  return { recount: r, mismatches };
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
}

/**
 * After ksmd was killed: its in-flight state (temporary references on KSM frames, frees deferred
 * until a guest left a page) lived only on its own heap, so nobody can finish it. With every guest
 * stopped (no syscall or access in progress, hazard words clear) and ksmd dead, the page tables are
 * the whole truth: a KSM frame's mapcount must equal its mappers, a private frame's must be 0, and
 * a frame that no PTE maps and that is not free belonged to the dead ksmd, and ksm_zero_pages is
 * the number of KSM zero-page PTEs. This is the host's fsck;
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
  let mapcountsFixed = 0;
  for (const [f, n] of r.ksmMappers) {
    if (mem.mapcount(f) !== n) {
      mem.setMapcount(f, n);
      mapcountsFixed++;
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
  return { mapcountsFixed, privateMapcountsCleared, framesReclaimed: r.leakedFrames, zeroPageCountersFixed };
}
