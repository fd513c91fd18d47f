// address-space.ts — owns one guest's virtual memory as the guest sees it: the syscall surface that
// changes its VMAs and page table (mmap, munmap, mprotect, mbind, madvise, prctl) over the layers
// below it (space-core.ts lists them): the access fast path and faults (space-access.ts), swap
// (space-swap.ts), the in-flight record and crash recovery (space-inflight.ts).
//
// Runs on the guest's own thread (and on the host's, to tear a dead guest down). ksmd changes the
// same page table concurrently; the rules that keep that safe (docs/protocol.md):
//  - every PTE change is a compare-and-exchange (or an exchange) on the exact old value;
//  - whoever takes a frame out of a PTE owns that reference: it frees a private frame, or drops a
//    KSM frame's mapcount;
//  - before touching a frame it found through its PTE the guest publishes the page and the kind of
//    access (hazardRead/hazardWrite) in its hazard word and only then loads the PTE; ksmd, after
//    changing a PTE, loads the hazard word. The two sequentially consistent store→load pairs form
//    a Dekker handshake: either the guest sees ksmd's new PTE, or ksmd sees the guest at that page
//    and waits (write-protect: for a writer only) or defers the free (replace: for any access).
//    That is the emulator's TLB shootdown.
//  - ksmd reads private frames (checksum, tree compares) holding no reference: the guest may free
//    the frame and another guest reuse it meanwhile. Those reads only choose what to try; every
//    merge then write-protects by compare-and-exchange on the exact PTE value, waits for writers,
//    compares in full, and installs by compare-and-exchange on the write-protected value (see
//    KsmEngine.cmpAndMerge), so a stale read can cost a merge, never a wrong one.

import {
  MADV_COLD, MADV_COLLAPSE, MADV_DONTNEED, MADV_HUGEPAGE, MADV_PAGEOUT, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
  MADV_RANDOM, MADV_SEQUENTIAL, MADV_UNMERGEABLE, MADV_WILLNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE,
  MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MMAP_MIN_ADDR, PAGE_SIZE, PR_GET_MEMORY_MERGE,
  PR_SET_MEMORY_MERGE, PROT_MASK, PROT_NONE, PROT_READ, PROT_WRITE,
} from './constants.ts';
import { ErrnoError, OutOfMemoryKill } from './errno.ts';
import {
  CTL_HAZARD, CTL_KSM_ENTERED, CTL_MERGE_ANY, CTL_VA_HIGH, HAZARD_NONE,
  MAX_VMAS, VM_HUGEPAGE, VM_MERGEABLE, VM_NOHUGEPAGE, VM_SHARED, VM_WRITE, hazardWrite, type GuestSpaceHandles,
} from './guest-control.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import { PTE_FRAME_SHIFT, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_WRITABLE, makePte } from './pte.ts';
import { SpaceAccess } from './space-access.ts';
import { NO_HOOKS, checkInt, type SpaceHooks } from './space-core.ts';
import { VmaList, type Vma } from './vma-list.ts';

/** Callbacks into the layers above memory, so this module does not depend on them. */
/** The hooks of an AddressSpace (space-core.ts); engineAdvice receives the AddressSpace itself. */
export type AddressSpaceHooks = SpaceHooks<AddressSpace>;
/** A merge engine's say over madvise on one area (src/engines): true = handled. */
export type EngineAdvice = NonNullable<AddressSpaceHooks['engineAdvice']>;

export class AddressSpace extends SpaceAccess {
  /** Set while a madvise/prctl made an area mergeable; registration follows the VMA publish. */
  private enterKsm = false;

  constructor(handles: GuestSpaceHandles, memory: PhysicalMemory, hooks: AddressSpaceHooks = NO_HOOKS) {
    // The syscall surface owns the VMA list (it alone changes it); the layers below read it.
    const ctl = new Int32Array(handles.control);
    super(handles, memory, hooks, ctl, new VmaList(ctl, new Int32Array(handles.vmaTable)));
  }

