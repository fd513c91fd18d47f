// bench-guest.ts — owns an in-process guest for the KSM benches: an AddressSpace and a KsmEngine on
// this thread over shared PhysicalMemory (the same objects the workers use, without the workers).

import { AddressSpace } from '../../src/mem/address-space.ts';
import { MMAP_MIN_ADDR, PAGE_SIZE } from '../../src/mem/constants.ts';
import { createGuestSpaceHandles, type GuestSpaceHandles } from '../../src/mem/guest-control.ts';
import type { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KsmState, type KnobName } from '../../src/ksm/ksm-state.ts';

export interface BenchGuest {
  readonly handles: GuestSpaceHandles;
  readonly space: AddressSpace;
  readonly state: KsmState;
  readonly engine: KsmEngine;
  /** Start of the guest's one mapping and its size. */
  readonly addr: number;
  readonly bytes: number;
  readonly pages: number;
}

let nextPid = 1000;

/**
 * A fresh guest with one private anonymous mapping of `pages` pages (not yet filled, not yet
 * mergeable), and a fresh ksmd engine with its own sysfs state that already knows the guest.
 */
export function startBenchGuest(memory: PhysicalMemory, pages: number, knobs: Partial<Record<KnobName, number>> = {}): BenchGuest {
  const handles = createGuestSpaceHandles(nextPid++, 0, MMAP_MIN_ADDR / PAGE_SIZE + pages + 64);
  const space = new AddressSpace(handles, memory);
  const bytes = pages * PAGE_SIZE;
  const addr = space.mmap(bytes);
  const state = KsmState.create();
  for (const [k, v] of Object.entries(knobs)) state.set(k as KnobName, v);
  const engine = new KsmEngine(memory, state);
  engine.addGuest(handles);
  return { handles, space, state, engine, addr, bytes, pages };
}

/** Unmap everything the guest holds (frees its frames, drops its KSM mappings). */
export function stopBenchGuest(g: BenchGuest): void {
  g.space.teardown();
}

/** Pages mapped to a KSM page (pages_shared + pages_sharing) as ksmd last published them. */
export function mergedPages(state: KsmState): number {
  return state.get('pages_shared') + state.get('pages_sharing');
}

/**
 * Run ksmd's scan loop on this thread (pages_to_scan per batch) until `done()` holds after a batch;
 * throws after `maxFullScans` full scans without it. Returns the full scans it took.
 */
export function scanUntil(g: BenchGuest, done: () => boolean, maxFullScans = 8): number {
  const start = g.state.get('full_scans');
  const batch = g.state.get('pages_to_scan');
  for (;;) {
    g.engine.scanBatch(batch);
    if (done()) return g.state.get('full_scans') - start;
    if (g.state.get('full_scans') - start > maxFullScans) {
      throw new Error(`not done after ${maxFullScans} full scans (pages_shared ${g.state.get('pages_shared')}, pages_sharing ${g.state.get('pages_sharing')})`);
    }
  }
}

/** Fill a region with xorshift32 words: every page distinct (with overwhelming probability), reproducible. */
export function fillRandom(g: BenchGuest, seed = 0x2545f491): void {
  const chunk = new Int32Array(256 * 1024); // 1 MiB at a time
  const bytes = new Uint8Array(chunk.buffer);
  let x = seed | 0 || 1;
  for (let off = 0; off < g.bytes; off += bytes.length) {
    const n = Math.min(bytes.length, g.bytes - off);
    for (let i = 0; i < n >> 2; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk[i] = x;
    }
    g.space.write(g.addr + off, n === bytes.length ? bytes : bytes.subarray(0, n));
  }
}
