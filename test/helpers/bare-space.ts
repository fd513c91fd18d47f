// bare-space.ts — an AddressSpace over fresh PhysicalMemory in the test's own thread (no workers, no ksmd).

import { AddressSpace, type AddressSpaceHooks } from '../../src/mem/address-space.ts';
import { createGuestSpaceHandles, type GuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';

export interface BareSpace {
  readonly mem: PhysicalMemory;
  readonly space: AddressSpace;
  readonly handles: GuestSpaceHandles;
}

export interface BareSpaceOptions {
  /** Physical memory (default 4 MiB). */
  readonly bytes?: number;
  readonly numaNodes?: number;
  /** Virtual address space in pages (default 4096 = 16 MiB). */
  readonly vaPages?: number;
  readonly homeNode?: number;
  readonly pid?: number;
  /** The space's hooks (default none: THP never, no counters). */
  readonly hooks?: AddressSpaceHooks;
}

export function bareSpace(o: BareSpaceOptions = {}, mem?: PhysicalMemory): BareSpace {
  const memory = mem ?? PhysicalMemory.create({ bytes: o.bytes ?? 4 * 2 ** 20, numaNodes: o.numaNodes ?? 1 });
  const handles = createGuestSpaceHandles(o.pid ?? 1, o.homeNode ?? 0, o.vaPages ?? 4096);
  return { mem: memory, space: new AddressSpace(handles, memory, o.hooks), handles };
}

/** Run `fn` and return the ErrnoError code it throws; fails if it throws nothing or something else. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const err = e as { name?: string; code?: string };
    if (err?.name === 'ErrnoError' && typeof err.code === 'string') return err.code;
    throw e;
  }
  throw new Error('expected an ErrnoError, but the call succeeded');
}
