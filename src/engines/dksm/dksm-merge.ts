// dksm-merge.ts — owns DKSM's merge: madvise(MADV_MERGEABLE) walks the range at once, in the calling
// guest's thread, under the host-wide DKSM lock, and merges each page with an identical page already
// in the checksum table (or files it there). MADV_UNMERGEABLE is a no-op, as in the patch.
//
// Representation: a frame that entered the table is refcounted like a KSM frame (PTE_KSM, mapcount =
// its PTEs + temporary references, tag = the entry's tag in the frame's flags word), so the machine
// layer's copy-on-write and release paths (address-space.ts) free it with its last mapping. The
// FIRST page's PTE keeps the WRITABLE bit it had — the patch never write-protects it — so in a
// writable region its owner writes the shared frame in place: DKSM's documented hazard, which the
// stress checker names ("DKSM writable-region hazard", src/engines/dksm/dksm-hazard.ts). Every page
// merged INTO such a frame is mapped read-only (copy-on-write), as the patch maps it with the VMA's
// protection minus write.
//
// Races (argued here, as in mm/ksm.c):
//  - The caller's own PTE: under --engine dksm there is no ksmd, other guests never touch this page
//    table, and the host touches it only after the thread has ended, so the only writer is this thread,
//    which is inside madvise. We still write-protect (CAS W → WP_KSMD), compare the full 4 KiB and CAS
//    the exact write-protected value, as ksmd does, so the rule "never merge two different pages"
//    does not depend on that argument. No shootdown wait is needed: the only thread that could hold
//    a stale writable PTE of this page is this one.
//  - The table entry's frame may be freed (its last mapping dropped) and reused at any time: the
//    entry holds no reference. We take one with tryGetFrame (fails at mapcount 0), then check the
//    frame's tag equals the entry's: PhysicalMemory.free clears the tag before the free bit, every
//    allocation resets it to 0, and only DKSM (under its lock) tags a frame with a tag it never reuses
//    until 2^31 tags later, so a matching tag seen while we hold a reference is the same incarnation.
//  - The entry's frame may have changed since it was filed (its owner's writable PTE): it is re-hashed
//    under our reference and dropped as stale when the checksum moved. A frame whose owner is still
//    writable can change after our compare too — that is the hazard above, not a protocol bug; with
//    a read-only first region every mapping of the frame is read-only, so the compare holds forever.
//  - A guest killed inside madvise: the host frees the lock (DksmState.releaseIfOwner). The replaced
//    private frame is recorded in CTL_INFLIGHT_FRAME before the swing, so AddressSpace.reclaim frees
//    it if the swing happened (the PTE no longer maps it privately). Residual leaks, never a double
//    free: a reference taken by tryGetFrame and not yet given to a PTE or put back; a pool slot
//    between unlink and the free list; the replaced frame between clearing the record and free().

import { MADV_MERGEABLE, MADV_UNMERGEABLE, PROT_MASK, PROT_NONE } from '../../mem/constants.ts';
import {
  CTL_INFLIGHT_FRAME, CTL_INFLIGHT_OLD, CTL_INFLIGHT_VPAGE, VM_SHARED,
} from '../../mem/guest-control.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import type { AddressSpace } from '../../mem/address-space.ts';
import type { Vma } from '../../mem/vma-list.ts';
import {
  PTE_KSM, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, makePte, pteFrame,
} from '../../mem/pte.ts';
import { PageChecksums } from '../../ksm/checksum.ts';
import { ThreadCpuReader } from '../../ksm/thread-cpu.ts';
import { inHugeBlock } from '../../mem/thp.ts';
import { DKSM_NO_ENTRY, type DksmState } from './dksm-state.ts';

export type PageOutcome = 'failed' | 'merged' | 'inserted' | 'kept';

export class DksmMerger {
  private readonly state: DksmState;
  private readonly mem: PhysicalMemory;
  private readonly sums: PageChecksums;
  constructor(state: DksmState, mem: PhysicalMemory) {
    this.state = state;
    this.mem = mem;
    this.sums = new PageChecksums(mem);
  }

  /** The engine's say over madvise on one area (see EngineAdvice): MERGEABLE merges now, UNMERGEABLE is a no-op. */
  advise(space: AddressSpace, area: Vma, advice: number): boolean {
    if (advice === MADV_UNMERGEABLE) return true;
    if (advice !== MADV_MERGEABLE) return false;
    // run=0: nothing happens and nothing is remembered (VM_MERGEABLE is not set either: docs/engines.md).
    if (this.state.run === 0) return true;
    const owner = space.pid;
    // The merge CPU is this thread's (opened per call: /proc/thread-self names the opener's thread).
    const cpu = new ThreadCpuReader();
    const cpu0 = cpu.ms();
    this.state.lock(owner);
    try {
      // Re-read under the lock: a run 1→0 that won the lock first means this advice is forgotten.
      if (this.state.run === 0) return true;
      for (let p = area.start; p < area.end; p++) this.mergePage(space, area, p);
    } finally {
      this.state.unlock(owner);
      const cpu1 = cpu.ms();
      cpu.close();
      if (cpu0 !== null && cpu1 !== null) this.state.addCpuMicros((cpu1 - cpu0) * 1000);
    }
    return true;
  }

