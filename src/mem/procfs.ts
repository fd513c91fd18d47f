// procfs.ts — owns the memory files of procfs as the kernel prints them: host-wide /proc/vmstat and
// /proc/meminfo (from the frame allocator, the swap area and the vmstat counters), and a guest's
// /proc/self/smaps_rollup (from its page table). Read from shared memory by any thread.
//
// Formats (checked against Linux 6.18 here): vmstat is "name value\n"; meminfo and smaps_rollup
// print each value with show_val_kb / SEQ_PUT_DEC: a 16-character label, the kB figure right-aligned
// in 8, then " kB\n".

import { PAGE_SIZE, ZERO_FRAME } from './constants.ts';
import { readVmaTable, VM_SHARED, type GuestSpaceHandles, type VmaSnapshot } from './guest-control.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import { PTE_HUGE, PTE_KSM, PTE_PRESENT, PTE_SWAPPED, PTE_ZERO, pteFrame } from './pte.ts';
import { HPAGE_PAGES, hugeHead } from './thp.ts';
import { VMSTAT_SLOTS } from './vmstat.ts';

export const PROC_VMSTAT = '/proc/vmstat';
export const PROC_MEMINFO = '/proc/meminfo';
export const PROC_SMAPS_ROLLUP = '/proc/self/smaps_rollup';


const KB = 1024;

/** One "Label:   value kB" line as show_val_kb prints it (label padded to 16, value to 8). */
function kbLine(label: string, kb: number): string {
  return `${(label + ':').padEnd(16)}${String(Math.floor(kb)).padStart(8)} kB\n`;
}

/** Frames in use: every allocated frame holds an anonymous page here (private, KSM, shmem or swap cache). */
function usedFrames(mem: PhysicalMemory): number {
  let usable = 0;
  for (let n = 0; n < mem.nodes.length; n++) usable += mem.usableFrames(n);
  return usable - mem.freeFrames();
}

/** /proc/vmstat: the free and anonymous page counts, then every counter slot, in the kernel's order. */
export function formatVmstat(mem: PhysicalMemory): string {
  const v = mem.vmstat.snapshot();
  let out = `nr_free_pages ${mem.freeFrames()}\nnr_anon_pages ${usedFrames(mem)}\n`;
  for (const name of VMSTAT_SLOTS) out += `${name} ${v[name]}\n`;
  return out;
}

export interface MeminfoOptions {
  /** KsmZeroPages: printed only where the kernel has the line (UKSM's patch; 6.18's KSM does not). */
  readonly ksmZeroPages?: number;
}

/** The figures of /proc/meminfo in kB, by line name, in the kernel's order. */
export function meminfoValues(mem: PhysicalMemory, o: MeminfoOptions = {}): Record<string, number> {
  let usable = 0;
  for (let n = 0; n < mem.nodes.length; n++) usable += mem.usableFrames(n);
  const pageKb = PAGE_SIZE / KB;
  const free = mem.freeFrames();
  const swapCached = mem.vmstat.get('nr_swapcached');
  const swap = mem.swap;
  const out: Record<string, number> = {
    MemTotal: usable * pageKb,
    MemFree: free * pageKb,
    // Reclaim can free the swap cache's unmapped pages at once: they count as available.
    MemAvailable: (free + swapCached) * pageKb,
    SwapCached: swapCached * pageKb,
    SwapTotal: (swap ? swap.slots : 0) * pageKb,
    SwapFree: (swap ? swap.freeSlots() : 0) * pageKb,
    AnonPages: (usedFrames(mem) - swapCached) * pageKb,
    AnonHugePages: mem.vmstat.get('nr_anon_transparent_hugepages') * HPAGE_PAGES * pageKb,
  };
  if (o.ksmZeroPages !== undefined) out.KsmZeroPages = o.ksmZeroPages * pageKb;
  return out;
}

export function formatMeminfo(mem: PhysicalMemory, o: MeminfoOptions = {}): string {
  return Object.entries(meminfoValues(mem, o)).map(([k, v]) => kbLine(k, v)).join('');
}

/** A guest's smaps_rollup figures, in bytes (Pss fractional, as the kernel keeps it before the shift). */
export interface SmapsRollup {
  /** First and one past the last mapped address ([rollup] header). */
  readonly start: number;
  readonly end: number;
  Rss: number;
  Pss: number;
  Pss_Dirty: number;
  Pss_Anon: number;
  Pss_File: number;
  Pss_Shmem: number;
  Shared_Clean: number;
  Shared_Dirty: number;
  Private_Clean: number;
  Private_Dirty: number;
  Referenced: number;
  Anonymous: number;
  KSM: number;
  LazyFree: number;
  /** Bytes of anonymous pages inside PMD-mapped transparent huge pages (blocks whose head has HUGE). */
  AnonHugePages: number;
  ShmemPmdMapped: number;
  FilePmdMapped: number;
  Shared_Hugetlb: number;
  Private_Hugetlb: number;
  Swap: number;
  SwapPss: number;
  Locked: number;
}

