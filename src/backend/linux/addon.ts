// addon.ts — owns loading native/ksmsim_linux.node (the real-kernel memory syscalls) and turning its
// errors, and Node's fs errors, into ErrnoError.

import { createRequire } from 'node:module';
import { ERRNO, ErrnoError, type ErrnoCode } from '../../mem/errno.ts';
import { projectPath } from '../../platform/project-root.ts';

/** What native/src/ksmsim_linux.c exports. Addresses are JS numbers (user addresses are < 2^47). */
export interface LinuxAddon {
  readonly pageSize: number;
  /** Anonymous mapping only; `buffer` is an external ArrayBuffer over exactly `length` bytes of it. */
  mmap(length: number, prot: number, flags: number): { address: number; buffer: ArrayBuffer };
  munmap(addr: number, length: number): void;
  mprotect(addr: number, length: number, prot: number): void;
  madvise(addr: number, length: number, advice: number): void;
  /** MPOL_BIND to one node. */
  mbind(addr: number, length: number, node: number): void;
  prctl(option: number, arg2: number): number;
  /** Detach an ArrayBuffer whose region was unmapped (its byteLength becomes 0). */
  detach(buffer: ArrayBuffer): void;
}

export const ADDON_PATH = projectPath('native', 'build', 'Release', 'ksmsim_linux.node');

export type AddonLoad = { ok: true; addon: LinuxAddon } | { ok: false; reason: string };

let cached: AddonLoad | undefined;

/** Load the addon once; never throws. */
export function loadLinuxAddon(): AddonLoad {
  if (cached) return cached;
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as LinuxAddon;
    cached = { ok: true, addon };
  } catch (e) {
    const why = (e as Error)?.message?.split('\n')[0] ?? String(e);
    cached = { ok: false, reason: `the native addon is not built (${why}); run: node native/build.mjs --strict` };
  }
  return cached;
}

/** The addon, or an Error explaining why it cannot be used. */
export function requireLinuxAddon(): LinuxAddon {
  const load = loadLinuxAddon();
  if (!load.ok) throw new Error(load.reason);
  return load.addon;
}

/** An error thrown by a syscall (the addon's `{errno, syscall}` or Node's `{code}`) as an ErrnoError. */
export function toErrnoError(e: unknown, syscall: string, detail?: string): Error {
  if (typeof e !== 'object' || e === null) return new Error(`${syscall}: ${String(e)}`);
  const { errno, code } = e as { errno?: unknown; code?: unknown };
  if (typeof code === 'string' && code in ERRNO) return new ErrnoError(code as ErrnoCode, syscall, detail);
  // The addon's errno is positive; Node's fs errno is negative.
  if (typeof errno === 'number') {
    const n = Math.abs(errno);
    const name = (Object.keys(ERRNO) as ErrnoCode[]).find((c) => ERRNO[c] === n);
    if (name) return new ErrnoError(name, syscall, detail);
  }
  return e instanceof Error ? e : new Error(`${syscall}: ${String(e)}`);
}

/** Run one syscall, rethrowing its failure as an ErrnoError. */
export function sysCall<T>(syscall: string, detail: string | undefined, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw toErrnoError(e, syscall, detail);
  }
}
