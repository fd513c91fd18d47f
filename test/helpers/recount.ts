// recount.ts — every KSM counter recounted from scratch from the page tables, plus the frame
// accounting and the per-frame invariants (DESIGN §2 invariant 4: "counters stay equal to a recount
// from scratch"). Reads only shared memory: host.memory and each live guest's GuestSpaceHandles.
//
// What the recount means (kernel semantics in /work/shared/notes/kernel-ksm.md):
//  - pages_shared      distinct KSM frames mapped by some live guest
//  - pages_sharing     Σ over KSM frames of (mappers − 1)
//  - ksm_zero_pages    PTEs that map the zero page because ksmd put it there (KSM_ZERO)
//  - rmap_items        present, non-zero-page anonymous pages in VM_MERGEABLE areas of guests
//                      registered with KSM (ksmd keeps one item per such page once it has scanned it)
//  - stable_node_chains/dups  KSM frames grouped by content (and by node when merge_across_nodes=0):
//                      each group of two or more is one chain of that many dups (max_page_sharing)
//  - general_profit    (pages_sharing + ksm_zero_pages) × 4096 − rmap_items × 64
//  - frames            free + private + distinct KSM + 1 reserved zero frame == total
// These equal ksmd's counters only after a quiet full scan (nothing written since ksmd last looked),
// because the counters follow ksmd, not the syscalls — as the kernel's do.

import { createHash } from 'node:crypto';
import { expect } from 'chai';
import type { GuestHandle, Host } from '../../src/host/host.ts';
import { PAGE_SIZE, ZERO_FRAME } from '../../src/mem/constants.ts';
import {
  CTL_KSM_ENTERED, CTL_KSM_ZERO_PAGES, CTL_MERGING_PAGES, CTL_RMAP_ITEMS, VM_MERGEABLE, readVmaTable,
  type VmaSnapshot,
} from '../../src/mem/guest-control.ts';
import {
  PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, describePte, pteFrame,
} from '../../src/mem/pte.ts';

/** The counters the recount can check (the sysfs names, plus ksmd's internal rmap_items). */
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
  /** The allocator's free count. */
  readonly free: number;
  /** Free frames counted bit by bit in the allocator's bitmap. */
  readonly freeBits: number;
  readonly private: number;
  readonly ksm: number;
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
  /** Broken invariants (frame mapped twice, mapcount ≠ mappers, a mapped frame marked free, …). */
  readonly problems: readonly string[];
}

export interface RecountOptions {
  /** Guests to walk (default: every guest the host still runs). */
  readonly guests?: readonly GuestHandle[];
}

/** Recount everything from the page tables of the live guests. */
export function recount(host: Host, options: RecountOptions = {}): Recount {
  const mem = host.memory;
  const guests = options.guests ?? host.guests;
  const problems: string[] = [];
  const mergeAcross = host.ksm.get('merge_across_nodes') === 1;
  const maxSharing = host.ksm.get('max_page_sharing');

  const ksmMappers = new Map<number, number>();
  const privateOwner = new Map<number, string>();
  let ksmZero = 0;
  let rmapItems = 0;
  let unmergedMergeable = 0;
  const perGuest: GuestRecount[] = [];

  for (const g of guests) {
    const h = g.handles;
    const pt = new Int32Array(h.pageTable);
    const ctl = new Int32Array(h.control);
    const vmas = readVmaTable(ctl, new Int32Array(h.vmaTable), 0, [] as VmaSnapshot[]);
    const registered = Atomics.load(ctl, CTL_KSM_ENTERED) !== 0;
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
          problems.push(`${where}: swapped, which the recount does not model`);
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
          if (!mergeable) problems.push(`${where}: a KSM page outside a mergeable area`);
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

  // KSM frames: each is a live, tagged frame whose mapcount is exactly its number of mappers.
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
  if (mem.allocator.isFree(ZERO_FRAME)) problems.push('the zero frame is marked free');

  // Frame accounting.
  const total = mem.totalFrames;
  const free = mem.freeFrames();
  let freeBits = 0;
  for (let f = 0; f < total; f++) if (mem.allocator.isFree(f)) freeBits++;
  if (freeBits !== free) problems.push(`allocator says ${free} frames are free, its bitmap has ${freeBits}`);
  const frames: FrameRecount = { total, free, freeBits, private: privateOwner.size, ksm: ksmMappers.size, reserved: 1 };
  if (free + frames.private + frames.ksm + frames.reserved !== total) {
    problems.push(`frames: ${free} free + ${frames.private} private + ${frames.ksm} KSM + 1 zero = ${free + frames.private + frames.ksm + 1}, but the host has ${total}`);
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
  return { counters, guests: perGuest, frames, unmergedMergeable, ksmMappers, problems };
}

/** The host's counters, restricted to what the recount checks. */
export function hostCounters(host: Host): Record<Recounted, number> {
  const c = host.files.counters();
  return Object.fromEntries(RECOUNTED.map((k) => [k, c[k]])) as Record<Recounted, number>;
}

/** Every difference between ksmd's counters (global and per guest) and the recount, as lines. */
export function recountDifferences(host: Host, r: Recount, pendingFrees = 0): string[] {
  const out = [...r.problems];
  const c = hostCounters(host);
  for (const k of RECOUNTED) if (c[k] !== r.counters[k]) out.push(`${k}: ksmd says ${c[k]}, recount says ${r.counters[k]}`);
  for (const g of r.guests) {
    if (g.reported.rmapItems !== g.rmapItems) out.push(`guest ${g.pid} ksm_rmap_items: ${g.reported.rmapItems}, recount ${g.rmapItems}`);
    if (g.reported.mergingPages !== g.mergingPages) out.push(`guest ${g.pid} ksm_merging_pages: ${g.reported.mergingPages}, recount ${g.mergingPages}`);
    if (g.reported.ksmZeroPages !== g.ksmZeroPages) out.push(`guest ${g.pid} ksm_zero_pages: ${g.reported.ksmZeroPages}, recount ${g.ksmZeroPages}`);
  }
  if (pendingFrees !== 0) out.push(`ksmd still holds ${pendingFrees} deferred frees`);
  return out;
}

export interface MatchOptions {
  /** How long to keep retrying while ksmd may be mid-publish (default 3 s). */
  readonly timeoutMs?: number;
  readonly guests?: readonly GuestHandle[];
}

/**
 * Assert that ksmd's counters equal the recount. Call it after a quiet full scan. It retries for a
 * short while, because the test thread may read the counters while ksmd is publishing a batch.
 */
export async function expectCountersMatchRecount(host: Host, options: MatchOptions = {}): Promise<Recount> {
  const deadline = Date.now() + (options.timeoutMs ?? 3000);
  for (;;) {
    const pending = host.ksmd ? (await host.ksmd.stats()).pendingFrees : 0;
    const r = recount(host, { guests: options.guests });
    const diffs = recountDifferences(host, r, pending);
    if (diffs.length === 0) return r;
    if (process.env.KSM_TEST_VERBOSE) console.log(`recount retry: ${diffs.join('; ')}`);
    if (Date.now() > deadline) {
      expect.fail(`KSM counters differ from the recount:\n  ${diffs.slice(0, 40).join('\n  ')}\ncounters: ${JSON.stringify(host.files.counters())}\nframes: ${JSON.stringify(r.frames)}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}
