// dksm-hazard.ts — owns naming DKSM's one documented hazard: a frame filed in the table from a
// writable region keeps its owner's writable PTE, so once another guest merged into it, the owner's
// writes change the other guest's memory in place. The stress checker reports these by name
// ("DKSM writable-region hazard") instead of as protocol violations.

import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import { PTE_KSM, PTE_PRESENT, PTE_WRITABLE, pteFrame } from '../../mem/pte.ts';

export const DKSM_HAZARD = 'DKSM writable-region hazard';

export interface PageTableView {
  readonly pid: number;
  readonly pt: Int32Array;
  readonly vaPages: number;
}

export interface DksmHazard {
  readonly what: typeof DKSM_HAZARD;
  /** The guest whose writable PTE maps the shared frame. */
  readonly pid: number;
  readonly vpage: number;
  readonly frame: number;
  /** Mappings of the frame besides the writer's (its mapcount less one). */
  readonly otherMappings: number;
}

const WRITABLE_SHARED = PTE_PRESENT | PTE_KSM | PTE_WRITABLE;

/** Every page now exposed to the hazard: a writable DKSM first page whose frame another mapping shares. */
export function dksmHazards(spaces: readonly PageTableView[], mem: PhysicalMemory): DksmHazard[] {
  const out: DksmHazard[] = [];
  for (const s of spaces) {
    for (let p = 0; p < s.vaPages; p++) {
      const pte = Atomics.load(s.pt, p);
      if ((pte & WRITABLE_SHARED) !== WRITABLE_SHARED) continue;
      const frame = pteFrame(pte);
      const others = mem.mapcount(frame) - 1;
      if (others > 0) out.push({ what: DKSM_HAZARD, pid: s.pid, vpage: p, frame, otherMappings: others });
    }
  }
  return out;
}

/** Was `frame` ever exposed, by the hazard list, to a writer other than `pid`? (Used to classify a stress violation.) */
export function hazardExplains(hazards: readonly DksmHazard[], frame: number, pid: number): boolean {
  return hazards.some((h) => h.frame === frame && h.pid !== pid);
}
