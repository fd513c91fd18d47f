// space-access.ts — owns the guest's access fast path (read, readInto, write, memset, and the
// MAP_POPULATE touches) and the page faults it takes (read fault, write fault, copy-on-write).
//
// The hot loops read the page table and the frame banks straight from the fields of SpaceCore: no
// allocation per access (a longer write makes one Buffer view of its source), no call per page
// unless the PTE is not the fast value. The hazard handshake that makes the frame access safe is
// described in address-space.ts's header (docs/protocol.md).

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT, PAGE_SIZE, PROT_MASK, PROT_NONE, ZERO_FRAME } from './constants.ts';
import { ErrnoError } from './errno.ts';
import { CTL_HAZARD, HAZARD_NONE, VM_SHARED, VM_WRITE, hazardRead, hazardWrite } from './guest-control.ts';
import {
  PTE_FAST_READ, PTE_FAST_READ_MASK, PTE_FAST_WRITE, PTE_FAST_WRITE_MASK, PTE_FRAME_SHIFT, PTE_KSM,
  PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, makePte,
} from './pte.ts';
import { checkInt, mergeBit } from './space-core.ts';
import { SpaceThp } from './space-thp.ts';
import { VM } from './vmstat.ts';

/** Below this many bytes a byte loop beats Buffer.copy's call overhead. */
const SMALL_COPY = 64;

export class SpaceAccess extends SpaceThp {
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
      Atomics.store(ctl, CTL_HAZARD, vpage * 2); // hazardRead
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
      Atomics.store(ctl, CTL_HAZARD, vpage * 2 + 1); // hazardWrite
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
      Atomics.store(ctl, CTL_HAZARD, vpage * 2 + 1); // hazardWrite
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

  /**
   * Read fault with the hazard word already set: returns a PTE whose frame may be read. A fault that
   * fails (EFAULT, OOM) clears the hazard word first: the access is over, and a stale hazard would
   * keep ksmd from merging that page and from freeing frames it replaced there.
   */
  protected readFault(vpage: number, pte: number): number {
    // A fault may swing the PTE to a new frame (swap-in, a shared page): from here the hazard word
    // says write, so ksmd cannot replace what the swing installs (see reclaimInflight in
    // space-inflight.ts). The PTE was loaded under the read hazard; every change the fault makes is
    // a CAS on that value.
    Atomics.store(this.ctl, CTL_HAZARD, hazardWrite(vpage));
    try {
      return this.readFaultOrThrow(vpage, pte);
    } catch (e) {
      Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
      throw e;
    }
  }

  /** Write fault with the hazard word already set: returns a PRESENT|WRITABLE PTE (clears the hazard word if it fails). */
  protected writeFault(vpage: number, pte: number): number {
    try {
      return this.writeFaultOrThrow(vpage, pte);
    } catch (e) {
      Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
      throw e;
    }
  }

  protected readFaultOrThrow(vpage: number, pte: number): number {
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

  protected writeFaultOrThrow(vpage: number, pte: number): number {
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
      if (pte === 0) {
        // An untouched page of an eligible 2 MiB block: the whole block as one huge page, if it can be.
        const huge = this.hugeFault(vma, vpage);
        if (huge !== 0) return huge;
      }
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
      if (seen === pte) {
        if (pte & PTE_KSM) this.mem.vmstat.addAt(VM.cow_ksm);
        return next;
      }
      pte = seen;
    }
  }

  protected touchForWrite(vpage: number): void {
    Atomics.store(this.ctl, CTL_HAZARD, hazardWrite(vpage));
    const pte = Atomics.load(this.pt, vpage);
    if ((pte & PTE_FAST_WRITE_MASK) !== PTE_FAST_WRITE) this.writeFault(vpage, pte);
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
  }

  protected touchForRead(vpage: number): void {
    Atomics.store(this.ctl, CTL_HAZARD, hazardRead(vpage));
    const pte = Atomics.load(this.pt, vpage);
    if ((pte & PTE_FAST_READ_MASK) !== PTE_FAST_READ) this.readFault(vpage, pte);
    Atomics.store(this.ctl, CTL_HAZARD, HAZARD_NONE);
  }

  protected checkAccess(syscall: string, addr: number, len: number): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr + len > this.vaPages * PAGE_SIZE) {
      throw new ErrnoError('EFAULT', syscall, `address ${addr} (+${len}) is outside the address space`);
    }
  }
}
