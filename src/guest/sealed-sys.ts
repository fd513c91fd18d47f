// sealed-sys.ts — owns what a guest program is handed as `sys`: a frozen object of functions that
// close over the real GuestSys, so no property, prototype or method of it leads to the address
// space, the frame banks or any other shared memory (docs/security.md#isolation).

import type { GuestSys } from './guest-sys.ts';

const METHODS = [
  'mmap', 'munmap', 'mprotect', 'mbind', 'madvise', 'prctl', 'memset', 'write', 'read',
  'readFile', 'writeFile', 'now', 'sleep', 'log',
] as const satisfies ReadonlyArray<keyof GuestSys>;

/**
 * The program's view of `sys`: the same calls and fields, nothing else. Each method is a fresh
 * arrow function (no `this`, no bound target to read back); the object and its functions are frozen,
 * so a program cannot swap a method for another guest's sake or reach the implementation through it.
 */
export function sealGuestSys(sys: GuestSys): GuestSys {
  const out: Record<string, unknown> = Object.create(null);
  out.pid = sys.pid;
  out.node = sys.node;
  out.pageSize = sys.pageSize;
  out.backend = sys.backend;
  for (const name of METHODS) {
    const method = sys[name] as (...args: unknown[]) => unknown;
    out[name] = Object.freeze((...args: unknown[]) => method.apply(sys, args));
  }
  return Object.freeze(out) as unknown as GuestSys;
}
