// errno.ts — the guest-facing home of ErrnoError (defined with the memory layer, which raises most of them).
export { ERRNO, ErrnoError, OutOfMemoryKill, isErrnoError, type ErrnoCode } from '../mem/errno.ts';
