// chromium.ts — Debian's headless Chromium for the report tests: the command-line flags that keep it
// off the network (every host name resolves to nothing) and a runner that kills its whole process
// group if it outlives a time limit.
import { spawn } from 'node:child_process';

export const CHROMIUM = '/usr/bin/chromium';

export interface ChromiumRun { code: number | null; stdout: string; stderr: string }

/** Headless, offline, with its own profile directory and window size. */
export function chromiumArgs(profileDir: string, width: number, height: number): string[] {
  return [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND', '--hide-scrollbars',
    `--user-data-dir=${profileDir}`, `--window-size=${width},${height}`,
  ];
}

/** Runs chromium in its own process group, killing the whole group if it outlives the time limit. */
export function chromium(args: string[], timeoutMs: number): Promise<ChromiumRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      reject(new Error(`chromium did not finish within ${timeoutMs / 1000} s\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
