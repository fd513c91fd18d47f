// space-summary.ts — owns counting what a guest's page table maps (for reports, recounts and checks),
// read from shared memory by any thread.

import { CTL_WORDS, readVmaTable, type GuestSpaceHandles, type VmaSnapshot } from './guest-control.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import { PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, pteFrame } from './pte.ts';
import { hugeHead } from './thp.ts';

export interface SpaceSummary {
  /** Pages mapped by VMAs (virtual size). */
  mappedPages: number;
  /** Private frames (resident, exclusive to this guest). */
  privatePages: number;
  /** PTEs that map a KSM page (shared with others). */
  ksmPages: number;
  /** PTEs that map the zero page because the page was only read. */
  zeroPages: number;
  /** PTEs that map the zero page because ksmd merged an empty page (use_zero_pages). */
  ksmZeroPages: number;
  swappedPages: number;
  /** Private frames per NUMA node. */
  privatePagesByNode: number[];
  /** Present pages (private or KSM) whose frame lies on another node than the guest's home node. */
  remotePages: number;
  /** Private pages inside PMD-mapped huge pages (AnonHugePages / 4 KiB): blocks whose head has HUGE. */
  anonHugePages: number;
}

export function summarizeSpace(handles: GuestSpaceHandles, memory: PhysicalMemory): SpaceSummary {
  const pt = new Int32Array(handles.pageTable);
  const ctl = new Int32Array(handles.control);
  if (ctl.length < CTL_WORDS) throw new Error('bad guest control block');
  const vmas = readVmaTable(ctl, new Int32Array(handles.vmaTable), 0, [] as VmaSnapshot[]);
  const s: SpaceSummary = {
    mappedPages: 0, privatePages: 0, ksmPages: 0, zeroPages: 0, ksmZeroPages: 0, swappedPages: 0,
    privatePagesByNode: memory.nodes.map(() => 0),
    remotePages: 0,
    anonHugePages: 0,
  };
  for (const v of vmas) {
    s.mappedPages += v.pages;
    for (let p = v.start; p < v.start + v.pages; p++) {
      const pte = Atomics.load(pt, p);
      if (pte === 0) continue;
      if (pte & PTE_SWAPPED) s.swappedPages++;
      else if (!(pte & PTE_PRESENT)) continue;
      else if (pte & PTE_ZERO) {
        if (pte & PTE_KSM_ZERO) s.ksmZeroPages++;
        else s.zeroPages++;
      } else {
        const node = memory.nodeOf(pteFrame(pte));
        if (node !== handles.homeNode) s.remotePages++;
        if (pte & PTE_KSM) s.ksmPages++;
        else {
          s.privatePages++;
          s.privatePagesByNode[node]!++;
          if ((pte & PTE_HUGE) && (Atomics.load(pt, hugeHead(p)) & PTE_HUGE)) s.anonHugePages++;
        }
      }
    }
  }
  return s;
}
