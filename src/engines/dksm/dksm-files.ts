// dksm-files.ts — owns /sys/kernel/mm/dksm/: run (0644, 0 or 1 by kstrtouint, else EINVAL; default
// 0) and the 0444 counters pages_scanned, pages_merged, merging_failed, hashtable_entries and
// hashtable_size (4096, not a limit), all "%lu\n".

import { ErrnoError } from '../../mem/errno.ts';
import { kstrtouint } from '../../ksm/knob-parse.ts';
import { DKSM_BUCKETS, DKSM_COUNTERS, HOST_OWNER, type DksmCounter, type DksmState } from './dksm-state.ts';

export const DKSM_DIR = '/sys/kernel/mm/dksm/';
export const DKSM_FILES = ['hashtable_entries', 'hashtable_size', 'merging_failed', 'pages_merged', 'pages_scanned', 'run'] as const;

export interface DksmCaller {
  readonly root: boolean;
  /** Who takes the lock for a run write: the guest's pid, or HOST_OWNER. */
  readonly owner?: number;
}

export class DksmFiles {
  private readonly state: DksmState;

  constructor(state: DksmState) {
    this.state = state;
  }

  owns(path: string): boolean {
    return path.startsWith(DKSM_DIR) || path === DKSM_DIR.slice(0, -1);
  }

  read(path: string): string {
    const name = path.slice(DKSM_DIR.length);
    if (name === 'run') return `${this.state.run}\n`;
    if (name === 'hashtable_size') return `${DKSM_BUCKETS}\n`;
    if ((DKSM_COUNTERS as readonly string[]).includes(name)) return `${this.state.counter(name as DksmCounter)}\n`;
    throw new ErrnoError('ENOENT', 'open', path);
  }

  write(path: string, text: string, caller: DksmCaller): void {
    const name = path.slice(DKSM_DIR.length);
    if (!(DKSM_FILES as readonly string[]).includes(name)) throw new ErrnoError('ENOENT', 'open', path);
    // 0444 files: open for writing is refused for everyone (as KsmFiles does for ksm's counters).
    if (name !== 'run') throw new ErrnoError('EACCES', 'open', `${path} is read-only`);
    if (!caller.root) throw new ErrnoError('EACCES', 'open', `${path}: only root may write DKSM knobs`);
    if (text.length === 0) return; // sysfs_kf_write stores nothing for a zero-length write
    const v = kstrtouint(text);
    if (v === undefined || v > 1) throw new ErrnoError('EINVAL', 'write', `${path}: invalid value ${JSON.stringify(text)}`);
    const owner = caller.owner ?? HOST_OWNER;
    this.state.lock(owner);
    try {
      this.state.setRunLocked(v as 0 | 1);
    } finally {
      this.state.unlock(owner);
    }
  }

  /** Every file as name → value (no newline), for reports. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const n of DKSM_FILES) out[n] = this.read(DKSM_DIR + n).trimEnd();
    return out;
  }
}
