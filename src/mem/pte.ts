// pte.ts — owns the encoding of a page-table entry: one Int32, changed only with Atomics.
//
//  bit 0 PRESENT    a frame (or the zero page) is mapped
//  bit 1 WRITABLE   a write may go straight to the frame; otherwise it faults
//  bit 2 KSM        the frame is a KSM page owned by a stable-tree node (read-only, shared)
//  bit 3 ZERO       the frame is the shared zero page (read-only)
//  bit 4 KSM_ZERO   with ZERO: ksmd placed this zero page (use_zero_pages); counted in ksm_zero_pages
//  bit 5 WP_KSMD    ksmd write-protected this private page to compare it. Only ksmd sets it, and
//                   every path that gives the guest write access again (the write fault) clears
//                   it. That is the whole claim: other changes can restore the exact value
//                   without a fault (mprotect PROT_NONE and back sets and clears NOACCESS;
//                   MADV_UNMERGEABLE then MADV_MERGEABLE clears and sets MERGEABLE), but none lets
//                   the guest write the frame in between, so when ksmd's final compare-and-exchange
//                   sees the write-protected value again, the frame still holds the bytes it
//                   compared. (A value can also come back after the frame was freed and reused:
//                   only by a run=2 copy or a fault, neither of which sets WP_KSMD.)
//  bit 6 MERGEABLE  the page lies in a VM_MERGEABLE area (ksmd may scan it)
//  bit 7 SWAPPED    the page is in swap: bits 9.. hold the swap slot, not a frame
//  bit 8 NOACCESS   the area is PROT_NONE: any access faults
//  bit 9 HUGE       one of the 512 PTEs of a PMD-mapped transparent huge page (thp.ts): frame = the
//                   folio's base frame + the page's index in its 2 MiB block. A block is huge while
//                   its first (head) PTE has HUGE; HUGE on a tail without the head is a block being
//                   installed or split. No merge engine write-protects a HUGE PTE: it splits first.
//  bits 10..31      frame number (or swap slot): 22 bits, 16 GiB of 4 KiB frames
// A PTE of 0 is "never touched": no frame, reads map the zero page, writes allocate.

export const PTE_PRESENT = 1 << 0;
export const PTE_WRITABLE = 1 << 1;
export const PTE_KSM = 1 << 2;
export const PTE_ZERO = 1 << 3;
export const PTE_KSM_ZERO = 1 << 4;
export const PTE_WP_KSMD = 1 << 5;
export const PTE_MERGEABLE = 1 << 6;
export const PTE_SWAPPED = 1 << 7;
export const PTE_NOACCESS = 1 << 8;
export const PTE_HUGE = 1 << 9;
export const PTE_FRAME_SHIFT = 10;
export const PTE_FLAGS_MASK = (1 << PTE_FRAME_SHIFT) - 1;
export const PTE_MAX_FRAMES = 2 ** (32 - PTE_FRAME_SHIFT);

/** Bits that make a write go straight through: present, writable, and not blocked. */
export const PTE_FAST_WRITE_MASK = PTE_PRESENT | PTE_WRITABLE | PTE_NOACCESS;
export const PTE_FAST_WRITE = PTE_PRESENT | PTE_WRITABLE;
export const PTE_FAST_READ_MASK = PTE_PRESENT | PTE_NOACCESS;
export const PTE_FAST_READ = PTE_PRESENT;
/** A present anonymous page in a mergeable area, not the zero page: what ksmd may merge (with PTE_KSM: a KSM page). */
export const PRESENT_ANON_MASK = PTE_PRESENT | PTE_ZERO | PTE_SWAPPED | PTE_MERGEABLE;
export const PRESENT_ANON = PTE_PRESENT | PTE_MERGEABLE;

export function pteFrame(pte: number): number {
  return pte >>> PTE_FRAME_SHIFT;
}

export function makePte(frame: number, flags: number): number {
  return ((frame << PTE_FRAME_SHIFT) | flags) | 0;
}

/** A private (anonymous, exclusive) frame: present, not KSM, not the zero page, not swapped. */
export function isPrivateFrame(pte: number): boolean {
  return (pte & (PTE_PRESENT | PTE_KSM | PTE_ZERO | PTE_SWAPPED)) === PTE_PRESENT;
}

export function describePte(pte: number): string {
  if (pte === 0) return 'none';
  const names: string[] = [];
  const bits: Array<[number, string]> = [
    [PTE_PRESENT, 'P'], [PTE_WRITABLE, 'W'], [PTE_KSM, 'KSM'], [PTE_ZERO, 'ZERO'], [PTE_KSM_ZERO, 'KSMZERO'],
    [PTE_WP_KSMD, 'WP'], [PTE_MERGEABLE, 'MERGE'], [PTE_SWAPPED, 'SWAP'], [PTE_NOACCESS, 'NOACC'], [PTE_HUGE, 'HUGE'],
  ];
  for (const [bit, name] of bits) if (pte & bit) names.push(name);
  return `${names.join('|')} frame=${pteFrame(pte)}`;
}
