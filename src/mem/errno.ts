// errno.ts — owns ErrnoError, the Linux errno a system call (or a sysfs write) fails with, and the OOM kill.

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ERANGE: 34,
  ENOSYS: 38,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

const CODE_BY_NUMBER = new Map<number, ErrnoCode>(
  (Object.keys(ERRNO) as ErrnoCode[]).map((code) => [ERRNO[code], code]),
);

/** A failed system call: `code` is the symbolic name ('EINVAL'), `errno` the Linux number (22). */
export class ErrnoError extends Error {
  readonly code: ErrnoCode;
  readonly errno: number;
  readonly syscall: string;

  constructor(code: ErrnoCode, syscall: string, detail?: string) {
    super(`${syscall}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'ErrnoError';
    this.code = code;
    this.errno = ERRNO[code];
    this.syscall = syscall;
  }

  /** Rebuild from a plain object that crossed a worker boundary (structured clone drops the class). */
  static fromNumber(errno: number, syscall: string, detail?: string): ErrnoError {
    const code = CODE_BY_NUMBER.get(errno);
    if (!code) throw new Error(`unknown errno ${errno} from ${syscall}`);
    return new ErrnoError(code, syscall, detail);
  }
}

export function isErrnoError(e: unknown): e is ErrnoError {
  return e instanceof ErrnoError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ErrnoError');
}

/** Thrown when a guest must die the way the OOM killer kills a process: host memory is exhausted. */
export class OutOfMemoryKill extends Error {
  readonly node: number;
  constructor(node: number, what: string) {
    super(`out of memory: no free frame on node ${node} for ${what}`);
    this.name = 'OutOfMemoryKill';
    this.node = node;
  }
}
