// sealed-sys.ts — owns what a guest program is handed as `sys`: a frozen object of functions that
// close over the real GuestSys, so no property, prototype or method of it leads to the address
// space, the frame banks or any other shared memory (docs/security.md#isolation).

import type { GuestSys } from './guest-sys.ts';

/**
 * The program's view of `sys`: the same calls and fields, nothing else. Each method is an arrow
 * function of fixed arity (no `this`, no bound target to read back, and no rest-argument array
 * allocated per call on the guests' hot path); the object and its functions are frozen, so a
 * program cannot swap a method or reach the implementation through it.
 */
export function sealGuestSys(s: GuestSys): GuestSys {
  const sealed: GuestSys = {
    pid: s.pid,
    node: s.node,
    pageSize: s.pageSize,
    backend: s.backend,
    mmap: (length, prot, flags) => s.mmap(length, prot, flags),
    munmap: (addr, length) => s.munmap(addr, length),
    mprotect: (addr, length, prot) => s.mprotect(addr, length, prot),
    mbind: (addr, length, node) => s.mbind(addr, length, node),
    madvise: (addr, length, advice) => s.madvise(addr, length, advice),
    prctl: (option, arg2) => s.prctl(option, arg2),
    memset: (addr, byte, length) => s.memset(addr, byte, length),
    write: (addr, bytes) => s.write(addr, bytes),
    read: (addr, length) => s.read(addr, length),
    readFile: (path) => s.readFile(path),
    writeFile: (path, text) => s.writeFile(path, text),
    now: () => s.now(),
    sleep: (ms) => s.sleep(ms),
    log: (...args) => s.log(...args),
  };
  for (const v of Object.values(sealed)) if (typeof v === 'function') Object.freeze(v);
  return Object.freeze(Object.setPrototypeOf(sealed, null) as GuestSys);
}
