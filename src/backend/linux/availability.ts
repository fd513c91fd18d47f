// availability.ts — owns the answer to "can the linux backend run here?": Linux, the addon built,
// /sys/kernel/mm/ksm present and writable (root), /proc/self/ksm_stat present.

import { accessSync, constants } from 'node:fs';
import { KSM_DIR, PROC_KSM_STAT } from '../../ksm/sysfs.ts';
import { loadLinuxAddon } from './addon.ts';

export interface BackendAvailability {
  readonly ok: boolean;
  readonly reason?: string;
}

export function linuxBackendAvailable(): BackendAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `the linux backend needs Linux (this is ${process.platform})` };
  const load = loadLinuxAddon();
  if (!load.ok) return { ok: false, reason: load.reason };
  if (!canAccess(KSM_DIR + 'run', constants.R_OK)) return { ok: false, reason: `${KSM_DIR} is missing: the kernel has no KSM (CONFIG_KSM)` };
  if (process.getuid?.() !== 0 || !canAccess(KSM_DIR + 'run', constants.W_OK)) {
    return { ok: false, reason: `${KSM_DIR} is not writable: the linux backend must run as root` };
  }
  if (!canAccess(PROC_KSM_STAT, constants.R_OK)) return { ok: false, reason: `${PROC_KSM_STAT} is missing (kernel older than 6.1?)` };
  return { ok: true };
}

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}
