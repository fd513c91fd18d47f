// address-space.ts — owns one guest's virtual memory: its VMAs, its page table, page faults,
// copy-on-write, and the syscalls that change them (mmap, munmap, mprotect, mbind, madvise, prctl).
//
// Runs on the guest's own thread (and on the host's, to tear a dead guest down). ksmd changes the
// same page table concurrently; the rules that keep that safe (docs/protocol.md):
//  - every PTE change is a compare-and-exchange (or an exchange) on the exact old value;
//  - whoever takes a frame out of a PTE owns that reference: it frees a private frame, or drops a
//    KSM frame's mapcount;
//  - before touching a frame it found through its PTE the guest publishes the page in its hazard
//    word and only then loads the PTE; ksmd, after changing a PTE, loads the hazard word. The two
//    sequentially consistent store→load pairs form a Dekker handshake: either the guest sees
//    ksmd's new PTE, or ksmd sees the guest at that page and waits (write-protect) or defers the
//    free (replace). That is the emulator's TLB shootdown.

import {
  BANK_MASK, BANK_SHIFT, MADV_DONTNEED, MADV_HUGEPAGE, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL,
  MADV_RANDOM, MADV_SEQUENTIAL, MADV_UNMERGEABLE, MADV_WILLNEED, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE,
  MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MMAP_MIN_ADDR, PAGE_SHIFT, PAGE_SIZE, PR_GET_MEMORY_MERGE,
  PR_SET_MEMORY_MERGE, PROT_MASK, PROT_NONE, PROT_READ, PROT_WRITE, ZERO_FRAME,
} from './constants.ts';
import { ErrnoError, OutOfMemoryKill } from './errno.ts';
import {
  CTL_HAZARD, CTL_INFLIGHT_FRAME, CTL_INFLIGHT_NEXT, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, CTL_KSM_ENTERED, CTL_KSM_ZERO_PAGES, CTL_MERGE_ANY, CTL_STATE, CTL_VA_HIGH, GUEST_EXITED, HAZARD_NONE,
  MAX_VMAS, VM_HUGEPAGE, VM_MERGEABLE, VM_NOHUGEPAGE, VM_SHARED, VM_WRITE, recoverVmaTable, type GuestSpaceHandles,
} from './guest-control.ts';
import { META_WORDS, type PhysicalMemory } from './physical-memory.ts';
import {
  PTE_FAST_READ, PTE_FAST_READ_MASK, PTE_FAST_WRITE, PTE_FAST_WRITE_MASK, PTE_FRAME_SHIFT, PTE_KSM,
  PTE_KSM_ZERO, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO,
  isPrivateFrame, makePte, pteFrame,
} from './pte.ts';
import { VmaList, type Vma } from './vma-list.ts';
import type { EngineAdvice } from '../engines/engine.ts';

/** Callbacks into the layers above memory, so this module does not depend on them. */
export interface AddressSpaceHooks {
  /** Adjust the host-wide ksm_zero_pages counter (the per-guest one lives in the control words). */
  addKsmZeroPages(delta: number): void;
  /** The guest just registered with KSM: wake ksmd, as __ksm_enter does. */
  ksmEntered?(): void;
  /** Another merge engine's say over MADV_MERGEABLE/MADV_UNMERGEABLE on an area (src/engines): true = handled. */
  engineAdvice?: EngineAdvice;
  /** UKSM: every private anonymous mapping is mergeable from its creation, without madvise. */
  mergeableAtMmap?: boolean;
}

const NO_HOOKS: AddressSpaceHooks = { addKsmZeroPages: () => {} };

/** Pages a fault may swap out looking for a free frame (more only when frames go to other nodes). */
const SWAP_OUT_TRIES = 64;

/** Below this many bytes a byte loop beats Buffer.copy's call overhead. */
const SMALL_COPY = 64;

export class AddressSpace {
  readonly pid: number;
  readonly homeNode: number;
  readonly vaPages: number;
  readonly pt: Int32Array;
  readonly ctl: Int32Array;
  readonly vmas: VmaList;
  private readonly mem: PhysicalMemory;
  private readonly hooks: AddressSpaceHooks;
  private readonly bankU8: Uint8Array[];
  private readonly bankBuf: Buffer[];
  /** Clock hand of the swap-out scan. */
  private swapHand = 0;
  /** Set while a madvise/prctl made an area mergeable; registration follows the VMA publish. */
  private enterKsm = false;

