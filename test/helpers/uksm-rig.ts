// uksm-rig.ts — a UKSM scanner over guests built in this thread (no workers): physical memory, the
// ksm and uksm state, the files, and address spaces that get VM_MERGEABLE at mmap as under UKSM.
import { MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { createGuestSpaceHandles, type GuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { UksmState } from '../../src/engines/uksm/uksm-state.ts';
import { UksmFiles } from '../../src/engines/uksm/uksm-files.ts';
import { UksmScanner } from '../../src/engines/uksm/uksm-scanner.ts';

export interface UksmRig {
  mem: PhysicalMemory;
  ksm: KsmState;
  uksm: UksmState;
  files: UksmFiles;
  scanner: UksmScanner;
  guest(): AddressSpace;
}

export interface UksmRigOptions {
  readonly strength?: number;
  /** A fixed cost per page (ns): the ladder's quotas and steps are then repeatable. */
  readonly pageTimeNs?: number;
  readonly bytes?: number;
  /** Virtual pages per guest. */
  readonly vaPages?: number;
}

export function uksmRig(o: UksmRigOptions = {}): UksmRig {
  const mem = PhysicalMemory.create({ bytes: o.bytes ?? 8 * 2 ** 20, numaNodes: 1 });
  const ksm = KsmState.create();
  const uksm = UksmState.create();
  if (o.strength !== undefined) uksm.set('hash_strength', o.strength);
  const handles: GuestSpaceHandles[] = [];
  const scanner = new UksmScanner(uksm, mem, ksm, () => handles, { pageTimeNs: o.pageTimeNs });
  return {
    mem, ksm, uksm, scanner, files: new UksmFiles(uksm, mem, ksm),
    guest: () => {
      const h = createGuestSpaceHandles(100 + handles.length, 0, o.vaPages ?? 2048);
      handles.push(h);
      return new AddressSpace(h, mem, {
        addKsmZeroPages: (d) => ksm.add('ksm_zero_pages', d),
        engineAdvice: (_s, _a, advice) => advice === MADV_MERGEABLE,
        mergeableAtMmap: true,
      });
    },
  };
}
