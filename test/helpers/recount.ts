// recount.ts — every KSM counter recounted from scratch from the page tables, plus the frame
// accounting and the per-frame invariants (docs/protocol.md#invariants, invariant 4: "counters stay equal to a recount
// from scratch"). Reads only shared memory: host.memory and each live guest's GuestSpaceHandles.
//
// What the recount means (kernel semantics in docs/kernel-ksm.md):
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

import { expect } from 'chai';
import type { GuestHandle, Host } from '../../src/host/host.ts';
import {
  RECOUNTED, recountDifferences as differences, recountSpaces, type Recount, type Recounted,
} from '../../src/stress/recount.ts';

export { RECOUNTED, type FrameRecount, type GuestRecount, type Recount, type Recounted } from '../../src/stress/recount.ts';

export interface RecountOptions {
  /** Guests to walk (default: every guest the host still runs). */
  readonly guests?: readonly GuestHandle[];
}

/** Recount everything from the page tables of the live guests (tests never swap: a swapped page is a problem). */
export function recount(host: Host, options: RecountOptions = {}): Recount {
  const guests = options.guests ?? host.guests;
  return recountSpaces(host.memory, host.ksm.get('merge_across_nodes') === 1, host.ksm.get('max_page_sharing'), guests.map((g) => g.handles), true);
}

/** The host's counters, restricted to what the recount checks. */
export function hostCounters(host: Host): Record<Recounted, number> {
  const c = host.files.counters();
  return Object.fromEntries(RECOUNTED.map((k) => [k, c[k]])) as Record<Recounted, number>;
}

/** Every difference between ksmd's counters (global and per guest) and the recount, as lines. */
export function recountDifferences(host: Host, r: Recount, pendingFrees = 0): string[] {
  const out = differences(hostCounters(host), r);
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
