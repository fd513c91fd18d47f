// real-files.ts — owns reading and writing real sysfs/procfs files the way a guest sees them: one
// read, one write(2) per store, Node's fs errors turned into ErrnoError.

import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { sysCall } from './addon.ts';

export function readRealFile(path: string): string {
  return sysCall('open', path, () => readFileSync(path, 'utf8'));
}

/** One write(2) of the whole text, as `echo text > path` does; no O_CREAT, no O_TRUNC. */
export function writeRealFile(path: string, text: string): void {
  const fd = sysCall('open', path, () => openSync(path, constants.O_WRONLY));
  try {
    sysCall('write', path, () => writeSync(fd, text));
  } finally {
    closeSync(fd);
  }
}

/** The selected word of a sysfs choice file ("[none] scan-time" → "none"), else the trimmed text. */
export function selectedChoice(text: string): string {
  const m = /\[([^\]]*)\]/.exec(text);
  return m ? m[1] : text.trim();
}
