// swap-file.ts — owns a temporary swap file on the real machine for a linux-backend run that needs
// swap (a fidelity scenario's `swapBytes`): created, mkswap'd and swapped on inside the run's knob
// guard (which holds the run lock), swapped off and removed when the guard restores the knobs.

import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fchmodSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SwapFile {
  readonly path: string;
  readonly bytes: number;
}

const CHUNK = Buffer.alloc(1 << 20);

/**
 * Create and enable a swap file of `bytes` (a whole number of MiB, at least 1). The file is written
 * out with zeros (swapon refuses sparse files). Throws with the tool's message when it cannot.
 */
export function enableSwapFile(bytes: number): SwapFile {
  const mib = Math.max(1, Math.ceil(bytes / 2 ** 20));
  const path = join(tmpdir(), `ksmsim-swap-${process.pid}-${Date.now()}`);
  const fd = openSync(path, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    for (let i = 0; i < mib; i++) writeSync(fd, CHUNK);
    ftruncateSync(fd, mib * 2 ** 20);
  } finally {
    closeSync(fd);
  }
  try {
    execFileSync('mkswap', [path], { stdio: 'pipe' });
    execFileSync('swapon', [path], { stdio: 'pipe' });
  } catch (e) {
    unlinkSync(path);
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`could not enable a ${mib} MiB swap file: ${err.stderr?.toString().trim() || err.message}`);
  }
  return { path, bytes: mib * 2 ** 20 };
}

/** Swap the file off and remove it (what is swapped out comes back in first: swapoff does that). */
export function disableSwapFile(f: SwapFile): void {
  try {
    execFileSync('swapoff', [f.path], { stdio: 'pipe' });
  } finally {
    if (existsSync(f.path)) unlinkSync(f.path);
  }
}
