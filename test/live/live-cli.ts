// live-cli.ts — runs the ksmsim command line as its own process, as a user does (bin/ksmsim, compiled
// JavaScript, no loader), for the live-host tests.
import { execFile } from 'node:child_process';

const ENTRY = new URL('../../bin/ksmsim', import.meta.url).pathname;

export interface CliRun { code: number; stdout: string; stderr: string }

export function ksmsim(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ENTRY, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Kill a detached host (and so its guests) whatever state a failed test left it in. */
export function killHost(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* already gone */ }
}
