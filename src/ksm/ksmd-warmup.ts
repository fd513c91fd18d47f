// ksmd-warmup.ts — owns ksmd's warm-up at boot: a throwaway engine merges and scans a small scratch
// memory twice, so that V8 has compiled the scan path (the engine's JavaScript and the WebAssembly
// checksum, in their optimizing tiers) before the first real scan. Without it the first two full
// scans of a session ran at about half the engine's speed (the first `ksm_tests -P` round: about
// 1250 MiB/s against 2700 warm; with it 1500–1950). It costs about 50 ms of one core when the host
// starts, while the guests are still loading their programs. Nothing shared is touched.

import { MADV_MERGEABLE, MMAP_MIN_ADDR, PAGE_SIZE } from '../mem/constants.ts';
import { AddressSpace } from '../mem/address-space.ts';
import { createGuestSpaceHandles } from '../mem/guest-control.ts';
import { PhysicalMemory } from '../mem/physical-memory.ts';
import { KsmEngine } from './ksm-engine.ts';
import { KsmState } from './ksm-state.ts';

const PAGES = 2048; // 8 MiB
const ROUNDS = 2;

/**
 * Map, fill and merge PAGES pages ROUNDS times on a private memory: three quarters identical (the
 * merge path: checksum, stable probe, write-protect, compare, replace), a quarter distinct (the
 * unstable tree). Returns the pages merged in all rounds (1536 per round), for a test to check.
 */
export function warmUpEngine(): number {
  const memory = PhysicalMemory.create({ bytes: 2 * PAGES * PAGE_SIZE, numaNodes: 1 });
  const handles = createGuestSpaceHandles(0, 0, MMAP_MIN_ADDR / PAGE_SIZE + PAGES + 64);
  const space = new AddressSpace(handles, memory);
  const state = KsmState.create();
  state.set('pages_to_scan', PAGES);
  state.set('run', 1);
  const engine = new KsmEngine(memory, state);
  engine.addGuest(handles);
  const bytes = PAGES * PAGE_SIZE;
  const stampBytes = new Uint8Array(4);
  const stamp = new DataView(stampBytes.buffer);
  let merged = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const addr = space.mmap(bytes);
    space.memset(addr, 0x2a, bytes);
    for (let p = (PAGES * 3) / 4; p < PAGES; p++) {
      stamp.setUint32(0, p + 1, true);
      space.write(addr + p * PAGE_SIZE, stampBytes);
    }
    space.madvise(addr, bytes, MADV_MERGEABLE);
    for (let scan = 0; scan < 3; scan++) engine.scanBatch(PAGES);
    merged += state.get('pages_shared') + state.get('pages_sharing');
    space.munmap(addr, bytes);
    engine.scanBatch(PAGES); // drops the unmapped area's rmap items
  }
  space.teardown();
  return merged;
}
