// khugepaged.ts — owns a simple khugepaged: it walks the guests' THP-eligible areas and collapses a
// 2 MiB block of 4 KiB pages into one huge page when every page of it is a present private page. It
// refuses a block with any shared page (a KSM page: merged ranges stay split, as the kernel's
// max_ptes_shared keeps them on Linux 6.18), any zero, untouched or swapped page (only the guest maps
// an untouched page: see SpaceThp.hugeFault), and blocks under PROT_NONE. Runs on the ksmd thread
// between its batches (every khugepaged/scan_sleep_millisecs, khugepaged/pages_to_scan a turn: the
// sysfs files of sysfs.ts), with ksmd's own write-protect and frame release (KsmEngine.replacePrimitives).
//
// Races, argued here. Each page is moved as ksmd merges one: write-protect by compare-and-exchange
// (WP_KSMD) and wait for a writer to leave it, copy the write-protected frame into the folio, then
// compare-and-exchange the write-protected value to the folio's frame. A guest write meanwhile clears
// WP_KSMD in its fault, so that exchange fails and the collapse is abandoned. The new PTE is
// read-only (not WP_KSMD): a VMA made read-only after we loaded the PTE must not get a writable page
// back, so the guest's first write to each page takes the reuse fault, which checks VM_WRITE. Pages
// are installed tails first with PTE_HUGE and the head last: until the head has HUGE the block is in
// transition and no engine touches it. Abandoning is always safe: each folio frame is an ordinary
// frame, so the pages already installed stay mapped as 4 KiB pages (their HUGE bit cleared if the PTE
// still maps our frame: a guest's MADV_COLLAPSE or munmap may have taken it since) and the frames not
// installed are freed. The replaced frames are released as ksmd releases a merged page's (deferred
// while the guest is on that page). A thread killed inside leaks at most the folio's frames not yet
// installed (ksmd's death is repaired stop-the-world: recount.ts).

import { CTL_INFLIGHT_HUGE, CTL_INFLIGHT_HUGE_HEAD, CTL_STATE, GUEST_EXITED, readVmaTable, type GuestSpaceHandles, type VmaSnapshot } from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { PTE_HUGE, PTE_KSM, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, isPrivateFrame, makePte, pteFrame } from '../mem/pte.ts';
import { HPAGE_PAGES, clearHugeBlock, countHuge, hugeFaultAllowed, type SplitPrimitives } from '../mem/thp.ts';
import { KHUGEPAGED_DEFAULTS } from './ksm-state.ts';


interface KhugeGuest {
  readonly pid: number;
  readonly homeNode: number;
  readonly pt: Int32Array;
  readonly ctl: Int32Array;
  readonly vmaTable: Int32Array;
}

export interface KhugepagedStats {
  fullScans: number;
  /** Huge pages made (khugepaged/pages_collapsed counts collapses, not 4 KiB pages). */
  pagesCollapsed: number;
}

export class Khugepaged {
  readonly stats: KhugepagedStats = { fullScans: 0, pagesCollapsed: 0 };
  private readonly mem: PhysicalMemory;
  private readonly thpMode: () => number;
  private readonly primitives: (pid: number) => SplitPrimitives | undefined;
  private guests: KhugeGuest[] = [];
  /** Scan cursor: guest index and virtual page. */
  private cursor = 0;
  private page = 0;

  constructor(mem: PhysicalMemory, thpMode: () => number, primitives: (pid: number) => SplitPrimitives | undefined) {
    this.mem = mem;
    this.thpMode = thpMode;
    this.primitives = primitives;
  }

  addGuest(h: GuestSpaceHandles): void {
    this.guests.push({ pid: h.pid, homeNode: h.homeNode, pt: new Int32Array(h.pageTable), ctl: new Int32Array(h.control), vmaTable: new Int32Array(h.vmaTable) });
  }

  /** khugepaged_do_scan: look at up to `pages` pages (whole blocks), collapsing what qualifies. Returns blocks collapsed. */
  scan(pages: number = KHUGEPAGED_DEFAULTS.pages_to_scan): number {
    this.guests = this.guests.filter((g) => Atomics.load(g.ctl, CTL_STATE) !== GUEST_EXITED);
    const mode = this.thpMode();
    let budget = pages;
    let collapsed = 0;
    let idle = 0;
    while (budget > 0 && this.guests.length > 0 && idle <= this.guests.length) {
      if (this.cursor >= this.guests.length) {
        this.cursor = 0;
        this.stats.fullScans++;
      }
      const g = this.guests[this.cursor]!;
      const vmas = readVmaTable(g.ctl, g.vmaTable, 0, [] as VmaSnapshot[]);
      const next = this.nextBlock(vmas, mode);
      if (next < 0) {
        this.cursor++;
        this.page = 0;
        idle++;
        continue;
      }
      idle = 0;
      this.page = next + HPAGE_PAGES;
      budget -= HPAGE_PAGES;
      const vma = vmas.find((v) => next >= v.start && next < v.start + v.pages)!;
      if (this.qualifies(g, next) && this.collapse(g, vma, next)) collapsed++;
    }
    return collapsed;
  }

