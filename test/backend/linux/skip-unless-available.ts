// skip-unless-available.ts — owns the shared guard of the linux-backend tests: skip (with the reason)
// where the real kernel's KSM cannot be used.
import { linuxBackendAvailable } from '../../../src/backend/linux/availability.ts';

export function skipUnlessLinuxBackend(ctx: Mocha.Context): void {
  const a = linuxBackendAvailable();
  if (!a.ok) {
    // In a hook the test being skipped is currentTest; in an it() it is test.
    const test = ctx.currentTest ?? ctx.test;
    if (test) test.title += ` (skipped: ${a.reason})`;
    ctx.skip();
  }
}