  /** One page of the walk, under the lock. */
  mergePage(space: AddressSpace, area: Vma, p: number): PageOutcome {
    const st = this.state;
    const pt = space.pt;
    const pte = Atomics.load(pt, p);
    // Not present, swapped, the zero page, not accessible, not anonymous-private, or a subpage of a huge
    // page (PMD-mapped now: the patch's source never reads the THP setting, its page walk just fails there).
    if (!(pte & PTE_PRESENT) || (pte & (PTE_ZERO | PTE_SWAPPED | PTE_NOACCESS)) || (area.flags & VM_SHARED)
      || (area.flags & PROT_MASK) === PROT_NONE || inHugeBlock(pt, p)) {
      st.count('merging_failed');
      return 'failed';
    }
    st.count('pages_scanned');
    // Already in the table or already merged: a second advice over it finds nothing new to do.
    if (pte & PTE_KSM) return 'kept';
    const frame = pteFrame(pte);
    const sum = this.sums.of(frame) | 0;
    let prev = DKSM_NO_ENTRY;
    let e = st.bucketHead(sum);
    while (e !== DKSM_NO_ENTRY) {
      const next = st.entryNext(e);
      if (st.entrySum(e) !== sum) {
        prev = e;
        e = next;
        continue;
      }
      const f = st.entryFrame(e);
      if (!this.mem.tryGetFrame(f)) {
        st.remove(e, prev, sum); // freed since it was filed
        e = next;
        continue;
      }
      if (this.mem.frameTag(f) !== st.entryTag(e) || (this.sums.of(f) | 0) !== sum) {
        this.mem.putFrame(f);
        st.remove(e, prev, sum); // reused, or changed in place by a writable owner: stale
        e = next;
        continue;
      }
      const r = this.mergeInto(space, p, pte, f);
      if (r === 'merged') return 'merged';
      this.mem.putFrame(f);
      if (r === 'moved') return 'kept'; // cannot happen while this thread is the only writer; safe anyway
      prev = e;
      e = next;
    }
    return this.fileFirstPage(space, p, pte, frame, sum);
  }

  /**
   * Map `f` (we hold a reference on it) at page `p` in place of its private frame: write-protect,
   * compare the full page, CAS the exact write-protected value. 'differs' restores the PTE.
   */
  private mergeInto(space: AddressSpace, p: number, pte: number, f: number): 'merged' | 'differs' | 'moved' {
    const pt = space.pt;
    const ctl = space.ctl;
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    if (Atomics.compareExchange(pt, p, pte, wp) !== pte) return 'moved';
    const old = pteFrame(pte);
    if (this.mem.compareFrames(old, f) !== 0) {
      Atomics.compareExchange(pt, p, wp, pte);
      return 'differs';
    }
    // Record the frame being replaced: if this thread dies after the swing, AddressSpace.reclaim
    // frees it (the PTE no longer maps it privately); before the swing it is left alone.
    Atomics.store(ctl, CTL_INFLIGHT_OLD, 0);
    Atomics.store(ctl, CTL_INFLIGHT_VPAGE, p);
    Atomics.store(ctl, CTL_INFLIGHT_FRAME, old);
    // The area's merge bit stays as it was (VM_MERGEABLE from a prctl, say): DKSM does not change it.
    const merged = makePte(f, PTE_PRESENT | PTE_KSM | (pte & PTE_MERGEABLE));
    if (Atomics.compareExchange(pt, p, wp, merged) !== wp) {
      Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
      return 'moved';
    }
    // Our reference is now the PTE's. The old private frame was this page's alone, and no other
    // thread reaches it (it was never in the table: tabled frames carry PTE_KSM), so free it at once.
    Atomics.store(ctl, CTL_INFLIGHT_FRAME, -1);
    this.mem.free(old);
    this.state.count('pages_merged');
    return 'merged';
  }

  /**
   * Nothing merged: file the page. Its frame becomes refcounted (mapcount 1, tagged) and its PTE
   * gains PTE_KSM but keeps WRITABLE if it had it — the patch does not write-protect the first page.
   */
  private fileFirstPage(space: AddressSpace, p: number, pte: number, frame: number, sum: number): PageOutcome {
    const st = this.state;
    const mem = this.mem;
    const tag = st.nextTag();
    mem.setMapcount(frame, 1);
    mem.setFrameTag(frame, tag);
    if (Atomics.compareExchange(space.pt, p, pte, pte | PTE_KSM) !== pte) {
      // Unreachable with one writer; if it were, the frame is still private: undo the marks.
      mem.setFrameTag(frame, 0);
      mem.setMapcount(frame, 0);
      return 'kept';
    }
    if (!st.insert(frame, sum, tag)) {
      // Pool full: drop the stale entries (at most one live entry per frame fits by construction).
      st.sweep((e) => this.entryStale(e));
      st.insert(frame, sum, tag);
    }
    return 'inserted';
  }

  private entryStale(e: number): boolean {
    const f = this.state.entryFrame(e);
    if (!this.mem.tryGetFrame(f)) return true;
    const stale = this.mem.frameTag(f) !== this.state.entryTag(e);
    this.mem.putFrame(f);
    return stale;
  }
}