  constructor(handles: GuestSpaceHandles, memory: PhysicalMemory, hooks: AddressSpaceHooks = NO_HOOKS) {
    this.pid = handles.pid;
    this.homeNode = handles.homeNode;
    this.vaPages = handles.vaPages;
    this.pt = new Int32Array(handles.pageTable);
    this.ctl = new Int32Array(handles.control);
    this.vmas = new VmaList(this.ctl, new Int32Array(handles.vmaTable));
    this.mem = memory;
    this.hooks = hooks;
    this.bankU8 = memory.bankU8;
    this.bankBuf = memory.bankBuf;
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
    for (const m of this.vmas.splitRange(start, end)) this.releaseRange(m.start, m.end);
    this.vmas.removeRange(start, end);
    this.vmas.publish('munmap');
  }

  mprotect(addr: number, length: number, prot: number): void {
    const [start, end] = this.pageRange('mprotect', addr, length, false);
    checkInt(prot, 'mprotect', 'prot');
    if (prot & ~PROT_MASK) throw new ErrnoError('EINVAL', 'mprotect', `prot 0x${prot.toString(16)}`);
    if (start === end) return;
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
    const parts = advice === MADV_DONTNEED || advice === MADV_WILLNEED || advice <= MADV_SEQUENTIAL
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

  // ───────────────────────────── data access ─────────────────────────────

  read(addr: number, length: number): Uint8Array {
    checkInt(length, 'read', 'length');
    if (length < 0) throw new ErrnoError('EINVAL', 'read', `length ${length}`);
    // Check the range before allocating the result: a huge length is EFAULT, not a RangeError.
    if (length > 0) this.checkAccess('read', addr, length);
    const out = new Uint8Array(length);
    this.readInto(addr, out);
    return out;
  }

  readInto(addr: number, dst: Uint8Array): void {
    const len = dst.length;
    if (len === 0) return;
    this.checkAccess('read', addr, len);
    const pt = this.pt;
    const ctl = this.ctl;
    let vpage = Math.floor(addr / PAGE_SIZE);
    let off = addr - vpage * PAGE_SIZE;
    let pos = 0;
    while (pos < len) {
      const n = Math.min(PAGE_SIZE - off, len - pos);
      Atomics.store(ctl, CTL_HAZARD, vpage);
      let pte = Atomics.load(pt, vpage);
      if ((pte & PTE_FAST_READ_MASK) !== PTE_FAST_READ) pte = this.readFault(vpage, pte);
      const f = pte >>> PTE_FRAME_SHIFT;
      const src = ((f & BANK_MASK) << PAGE_SHIFT) + off;
      if (n >= SMALL_COPY) {
        // Buffer#copy takes any Uint8Array as its target: no view to allocate per call.
        this.bankBuf[f >>> BANK_SHIFT]!.copy(dst, pos, src, src + n);
      } else {
        const bank = this.bankU8[f >>> BANK_SHIFT]!;
        for (let i = 0; i < n; i++) dst[pos + i] = bank[src + i]!;
      }
      Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
      pos += n;
      off = 0;
      vpage++;
    }
  }

  write(addr: number, bytes: Uint8Array): void {
    const len = bytes.length;
    if (len === 0) return;
    this.checkAccess('write', addr, len);
    const pt = this.pt;
    const ctl = this.ctl;
    // One page or less: TypedArray#set copies without allocating; a longer write makes one Buffer
    // view of the source so each page is a Buffer#copy with offsets.
    const srcBuf = len > PAGE_SIZE ? Buffer.from(bytes.buffer, bytes.byteOffset, len) : undefined;
    let vpage = Math.floor(addr / PAGE_SIZE);
    let off = addr - vpage * PAGE_SIZE;
    let pos = 0;
    while (pos < len) {
      const n = Math.min(PAGE_SIZE - off, len - pos);
      Atomics.store(ctl, CTL_HAZARD, vpage);
      let pte = Atomics.load(pt, vpage);
      if ((pte & PTE_FAST_WRITE_MASK) !== PTE_FAST_WRITE) pte = this.writeFault(vpage, pte);
      const f = pte >>> PTE_FRAME_SHIFT;
      const dst = ((f & BANK_MASK) << PAGE_SHIFT) + off;
      if (srcBuf) {
        srcBuf.copy(this.bankBuf[f >>> BANK_SHIFT]!, dst, pos, pos + n);
      } else if (n >= SMALL_COPY) {
        this.bankU8[f >>> BANK_SHIFT]!.set(n === len ? bytes : bytes.subarray(pos, pos + n), dst);
      } else {
        const bank = this.bankU8[f >>> BANK_SHIFT]!;
        for (let i = 0; i < n; i++) bank[dst + i] = bytes[pos + i]!;
      }
      Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
      pos += n;
      off = 0;
      vpage++;
    }
  }

  memset(addr: number, byte: number, length: number): void {
    checkInt(length, 'memset', 'length');
    checkInt(byte, 'memset', 'byte');
    if (length < 0) throw new ErrnoError('EINVAL', 'memset', `length ${length}`);
    if (length === 0) return;
    this.checkAccess('memset', addr, length);
    const value = byte & 0xff;
    const pt = this.pt;
    const ctl = this.ctl;
    let vpage = Math.floor(addr / PAGE_SIZE);
    let off = addr - vpage * PAGE_SIZE;
    let pos = 0;
    while (pos < length) {
      const n = Math.min(PAGE_SIZE - off, length - pos);
      Atomics.store(ctl, CTL_HAZARD, vpage);
      let pte = Atomics.load(pt, vpage);
      if ((pte & PTE_FAST_WRITE_MASK) !== PTE_FAST_WRITE) pte = this.writeFault(vpage, pte);
      const f = pte >>> PTE_FRAME_SHIFT;
      const dst = ((f & BANK_MASK) << PAGE_SHIFT) + off;
      this.bankU8[f >>> BANK_SHIFT]!.fill(value, dst, dst + n);
      Atomics.store(ctl, CTL_HAZARD, HAZARD_NONE);
      pos += n;
      off = 0;
      vpage++;
    }
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /** Tear down a guest whose thread has ended, from its shared state alone (run by the host). */
  static reclaim(handles: GuestSpaceHandles, memory: PhysicalMemory, hooks?: AddressSpaceHooks): void {
    const space = new AddressSpace(handles, memory, hooks);
    // The thread may have been terminated anywhere: inside publish() (seqlock odd, table torn) or
    // inside munmap (pages released in part). Close the table, then sweep the page table up to the
    // high-water mark (CTL_VA_HIGH) rather than trusting the VMAs to cover every present page.
    recoverVmaTable(space.ctl, new Int32Array(handles.vmaTable), space.vaPages);
    space.vmas.loadFromShared();
    space.reclaimInflight();
    Atomics.store(space.ctl, CTL_HAZARD, HAZARD_NONE);
    space.releaseRange(0, Math.min(space.vaPages, Atomics.load(space.ctl, CTL_VA_HIGH)));
    space.teardown();
  }

  /** Unmap everything (exit, or the host cleaning up after a dead guest) and mark the guest exited. */
  teardown(): void {
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
    for (const m of this.vmas.all) this.releaseRange(m.start, m.end);
    this.vmas.removeRange(0, this.vaPages);
    this.vmas.publish();
    Atomics.store(this.ctl, CTL_STATE, GUEST_EXITED);
  }

  // ───────────────────────────── faults ─────────────────────────────

  /**
   * Read fault with the hazard word already set: returns a PTE whose frame may be read. A fault that
   * fails (EFAULT, OOM) clears the hazard word first: the access is over, and a stale hazard would
   * keep ksmd from merging that page and from freeing frames it replaced there.
   */
  private readFault(vpage: number, pte: number): number {
    try {
      return this.readFaultOrThrow(vpage, pte);
    } catch (e) {
      Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
      throw e;
    }
  }

  /** Write fault with the hazard word already set: returns a PRESENT|WRITABLE PTE (clears the hazard word if it fails). */
  private writeFault(vpage: number, pte: number): number {
    try {
      return this.writeFaultOrThrow(vpage, pte);
    } catch (e) {
      Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
      throw e;
    }
  }

  private readFaultOrThrow(vpage: number, pte: number): number {
    for (;;) {
      const vma = this.vmas.find(vpage);
      if (!vma) throw new ErrnoError('EFAULT', 'read', `address 0x${(vpage * PAGE_SIZE).toString(16)} is not mapped`);
      if ((vma.flags & PROT_MASK) === PROT_NONE) throw new ErrnoError('EFAULT', 'read', `address 0x${(vpage * PAGE_SIZE).toString(16)} is PROT_NONE`);
      if (pte & PTE_PRESENT) {
        // Present but flagged NOACCESS by an earlier mprotect(PROT_NONE) that has since been undone.
        const seen = Atomics.compareExchange(this.pt, vpage, pte, pte & ~PTE_NOACCESS);
        if (seen === pte) return pte & ~PTE_NOACCESS;
        pte = seen;
        continue;
      }
      if (pte & PTE_SWAPPED) {
        const seen = this.swapIn(vma, vpage, pte);
        if (seen === pte) return Atomics.load(this.pt, vpage);
        pte = seen;
        continue;
      }
      // Untouched: private areas map the shared zero page (no frame); shared areas get a real
      // frame at once so every later access sees the same memory.
      let next: number;
      if (vma.flags & VM_SHARED) {
        const f = this.allocFor(vma, true, 'read fault', vpage);
        next = makePte(f, PTE_PRESENT | (vma.flags & VM_WRITE ? PTE_WRITABLE : 0));
        const seen = this.swingWithNewFrame(vpage, pte, next, f);
        if (seen !== pte) {
          pte = seen;
          continue;
        }
        return next;
      }
      next = makePte(ZERO_FRAME, PTE_PRESENT | PTE_ZERO | mergeBit(vma));
      const seen = Atomics.compareExchange(this.pt, vpage, pte, next);
      if (seen === pte) return next;
      pte = seen;
    }
  }

  private writeFaultOrThrow(vpage: number, pte: number): number {
    for (;;) {
      const vma = this.vmas.find(vpage);
      if (!vma) throw new ErrnoError('EFAULT', 'write', `address 0x${(vpage * PAGE_SIZE).toString(16)} is not mapped`);
      if (!(vma.flags & VM_WRITE)) throw new ErrnoError('EFAULT', 'write', `address 0x${(vpage * PAGE_SIZE).toString(16)} is not writable`);
      if (pte & PTE_SWAPPED) {
        // Bring it back, then take the write through the ordinary paths on the next turn.
        const seen = this.swapIn(vma, vpage, pte);
        pte = seen === pte ? Atomics.load(this.pt, vpage) : seen;
        if ((pte & PTE_FAST_WRITE_MASK) === PTE_FAST_WRITE) return pte;
        continue;
      }
      const keep = mergeBit(vma);
      let next: number;
      let newFrame = -1;
      if (!(pte & PTE_PRESENT) || (pte & PTE_ZERO)) {
        newFrame = this.allocFor(vma, true, 'write fault', vpage);
        next = makePte(newFrame, PTE_PRESENT | PTE_WRITABLE | keep);
      } else if (pte & PTE_KSM) {
        // Copy-on-write of a KSM page: copy, then swing the PTE; the old reference is dropped after.
        newFrame = this.allocFor(vma, false, 'copy-on-write', vpage);
        this.mem.copyFrame(pte >>> PTE_FRAME_SHIFT, newFrame);
        next = makePte(newFrame, PTE_PRESENT | PTE_WRITABLE | keep);
      } else {
        // A private page write-protected by ksmd or by an old mprotect: reuse it in place.
        next = (pte | PTE_WRITABLE) & ~(PTE_WP_KSMD | PTE_NOACCESS);
      }
      if (newFrame < 0) {
        const seen = Atomics.compareExchange(this.pt, vpage, pte, next);
        if (seen === pte) return next;
        pte = seen;
        continue;
      }
      const seen = this.swingWithNewFrame(vpage, pte, next, newFrame);
      if (seen === pte) return next;
      pte = seen;
    }
  }

  private touchForWrite(vpage: number): void {
    Atomics.store(this.ctl, CTL_HAZARD, vpage);
    const pte = Atomics.load(this.pt, vpage);
    if ((pte & PTE_FAST_WRITE_MASK) !== PTE_FAST_WRITE) this.writeFault(vpage, pte);
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
  }

  private touchForRead(vpage: number): void {
    Atomics.store(this.ctl, CTL_HAZARD, vpage);
    const pte = Atomics.load(this.pt, vpage);
    if ((pte & PTE_FAST_READ_MASK) !== PTE_FAST_READ) this.readFault(vpage, pte);
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
  }

  /** A zeroed (or, for a copy, uninitialised) frame for a page of `vma`, honouring its NUMA policy. */
  private allocFor(vma: Vma, zeroed: boolean, what: string, vpage: number): number {
    const mem = this.mem;
    let f = this.tryAlloc(vma);
    // Memory pressure: with swap, page out this guest's own private pages until a frame is free.
    for (let tries = 0; f < 0 && tries < SWAP_OUT_TRIES && this.swapOutOne(vpage); tries++) f = this.tryAlloc(vma);
    if (f < 0) {
      const where = vma.node >= 0 ? ` (bound to node ${vma.node})` : '';
      throw new OutOfMemoryKill(vma.node >= 0 ? vma.node : this.homeNode, `${what} of guest ${this.pid}${where}${mem.swap ? ', swap full or nothing left to swap' : ''}`);
    }
    // Record it at once: if the guest dies before the frame reaches its PTE, the host frees it (see
    // reclaimInflight). A thread killed between the allocator and this store still leaks the frame.
    Atomics.store(this.ctl, CTL_INFLIGHT_VPAGE, vpage);
    Atomics.store(this.ctl, CTL_INFLIGHT_FRAME, f);
    if (zeroed) mem.zeroFrame(f);
    return f;
  }

  private tryAlloc(vma: Vma): number {
    const mem = this.mem;
    if (vma.node >= 0) return mem.allocUninitialized(vma.node);
    // Default (local) policy: the home node first, then the others in order.
    const nodes = mem.nodes.length;
    let f = -1;
    for (let i = 0; i < nodes && f < 0; i++) f = mem.allocUninitialized((this.homeNode + i) % nodes);
    return f;
  }

  /**
   * Page out one of this guest's own private pages (a clock hand over its private areas), skipping
   * `except`, the page being faulted. KSM pages, zero pages and shared memory stay in memory.
   * Returns false when swap is full or no page qualifies.
   */
  private swapOutOne(except: number): boolean {
    const swap = this.mem.swap;
    if (!swap) return false;
    const ranges = this.vmas.all.filter((m) => !(m.flags & VM_SHARED));
    const pt = this.pt;
    const ctl = this.ctl;
    const hand = this.swapHand;
    let slot = -1;
    // Two sweeps: from the hand to the end of the address space, then from the start to the hand.
    for (let sweep = 0; sweep < 2; sweep++) {
      for (const m of ranges) {
        const from = sweep === 0 ? Math.max(m.start, hand) : m.start;
        const to = sweep === 0 ? m.end : Math.min(m.end, hand);
        for (let p = from; p < to; p++) {
          for (;;) {
            const pte = Atomics.load(pt, p);
            if (p === except || !isPrivateFrame(pte)) break;
            if (slot < 0) slot = swap.alloc();
            if (slot < 0) return false;
            const f = pteFrame(pte);
            swap.writeSlot(slot, this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
            const next = makePte(slot, PTE_SWAPPED | (pte & (PTE_MERGEABLE | PTE_NOACCESS)));
            // Recorded like any swing: a guest killed after the swap still gets its frame freed.
            Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
            Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
            Atomics.store(ctl, CTL_INFLIGHT_OLD, pte);
            if (Atomics.compareExchange(pt, p, pte, next) === pte) {
              this.dropReference(pte);
              this.swapHand = p + 1;
              return true;
            }
            Atomics.store(ctl, CTL_INFLIGHT_OLD, 0); // ksmd changed it meanwhile: look again
          }
        }
      }
    }
    if (slot >= 0) swap.free(slot);
    return false;
  }

  /** Swap a page back in (the caller holds the hazard word on it). Returns what the swing saw. */
  private swapIn(vma: Vma, vpage: number, pte: number): number {
    const swap = this.mem.swap;
    if (!swap) throw new Error(`guest ${this.pid}: swapped page without swap`);
    const f = this.allocFor(vma, false, 'swap-in', vpage);
    swap.readSlot(pteFrame(pte), this.bankBuf[f >>> BANK_SHIFT]!, (f & BANK_MASK) << PAGE_SHIFT);
    const next = makePte(f, PTE_PRESENT | (vma.flags & VM_WRITE ? PTE_WRITABLE : 0) | mergeBit(vma));
    return this.swingWithNewFrame(vpage, pte, next, f);
  }

  /**
   * Swing the PTE from `old` to `next`, which maps `newFrame` (already recorded in flight). Records
   * the swing first, so a guest killed between the swap and dropping `old` has its reference dropped
   * by the host. Returns what the compare-and-exchange saw.
   */
  private swingWithNewFrame(vpage: number, old: number, next: number, newFrame: number): number {
    const ctl = this.ctl;
    Atomics.store(ctl, CTL_INFLIGHT_NEXT, next);
    Atomics.store(ctl, CTL_INFLIGHT_OLD, old);
    const seen = Atomics.compareExchange(this.pt, vpage, old, next);
    Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
    if (seen === old) {
      this.dropReference(old); // clears CTL_INFLIGHT_OLD once the reference is gone
    } else {
      Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
      this.mem.free(newFrame);
    }
    return seen;
  }

  /**
   * Finish what a killed guest was doing (run by the host before tearing it down, while the dead
   * guest's hazard word still holds the page, so ksmd cannot have moved that PTE): free a frame
   * that never reached its PTE, and drop the reference of a PTE that was swung but not yet dropped.
   * Leaks remain possible (never a double free): if the thread died between the allocator handing
   * out a frame and recording it, between claiming a swing and dropping its reference, or, after a
   * failed swing, between clearing the record and freeing the unused frame. Each window is a few
   * Atomics operations; the deterministic simulation counts kills there as documented residual leaks.
   */
  private reclaimInflight(): void {
    const ctl = this.ctl;
    const vpage = Atomics.load(ctl, CTL_INFLIGHT_VPAGE);
    const frame = Atomics.load(ctl, CTL_INFLIGHT_FRAME);
    const old = Atomics.load(ctl, CTL_INFLIGHT_OLD);
    if (vpage < 0 || vpage >= this.vaPages) return;
    const pte = Atomics.load(this.pt, vpage);
    if (frame >= 0 && !(isPrivateFrame(pte) && pteFrame(pte) === frame)) this.mem.free(frame);
    Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
    if (old !== 0 && swingHappened(pte, Atomics.load(ctl, CTL_INFLIGHT_NEXT))) this.dropReference(old);
    Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
  }

  // ───────────────────────────── helpers ─────────────────────────────

  /** Drop the reference an old PTE value held, once this thread has swung the PTE away from it. */
  private dropReference(pte: number): void {
    // Claim the recorded swing first: if the thread dies after this, the host will not drop the
    // reference a second time (a leak at worst, never a double drop).
    Atomics.compareExchange(this.ctl, CTL_INFLIGHT_OLD, pte, 0);
    if (!(pte & PTE_PRESENT)) {
      if (pte & PTE_SWAPPED) this.mem.swap?.free(pteFrame(pte));
      return;
    }
    if (pte & PTE_ZERO) {
      if (pte & PTE_KSM_ZERO) {
        Atomics.sub(this.ctl, CTL_KSM_ZERO_PAGES, 1);
        this.hooks.addKsmZeroPages(-1);
      }
      return;
    }
    const f = pte >>> PTE_FRAME_SHIFT;
    // A KSM frame's mapcount counts its PTEs plus ksmd's temporary references; whoever drops it
    // to zero frees the frame (the kernel frees a KSM page with its last mapping, too).
    if (pte & PTE_KSM) {
      if (Atomics.sub(this.mem.meta, f * META_WORDS, 1) === 1) this.mem.free(f);
    } else {
      this.mem.free(f);
    }
  }

  private releaseRange(start: number, end: number): void {
    const pt = this.pt;
    const ctl = this.ctl;
    for (let p = start; p < end; p++) {
      if (pt[p] === 0 && Atomics.load(pt, p) === 0) continue;
      // Recorded before the swap, so a guest killed after it still has the reference dropped.
      Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
      Atomics.store(ctl, CTL_INFLIGHT_NEXT, 0);
      for (;;) {
        const old = Atomics.load(pt, p);
        Atomics.store(ctl, CTL_INFLIGHT_OLD, old);
        if (Atomics.compareExchange(pt, p, old, 0) === old) {
          this.dropReference(old);
          break;
        }
      }
    }
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
      Atomics.store(ctl, CTL_HAZARD, p);
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

  private checkAccess(syscall: string, addr: number, len: number): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr + len > this.vaPages * PAGE_SIZE) {
      throw new ErrnoError('EFAULT', syscall, `address ${addr} (+${len}) is outside the address space`);
    }
  }
}

/**
 * Did a recorded swing to `next` happen, seeing the PTE is now `pte`? A new private frame is ours
 * alone, so the PTE still maps it privately (ksmd may have write-protected it meanwhile: compare the
 * frame, not the whole value). A swing to 0 or to a swap entry is the only way to those values.
 */
function swingHappened(pte: number, next: number): boolean {
  if (next === 0 || (next & PTE_SWAPPED)) return pte === next;
  return isPrivateFrame(pte) && pteFrame(pte) === pteFrame(next);
}

function mergeBit(vma: Vma): number {
  return vma.flags & VM_MERGEABLE ? PTE_MERGEABLE : 0;
}

function checkInt(value: number, syscall: string, what: string): void {
  if (!Number.isSafeInteger(value)) throw new ErrnoError('EINVAL', syscall, `${what} ${String(value)} is not an integer`);
}
