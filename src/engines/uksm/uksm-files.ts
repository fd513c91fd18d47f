// uksm-files.ts — owns /sys/kernel/mm/uksm/ as uksm.c's show/store functions have it (formats,
// parsing, clamps, errnos), and the KsmZeroPages line of the host's /proc/meminfo.
//
// Writable (0644): run (0|1), sleep_millisecs (≤ 1000), max_cpu_percentage (≤ 100; 100 → 99, < 10 →
// 10), cpu_governor (by prefix; resets ratios, intervals and max_cpu), thrash_threshold and
// abundant_threshold (≤ 99), cpu_ratios and eval_intervals (four space-separated values). The rest
// read-only (0444): ema_per_page_time, pages_shared, pages_sharing, pages_unshared, full_scans,
// pages_scanned, hash_strength, sleep_times.

import { ErrnoError } from '../../mem/errno.ts';
import { PAGE_SIZE } from '../../mem/constants.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import { PROC_MEMINFO, formatMeminfo } from '../../mem/procfs.ts';
import type { KsmState } from '../../ksm/ksm-state.ts';
import { kstrtoul } from '../../ksm/knob-parse.ts';
import { GOVERNORS, LADDER, TIME_RATIO_SCALE, UKSM_COUNTERS, type UksmCounter, type UksmState } from './uksm-state.ts';

export const UKSM_DIR = '/sys/kernel/mm/uksm/';
export { PROC_MEMINFO } from '../../mem/procfs.ts';
export const UKSM_WRITABLE = ['run', 'sleep_millisecs', 'max_cpu_percentage', 'cpu_governor', 'thrash_threshold', 'abundant_threshold', 'cpu_ratios', 'eval_intervals'] as const;
const READ_ONLY = ['ema_per_page_time', 'hash_strength', ...UKSM_COUNTERS] as const;
export const UKSM_FILES = [...UKSM_WRITABLE, ...READ_ONLY].sort();

export class UksmFiles {
  private readonly s: UksmState;
  private readonly mem?: PhysicalMemory;
  private readonly ksm?: KsmState;

  constructor(state: UksmState, mem?: PhysicalMemory, ksm?: KsmState) {
    this.s = state;
    this.mem = mem;
    this.ksm = ksm;
  }

  owns(path: string): boolean {
    return path.startsWith(UKSM_DIR) || path === PROC_MEMINFO;
  }

  read(path: string): string {
    if (path === PROC_MEMINFO) return this.meminfo();
    const name = path.slice(UKSM_DIR.length);
    const s = this.s;
    switch (name) {
      case 'run': case 'sleep_millisecs': case 'max_cpu_percentage': case 'thrash_threshold': case 'abundant_threshold':
      case 'hash_strength': case 'ema_per_page_time':
        return `${s.get(name)}\n`;
      case 'cpu_governor':
        return GOVERNORS.map((g) => (g === s.governor ? `[${g}] ` : `${g} `)).join('') + '\n';
      case 'cpu_ratios':
        return s.cpuRatios().map((r) => (r > 0 ? `${r} ` : `MAX/${TIME_RATIO_SCALE / -r} `)).join('') + '\n';
      case 'eval_intervals':
        return s.evalIntervals().map((v) => `${v} `).join('') + '\n';
      default:
        if ((UKSM_COUNTERS as readonly string[]).includes(name)) return `${s.counter(name as UksmCounter)}\n`;
        throw new ErrnoError('ENOENT', 'open', path);
    }
  }

  write(path: string, text: string, root: boolean): void {
    const name = path.slice(UKSM_DIR.length);
    if (path === PROC_MEMINFO || (READ_ONLY as readonly string[]).includes(name)) throw new ErrnoError('EACCES', 'open', `${path} is read-only`);
    if (!(UKSM_WRITABLE as readonly string[]).includes(name)) throw new ErrnoError('ENOENT', 'open', path);
    if (!root) throw new ErrnoError('EACCES', 'open', `${path}: only root may write UKSM knobs`);
    if (text.length === 0) return;
    const bad = (): never => {
      throw new ErrnoError('EINVAL', 'write', `${path}: invalid value ${JSON.stringify(text)}`);
    };
    const ul = (max: number): number => {
      const v = kstrtoul(text);
      return v === undefined || v > max ? bad() : v;
    };
    const s = this.s;
    switch (name) {
      case 'run':
        s.set('run', ul(1));
        return;
      case 'sleep_millisecs':
        s.set('sleep_millisecs', ul(1000));
        return;
      case 'max_cpu_percentage': {
        const v = ul(100);
        s.set('max_cpu_percentage', v === 100 ? 99 : v < 10 ? 10 : v);
        return;
      }
      case 'thrash_threshold': case 'abundant_threshold':
        s.set(name, ul(99));
        return;
      case 'cpu_governor': {
        // uksm.c compares each name as a prefix of the buffer, from the last governor to the first.
        for (let i = GOVERNORS.length - 1; i >= 0; i--) {
          if (text.startsWith(GOVERNORS[i]!)) {
            s.setGovernor(GOVERNORS[i]!);
            return;
          }
        }
        return bad();
      }
      case 'cpu_ratios': {
        s.setCpuRatios(fourValues(text, bad).map((t) => {
          const max = t.startsWith('MAX/');
          const v = kstrtoul(max ? t.slice(4) : t);
          if (v === undefined || v === 0 || v > TIME_RATIO_SCALE) return bad();
          return max ? -Math.trunc(TIME_RATIO_SCALE / v) : v;
        }));
        return;
      }
      case 'eval_intervals': {
        s.setEvalIntervals(fourValues(text, bad).map((t) => {
          const v = kstrtoul(t);
          return v === undefined || v > 0x7fffffff ? bad() : v;
        }));
        return;
      }
    }
  }

  snapshot(): Record<string, string> {
    return Object.fromEntries(UKSM_FILES.map((n) => [n, this.read(UKSM_DIR + n).trimEnd()]));
  }

  /** /proc/meminfo as UKSM's kernel prints it: the host's lines (procfs.ts) with KsmZeroPages. */
  private meminfo(): string {
    const zero = this.ksm ? this.ksm.get('ksm_zero_pages') : 0;
    if (this.mem) return formatMeminfo(this.mem, { ksmZeroPages: zero });
    return `KsmZeroPages:   ${String((zero * PAGE_SIZE) / 1024).padStart(8)} kB\n`;
  }
}

/** uksm.c splits on single spaces: exactly four fields, the last may carry the newline. */
function fourValues(text: string, bad: () => never): string[] {
  const parts = text.replace(/\n$/, '').split(' ');
  if (parts.length < LADDER) return bad();
  return parts.slice(0, LADDER);
}