  /** The next eligible block's head at or after the cursor in these areas, or -1. */
  private nextBlock(vmas: readonly VmaSnapshot[], mode: number): number {
    for (const v of vmas) {
      const end = v.start + v.pages;
      let head = Math.max(this.page, v.start);
      head += (HPAGE_PAGES - (head % HPAGE_PAGES)) % HPAGE_PAGES;
      for (; head + HPAGE_PAGES <= end; head += HPAGE_PAGES) {
        if (hugeFaultAllowed(mode, v.flags, v.start, end, head)) return head;
      }
    }
    return -1;
  }

  /** Every page present, private and not huge: no shared (KSM), zero, untouched, swapped or PROT_NONE page. */
  private qualifies(g: KhugeGuest, head: number): boolean {
    for (let p = head; p < head + HPAGE_PAGES; p++) {
      const pte = Atomics.load(g.pt, p);
      if (!isPrivateFrame(pte) || (pte & (PTE_HUGE | PTE_KSM | PTE_NOACCESS))) return false;
    }
    return true;
  }

  private collapse(g: KhugeGuest, vma: VmaSnapshot, head: number): boolean {
    const prims = this.primitives(g.pid);
    if (!prims) return false;
    const mem = this.mem;
    const node = vma.node >= 0 ? vma.node : g.homeNode;
    const base = mem.allocHugeUninitialized(node);
    if (base < 0) {
      mem.vmstat.add('thp_collapse_alloc_failed');
      return false;
    }
    let i = HPAGE_PAGES - 1;
    for (; i >= 0; i--) {
      const p = head + i;
      const pte = Atomics.load(g.pt, p);
      if (!isPrivateFrame(pte) || (pte & (PTE_HUGE | PTE_KSM | PTE_NOACCESS))) break;
      const wp = prims.writeProtect(p, pte);
      if (!wp) break;
      mem.copyFrame(pteFrame(wp), base + i);
      const next = makePte(base + i, PTE_PRESENT | PTE_HUGE | (wp & PTE_MERGEABLE));
      if (Atomics.compareExchange(g.pt, p, wp, next) !== wp) break;
      prims.releaseReplaced(p, pteFrame(wp));
    }
    if (i < 0) {
      countHuge(g.ctl, mem, 1);
      mem.vmstat.add('thp_collapse_alloc');
      this.stats.pagesCollapsed++; // khugepaged_pages_collapsed counts huge pages made
      this.settle(g, head, base);
      return true;
    }
    // Abandoned at page i: frames 0..i were never installed; i+1..511 are, as 4 KiB pages.
    for (let j = 0; j <= i; j++) mem.free(base + j);
    for (let j = i + 1; j < HPAGE_PAGES; j++) {
      for (;;) {
        const pte = Atomics.load(g.pt, head + j);
        if (!(pte & PTE_HUGE) || !isPrivateFrame(pte) || pteFrame(pte) !== base + j) break;
        if (Atomics.compareExchange(g.pt, head + j, pte, pte & ~PTE_HUGE) === pte) break;
      }
    }
    return false;
  }

  /**
   * After the head's install: a tail the guest split off and changed meanwhile (MADV_DONTNEED,
   * swap-out or MADV_PAGEOUT of that subpage split the block while its head had no HUGE yet:
   * clearHugeBlock, then the change) would leave a huge page with a hole; split it again. Found by
   * the deterministic simulation (docs/stress.md, THP). A tail mapping another folio is a guest's
   * MADV_COLLAPSE taking the block over: it records the folio before its first exchange, and it
   * replaces the head last (counting the huge page it replaces), so the record tells, and the block
   * is left to it. A change after these loads is made by a guest that saw the head with HUGE, and so
   * splits the whole block itself.
   */
  private settle(g: KhugeGuest, head: number, base: number): void {
    for (let j = 1; j < HPAGE_PAGES; j++) {
      const pte = Atomics.load(g.pt, head + j);
      if ((pte & PTE_HUGE) && isPrivateFrame(pte) && pteFrame(pte) === base + j) continue;
      if (Atomics.load(g.ctl, CTL_INFLIGHT_HUGE) >= 0 && Atomics.load(g.ctl, CTL_INFLIGHT_HUGE_HEAD) === head) return;
      clearHugeBlock(g.pt, g.ctl, head, this.mem);
      return;
    }
  }
}
