// space-core.ts — owns the state every part of an address space works on: the guest's page table,
// control words and VMA list, and the frame banks' views, held as fields of one object so the access
// loops read them as `this.pt`, `this.bankBuf` with no indirection and no per-access allocation.
//
// The address space is layered, each layer a class over the one below it, in the order the code
// calls down (as a fault calls into swap and swap into the in-flight record):
//   SpaceCore (space-core.ts)          the shared views and fields
//   SpaceInflight (space-inflight.ts)  the in-flight record, dropping references, crash recovery
//   SpaceSwap (space-swap.ts)          frame allocation under pressure, swap-out and swap-in
//   SpaceThp (space-thp.ts)            huge faults, MADV_COLLAPSE, the guest's own PMD splits
//   SpaceAccess (space-access.ts)      the access fast path and the fault handlers
//   AddressSpace (address-space.ts)    the syscall surface (mmap, munmap, mprotect, mbind, madvise, prctl)
// The protocol's rules are in address-space.ts's header and docs/protocol.md.

import { ErrnoError } from './errno.ts';
import type { GuestSpaceHandles } from './guest-control.ts';
import { VM_MERGEABLE } from './guest-control.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import { PTE_MERGEABLE } from './pte.ts';
import type { Vma, VmaList } from './vma-list.ts';

/** Hooks for a space nobody above memory listens to (tests, and reclaim when the host passes none). */
/**
 * What an address space tells the world above it. `Space` is the address space type of the layer
 * that fills in engineAdvice (AddressSpace): a parameter, so this layer imports nothing above it.
 */
export interface SpaceHooks<Space = unknown> {
  /** Adjust the host-wide ksm_zero_pages counter (the per-guest one lives in the control words). */
  addKsmZeroPages(delta: number): void;
  /** The guest just registered with KSM: wake ksmd, as __ksm_enter does. */
  ksmEntered?(): void;
  /** Another merge engine's say over MADV_MERGEABLE/MADV_UNMERGEABLE on an area (src/engines): true = handled. */
  engineAdvice?(space: Space, area: Vma, advice: number): boolean;
  /** UKSM: every private anonymous mapping is mergeable from its creation, without madvise. */
  mergeableAtMmap?: boolean;
  /**
   * Memory is short and this guest found nothing of its own to page out: wake whoever reclaims
   * other guests' pages (ksmd's reclaim). False if no one will (no ksmd): the fault then fails at once.
   */
  memoryPressure?(): boolean;
  /** The host's transparent_hugepage/enabled (THP_ALWAYS, THP_MADVISE, THP_NEVER in thp.ts); absent: never. */
  thpMode?(): number;
}

export const NO_HOOKS: SpaceHooks = { addKsmZeroPages: () => {} };

export class SpaceCore {
  readonly handles: GuestSpaceHandles;
  readonly pid: number;
  readonly homeNode: number;
  readonly vaPages: number;
  readonly pt: Int32Array;
  readonly ctl: Int32Array;
  readonly vmas: VmaList;
  protected readonly mem: PhysicalMemory;
  protected readonly hooks: SpaceHooks;
  protected readonly bankU8: Uint8Array[];
  protected readonly bankBuf: Buffer[];
  /** Where this space's frame searches start, per node (not shared: see FrameAllocator.startHints). */
  protected readonly allocHints: Int32Array;

  constructor(handles: GuestSpaceHandles, memory: PhysicalMemory, hooks: SpaceHooks, ctl: Int32Array, vmas: VmaList) {
    this.handles = handles;
    this.pid = handles.pid;
    this.homeNode = handles.homeNode;
    this.vaPages = handles.vaPages;
    this.pt = new Int32Array(handles.pageTable);
    this.ctl = ctl; // the view of handles.control that `vmas` uses too
    this.vmas = vmas;
    this.mem = memory;
    this.hooks = hooks;
    this.bankU8 = memory.bankU8;
    this.bankBuf = memory.bankBuf;
    this.allocHints = memory.allocator.startHints(handles.pid);
  }
}

export function mergeBit(vma: Vma): number {
  return vma.flags & VM_MERGEABLE ? PTE_MERGEABLE : 0;
}

export function checkInt(value: number, syscall: string, what: string): void {
  if (!Number.isSafeInteger(value)) throw new ErrnoError('EINVAL', syscall, `${what} ${String(value)} is not an integer`);
}