  // ───────────────────────────── mappings ─────────────────────────────

  mmap(length: number, prot: number = PROT_READ | PROT_WRITE, flags: number = MAP_PRIVATE | MAP_ANONYMOUS): number {
    checkInt(length, 'mmap', 'length');
    checkInt(prot, 'mmap', 'prot');
    checkInt(flags, 'mmap', 'flags');
    if (length <= 0) throw new ErrnoError('EINVAL', 'mmap', `length ${length}`);
    if (prot & ~PROT_MASK) throw new ErrnoError('EINVAL', 'mmap', `prot 0x${prot.toString(16)}`);
    const type = flags & (MAP_SHARED | MAP_PRIVATE);
    if (type !== MAP_SHARED && type !== MAP_PRIVATE) throw new ErrnoError('EINVAL', 'mmap', 'flags need exactly one of MAP_SHARED and MAP_PRIVATE');
    if (flags & MAP_FIXED) throw new ErrnoError('EINVAL', 'mmap', 'MAP_FIXED is not supported: addresses are chosen by the kernel');
    if (flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE)) {
      throw new ErrnoError('EINVAL', 'mmap', `unsupported flags 0x${flags.toString(16)}`);
    }
    // Without MAP_ANONYMOUS Linux wants a file descriptor; guests have none, so fd -1 is EBADF.
    if (!(flags & MAP_ANONYMOUS)) throw new ErrnoError('EBADF', 'mmap', 'file mappings need a file descriptor; use MAP_ANONYMOUS');
    const pages = Math.ceil(length / PAGE_SIZE);
    if (this.vmas.wouldOverflow(1)) throw new ErrnoError('ENOMEM', 'mmap', 'too many mappings');
    const start = this.vmas.findGap(pages, MMAP_MIN_ADDR / PAGE_SIZE, this.vaPages);
    if (start < 0) throw new ErrnoError('ENOMEM', 'mmap', `no ${pages}-page gap in the ${this.vaPages}-page address space`);
    let vmFlags = prot | (type === MAP_SHARED ? VM_SHARED : 0);
    // PR_SET_MEMORY_MERGE makes every compatible new mapping mergeable (ksm_add_vma).
    if (Atomics.load(this.ctl, CTL_MERGE_ANY) && !(vmFlags & VM_SHARED)) vmFlags |= VM_MERGEABLE;
    if (this.hooks.mergeableAtMmap && !(vmFlags & VM_SHARED)) vmFlags |= VM_MERGEABLE;
    if (start + pages > Atomics.load(this.ctl, CTL_VA_HIGH)) Atomics.store(this.ctl, CTL_VA_HIGH, start + pages);
    this.vmas.insert({ start, end: start + pages, flags: vmFlags, node: -1 });
    this.vmas.publish();
    if (flags & MAP_POPULATE) {
      const end = start + pages;
      for (let p = start; p < end; p++) {
        if (prot & PROT_WRITE) this.touchForWrite(p);
        else if (prot !== PROT_NONE) this.touchForRead(p);
      }
    }
    return start * PAGE_SIZE;
  }

  munmap(addr: number, length: number): void {
    const [start, end] = this.pageRange('munmap', addr, length, true);
    if (end > this.vaPages) throw new ErrnoError('EINVAL', 'munmap', 'range beyond the address space');
    // Punching a hole splits an area; past MAX_VMAS that is ENOMEM, checked before anything is freed.
    if (this.vmas.countAfterRemoving(start, end) > MAX_VMAS) throw new ErrnoError('ENOMEM', 'munmap', 'too many mappings');
    this.splitBlocksCutBy(start, end);
    for (const m of this.vmas.splitRange(start, end)) this.releaseRange(m.start, m.end);
    this.vmas.removeRange(start, end);
    this.vmas.publish('munmap');
  }

  mprotect(addr: number, length: number, prot: number): void {
    const [start, end] = this.pageRange('mprotect', addr, length, false);
    checkInt(prot, 'mprotect', 'prot');
    if (prot & ~PROT_MASK) throw new ErrnoError('EINVAL', 'mprotect', `prot 0x${prot.toString(16)}`);
    if (start === end) return;
    this.splitBlocksCutBy(start, end);
    // Like mprotect_fixup, apply area by area and stop at the first hole with ENOMEM.
    let cursor = start;
    let hole = false;
    for (const m of this.vmas.splitRange(start, end)) {
      if (m.start !== cursor) {
        hole = true;
        break;
      }
      m.flags = (m.flags & ~PROT_MASK) | prot;
      this.applyProtToPtes(m.start, m.end, prot);
      cursor = m.end;
    }
    this.vmas.publish('mprotect');
    if (hole || cursor < end) throw new ErrnoError('ENOMEM', 'mprotect', 'range has unmapped pages');
  }

  /** Pages of the range fault in from `node` from now on (MPOL_BIND); present pages stay where they are. */
  mbind(addr: number, length: number, node: number): void {
    const [start, end] = this.pageRange('mbind', addr, length, false);
    checkInt(node, 'mbind', 'node');
    if (node < 0 || node >= this.mem.nodes.length) throw new ErrnoError('EINVAL', 'mbind', `node ${node} does not exist (host has ${this.mem.nodes.length})`);
    if (start === end) return;
    if (!this.vmas.covers(start, end)) throw new ErrnoError('EFAULT', 'mbind', 'range has unmapped pages');
    for (const m of this.vmas.splitRange(start, end)) m.node = node;
    this.vmas.publish('mbind');
  }

  madvise(addr: number, length: number, advice: number): void {
    checkInt(advice, 'madvise', 'advice');
    switch (advice) {
      case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
      case MADV_DONTNEED: case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE:
      case MADV_COLD: case MADV_PAGEOUT: case MADV_COLLAPSE:
        break;
      default:
        throw new ErrnoError('EINVAL', 'madvise', `advice ${advice}`);
    }
    const [start, end] = this.pageRange('madvise', addr, length, false);
    if (start === end) return;
    if (end > this.vaPages) throw new ErrnoError('ENOMEM', 'madvise', 'range beyond the address space');
    // madvise_walk_vmas: apply to every mapped part, remember any hole, report ENOMEM at the end.
    let cursor = start;
    let hole = false;
    if (advice === MADV_DONTNEED) this.splitBlocksCutBy(start, end);
    // Advice that changes no VMA flag walks the areas as they are (no split, nothing to publish).
    const parts = advice === MADV_DONTNEED || advice === MADV_WILLNEED || advice <= MADV_SEQUENTIAL || advice === MADV_COLD || advice === MADV_PAGEOUT || advice === MADV_COLLAPSE
      ? this.vmas.all.filter((m) => m.end > start && m.start < end).map((m) => ({ ...m, start: Math.max(m.start, start), end: Math.min(m.end, end) }))
      : this.vmas.splitRange(start, end);
    let failure: ErrnoError | undefined;
    for (const m of parts) {
      if (m.start > cursor) hole = true;
      cursor = m.end;
      try {
        this.adviseArea(m, advice);
      } catch (e) {
        failure = e as ErrnoError;
        break;
      }
    }
    try {
      this.vmas.publish('madvise');
    } catch (e) {
      // madvise_vma_behavior turns a failed split (-ENOMEM) into EAGAIN (measured on Linux 6.18).
      if (e instanceof ErrnoError && e.code === 'ENOMEM') throw new ErrnoError('EAGAIN', 'madvise', 'too many mappings');
      throw e;
    }
    this.registerWithKsm();
    if (failure) throw failure;
    if (hole || cursor < end) throw new ErrnoError('ENOMEM', 'madvise', 'range has unmapped pages');
  }

  prctl(option: number, arg2: number = 0): number {
    checkInt(option, 'prctl', 'option');
    checkInt(arg2, 'prctl', 'arg2');
    if (option === PR_GET_MEMORY_MERGE) {
      if (arg2 !== 0) throw new ErrnoError('EINVAL', 'prctl', 'PR_GET_MEMORY_MERGE takes no argument');
      return Atomics.load(this.ctl, CTL_MERGE_ANY);
    }
    if (option !== PR_SET_MEMORY_MERGE) throw new ErrnoError('EINVAL', 'prctl', `option ${option}`);
    if (arg2 !== 0) {
      if (Atomics.load(this.ctl, CTL_MERGE_ANY)) return 0;
      Atomics.store(this.ctl, CTL_MERGE_ANY, 1);
      for (const m of this.vmas.all) if (!(m.flags & VM_SHARED)) this.makeMergeable(m);
      this.vmas.publish();
      this.enterKsm = true;
      this.registerWithKsm();
      return 0;
    }
    if (!Atomics.load(this.ctl, CTL_MERGE_ANY)) return 0;
    // ksm_disable_merge_any: unmerge every area and clear VM_MERGEABLE; on failure restore the flag.
    try {
      for (const m of this.vmas.all) if (m.flags & VM_MERGEABLE) this.unmergeArea(m, 'prctl');
    } finally {
      this.vmas.publish('prctl');
    }
    Atomics.store(this.ctl, CTL_MERGE_ANY, 0);
    return 0;
  }

  private applyProtToPtes(start: number, end: number, prot: number): void {
    const pt = this.pt;
    for (let p = start; p < end; p++) {
      for (;;) {
        const pte = Atomics.load(pt, p);
        if (pte === 0) break;
        let next = pte;
        if (!(prot & PROT_WRITE)) next &= ~PTE_WRITABLE;
        if (prot === PROT_NONE) next |= PTE_NOACCESS;
        else next &= ~PTE_NOACCESS;
        if (next === pte || Atomics.compareExchange(pt, p, pte, next) === pte) break;
      }
    }
  }

  private adviseArea(m: Vma, advice: number): void {
    switch (advice) {
      case MADV_DONTNEED:
        // Private pages go back to "never touched"; shared anonymous memory keeps its contents (shmem).
        if (!(m.flags & VM_SHARED)) this.releaseRange(m.start, m.end);
        return;
      case MADV_PAGEOUT:
        // madvise_pageout: reclaim the range's pages now. Returns 0 whatever it skipped (KSM pages
        // mapped more than once, zero pages; shared memory here, whose pages this emulator never
        // swaps). Each page's rule is canPageOut (space-swap.ts).
        if (!(m.flags & VM_SHARED)) this.pageOutRange(m.start, m.end);
        return;
      case MADV_COLD:
        // madvise_cold: deactivate the range, so reclaim takes its pages first. The emulator's
        // reclaim order is this guest's clock hand: point it at the range.
        if (!(m.flags & VM_SHARED)) this.swapHand = m.start;
        return;
      case MADV_MERGEABLE:
        if (this.hooks.engineAdvice?.(this, m, advice)) return;
        // ksm_madvise: incompatible areas (MAP_SHARED) are silently accepted and never merged.
        if (m.flags & VM_SHARED) return;
        this.enterKsm = true;
        this.makeMergeable(m);
        return;
      case MADV_UNMERGEABLE:
        if (this.hooks.engineAdvice?.(this, m, advice)) return;
        if (m.flags & VM_MERGEABLE) this.unmergeArea(m, 'madvise');
        return;
      case MADV_HUGEPAGE:
        m.flags = (m.flags | VM_HUGEPAGE) & ~VM_NOHUGEPAGE;
        return;
      case MADV_NOHUGEPAGE:
        m.flags = (m.flags | VM_NOHUGEPAGE) & ~VM_HUGEPAGE;
        return;
      case MADV_COLLAPSE:
        this.collapseRange(m, m.start, m.end);
        return;
      default:
        return; // MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED: hints with no effect here
    }
  }

  /**
   * __ksm_enter: tell ksmd to scan this guest. Stored only after the VMA table that makes the areas
   * mergeable is published, so ksmd never sees the registration without the areas (it would drop
   * the registration again, as the kernel drops an mm with no VM_MERGEABLE area).
   */
  private registerWithKsm(): void {
    if (!this.enterKsm) return;
    this.enterKsm = false;
    if (Atomics.exchange(this.ctl, CTL_KSM_ENTERED, 1) === 0) this.hooks.ksmEntered?.();
  }

  private makeMergeable(m: Vma): void {
    if (m.flags & VM_MERGEABLE) return;
    m.flags |= VM_MERGEABLE;
    this.markMergeable(m.start, m.end);
  }

  /** Set PTE_MERGEABLE on the present pages of [from, to) (ksmd may change a PTE meanwhile: retry). */
  private markMergeable(from: number, to: number): void {
    const pt = this.pt;
    for (let p = from; p < to; p++) {
      for (;;) {
        const pte = Atomics.load(pt, p);
        if (pte === 0 || (pte & PTE_MERGEABLE)) break;
        if (Atomics.compareExchange(pt, p, pte, pte | PTE_MERGEABLE) === pte) break;
      }
    }
  }

  /**
   * break_ksm over an area: every KSM page and KSM zero page becomes a private copy, and the area
   * loses VM_MERGEABLE. A frame shortage is EAGAIN (madvise turns ENOMEM into EAGAIN); pages done so
   * far stay done, and the page that failed keeps its shared content, so nothing is lost.
   */
  private unmergeArea(m: Vma, syscall: string): void {
    const pt = this.pt;
    const ctl = this.ctl;
    const writable = m.flags & VM_WRITE ? PTE_WRITABLE : 0;
    for (let p = m.start; p < m.end; p++) {
      Atomics.store(ctl, CTL_HAZARD, hazardWrite(p)); // it swings the PTE: see reclaimInflight
      for (;;) {
        const pte = Atomics.load(pt, p);
        if (pte === 0) break;
        let next: number;
        let newFrame = -1;
        if ((pte & PTE_KSM) || (pte & PTE_KSM_ZERO)) {
          try {
            newFrame = this.allocFor(m, (pte & PTE_KSM) === 0, 'unmerge', p);
          } catch (e) {
            if (!(e instanceof OutOfMemoryKill)) throw e;
            Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
            // As in the kernel, the failed call leaves the area VM_MERGEABLE: the pages it already
            // unmerged stay private copies, but in a mergeable area again.
            this.markMergeable(m.start, p);
            throw new ErrnoError('EAGAIN', syscall, 'not enough free memory to unmerge');
          }
          if (pte & PTE_KSM) this.mem.copyFrame(pte >>> PTE_FRAME_SHIFT, newFrame);
          next = makePte(newFrame, PTE_PRESENT | writable | (pte & PTE_NOACCESS));
        } else {
          next = pte & ~PTE_MERGEABLE;
          if (next === pte) break;
        }
        if (newFrame < 0) {
          if (Atomics.compareExchange(pt, p, pte, next) === pte) break;
          continue;
        }
        if (this.swingWithNewFrame(p, pte, next, newFrame) === pte) break;
      }
      Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
    }
    m.flags &= ~VM_MERGEABLE;
  }

  private pageRange(syscall: string, addr: number, length: number, zeroLengthInvalid: boolean): [number, number] {
    checkInt(addr, syscall, 'address');
    checkInt(length, syscall, 'length');
    if (addr < 0 || addr % PAGE_SIZE !== 0) throw new ErrnoError('EINVAL', syscall, `address 0x${addr.toString(16)} is not page-aligned`);
    if (length < 0) throw new ErrnoError('EINVAL', syscall, `length ${length}`);
    if (length === 0 && zeroLengthInvalid) throw new ErrnoError('EINVAL', syscall, 'length 0');
    const start = addr / PAGE_SIZE;
    return [start, start + Math.ceil(length / PAGE_SIZE)];
  }
}
