// control-page.ts — owns the layout of a stress guest's control page: one MAP_SHARED page (KSM never
// merges shared mappings) that the host writes commands into through host memory (as a hypervisor
// writes a virtio ring) and the guest writes its counters and acknowledgements into through its own
// page table. The guest maps it first, so the host finds it as the guest's only VM_SHARED area.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from '../mem/constants.ts';
import { VM_SHARED, readVmaTable, type GuestSpaceHandles } from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { PTE_PRESENT, pteFrame } from '../mem/pte.ts';

/** Int32 word indexes in the control page. */
export const CP_CMD = 0; // host → guest: what to do now (CMD_*)
export const CP_CMD_SEQ = 1; // host bumps it after writing CP_CMD
export const CP_ACK_SEQ = 2; // guest → host: the CP_CMD_SEQ it has carried out
export const CP_RESULT = 3; // guest → host: answer to the last command (verify: mismatching bytes)
export const CP_COUNTERS = 8; // guest → host: STRESS_COUNTERS, one word each

export const CMD_RUN = 0;
export const CMD_PAUSE = 1; // stop between two operations and wait (keeps hazard words clear)
export const CMD_QUIESCE = 2; // stop for good: restore protections, publish counters, wait
export const CMD_VERIFY = 3; // read every mapped byte back and compare with the shadow copy
export const CMD_EXIT = 4;

/** What each guest counts (all monotonic). */
export const STRESS_COUNTERS = [
  'ops', 'reads', 'writes', 'memsets', 'cows', 'unmerges', 'madvises', 'mprotects', 'mmaps', 'munmaps',
  'prctls', 'dontneeds', 'eagain', 'enomem', 'efault_expected', 'violations', 'unexpected_errors', 'pageouts',
] as const;
export type StressCounter = (typeof STRESS_COUNTERS)[number];
export const CP_WORDS = CP_COUNTERS + STRESS_COUNTERS.length;

/** The host's view of one guest's control page (found through its VMA table and page table). */
export class HostControlPage {
  private readonly words: Int32Array;
  private readonly base: number;

  private constructor(words: Int32Array, base: number) {
    this.words = words;
    this.base = base;
  }

  /** The control page of a guest, once the guest has mapped and touched it; undefined before. */
  static find(mem: PhysicalMemory, h: GuestSpaceHandles): HostControlPage | undefined {
    const vmas = readVmaTable(new Int32Array(h.control), new Int32Array(h.vmaTable), VM_SHARED, []);
    if (vmas.length === 0) return undefined;
    const pte = Atomics.load(new Int32Array(h.pageTable), vmas[0]!.start);
    if (!(pte & PTE_PRESENT)) return undefined;
    const f = pteFrame(pte);
    return new HostControlPage(mem.bankI32[f >>> BANK_SHIFT]!, ((f & BANK_MASK) << PAGE_SHIFT) >> 2);
  }

  get(word: number): number {
    return Atomics.load(this.words, this.base + word);
  }

  /** Issue a command; returns its sequence number (compare with acked()). */
  command(cmd: number): number {
    Atomics.store(this.words, this.base + CP_CMD, cmd);
    return Atomics.add(this.words, this.base + CP_CMD_SEQ, 1) + 1;
  }

  acked(): number {
    return this.get(CP_ACK_SEQ);
  }

  counters(): Record<StressCounter, number> {
    const out = {} as Record<StressCounter, number>;
    STRESS_COUNTERS.forEach((name, i) => (out[name] = this.get(CP_COUNTERS + i)));
    return out;
  }
}
