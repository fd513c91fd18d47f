// strerror.ts — owns the C library's text for the errnos a KSM file write can fail with (glibc wording).

const TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EINVAL: 'Invalid argument',
  ERANGE: 'Numerical result out of range',
};

export function strerror(code: string): string {
  return TEXT[code] ?? code;
}