const ROLLUP_FIELDS = [
  'Rss', 'Pss', 'Pss_Dirty', 'Pss_Anon', 'Pss_File', 'Pss_Shmem', 'Shared_Clean', 'Shared_Dirty', 'Private_Clean',
  'Private_Dirty', 'Referenced', 'Anonymous', 'KSM', 'LazyFree', 'AnonHugePages', 'ShmemPmdMapped', 'FilePmdMapped',
  'Shared_Hugetlb', 'Private_Hugetlb', 'Swap', 'SwapPss', 'Locked',
] as const;

/**
 * smaps_account over every present page of the guest's areas. The zero page is not counted (it is
 * not a "normal" page). A KSM page counts in Rss, Anonymous and KSM, its Pss divided by its mapcount
 * (less the swap cache's own reference), and is dirty (a new KSM folio is marked dirty). A page of a
 * MAP_SHARED area is shmem: not Anonymous, Pss_Shmem. A swap entry counts in Swap, and in SwapPss
 * divided by its swap count.
 */
export function smapsRollup(handles: GuestSpaceHandles, mem: PhysicalMemory): SmapsRollup {
  const pt = new Int32Array(handles.pageTable);
  const vmas = readVmaTable(new Int32Array(handles.control), new Int32Array(handles.vmaTable), 0, [] as VmaSnapshot[]);
  const r: SmapsRollup = {
    start: vmas.length ? vmas[0]!.start * PAGE_SIZE : 0,
    end: vmas.length ? (vmas[vmas.length - 1]!.start + vmas[vmas.length - 1]!.pages) * PAGE_SIZE : 0,
    Rss: 0, Pss: 0, Pss_Dirty: 0, Pss_Anon: 0, Pss_File: 0, Pss_Shmem: 0, Shared_Clean: 0, Shared_Dirty: 0,
    Private_Clean: 0, Private_Dirty: 0, Referenced: 0, Anonymous: 0, KSM: 0, LazyFree: 0, AnonHugePages: 0,
    ShmemPmdMapped: 0, FilePmdMapped: 0, Shared_Hugetlb: 0, Private_Hugetlb: 0, Swap: 0, SwapPss: 0, Locked: 0,
  };
  const swap = mem.swap;
  for (const v of vmas) {
    const shmem = (v.flags & VM_SHARED) !== 0;
    for (let p = v.start; p < v.start + v.pages; p++) {
      const pte = Atomics.load(pt, p);
      if (pte & PTE_SWAPPED) {
        r.Swap += PAGE_SIZE;
        r.SwapPss += PAGE_SIZE / Math.max(1, swap ? swap.count(pteFrame(pte)) : 1);
        continue;
      }
      if (!(pte & PTE_PRESENT) || (pte & PTE_ZERO)) continue;
      const f = pteFrame(pte);
      if (f === ZERO_FRAME) continue;
      let share = 1;
      if (pte & PTE_KSM) {
        share = Math.max(1, mem.mapcount(f) - (mem.inSwapCache(f) ? 1 : 0));
        r.KSM += PAGE_SIZE;
      }
      const pss = PAGE_SIZE / share;
      r.Rss += PAGE_SIZE;
      r.Referenced += PAGE_SIZE;
      r.Pss += pss;
      r.Pss_Dirty += pss;
      if (shmem) r.Pss_Shmem += pss;
      else {
        r.Pss_Anon += pss;
        r.Anonymous += PAGE_SIZE;
      }
      if (share > 1) r.Shared_Dirty += PAGE_SIZE;
      else r.Private_Dirty += PAGE_SIZE;
      if ((pte & PTE_HUGE) && (Atomics.load(pt, hugeHead(p)) & PTE_HUGE)) r.AnonHugePages += PAGE_SIZE;
    }
  }
  return r;
}

export function formatSmapsRollup(r: SmapsRollup): string {
  // show_vma_header_prefix, padded (seq_pad) to 25 + 6·sizeof(void *) − 1 columns, then " [rollup]".
  const head = `${r.start.toString(16).padStart(8, '0')}-${r.end.toString(16).padStart(8, '0')} ---p 00000000 00:00 0 `;
  let out = `${head.padEnd(72)} [rollup]\n`;
  for (const f of ROLLUP_FIELDS) out += kbLine(f, r[f] / KB);
  return out;
}
