// proc-memory.ts — owns reading what the real kernel says about a process's memory and about ksmd:
// Rss/Pss/Anonymous/KSM of the VMAs inside given address ranges (/proc/PID/smaps), the whole
// process (/proc/PID/smaps_rollup), ksmd's pid (/proc/*/comm) and its CPU time
// (/proc/PID/schedstat, else the ticks of /proc/PID/stat), and the machine's MemAvailable.

import { readFileSync, readdirSync } from 'node:fs';

/** Bytes of one process's VMAs (or a sum of them), as smaps reports them. */
export interface VmaBytes {
  rss: number;
  pss: number;
  anonymous: number;
  /** smaps `KSM:` (Linux ≥ 6.x): bytes of KSM pages mapped here. 0 where the field is missing. */
  ksm: number;
}

export function emptyVmaBytes(): VmaBytes {
  return { rss: 0, pss: 0, anonymous: 0, ksm: 0 };
}

export function addVmaBytes(into: VmaBytes, x: VmaBytes): void {
  into.rss += x.rss;
  into.pss += x.pss;
  into.anonymous += x.anonymous;
  into.ksm += x.ksm;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) /gm;
const FIELD = /^(Rss|Pss|Anonymous|KSM):\s+(\d+) kB$/gm;

/**
 * Sum the smaps fields of the VMAs of `smaps` (the text of /proc/PID/smaps) that overlap one of
 * `ranges` ([start, end) bytes). The guest's mappings are split into VMAs by madvise but never
 * merged with the runtime's (the guest's VMAs carry VM_NOHUGEPAGE, the runtime's neighbours do
 * not), so an overlapping VMA is wholly the guest's. Only the guest's VMAs are parsed field by
 * field: a sampler reads this for every guest several times a second.
 */
export function sumSmapsInRanges(smaps: string, ranges: ReadonlyArray<readonly [number, number]>): VmaBytes {
  const out = emptyVmaBytes();
  const heads: Array<{ at: number; start: number; end: number }> = [];
  HEADER.lastIndex = 0;
  for (let h = HEADER.exec(smaps); h; h = HEADER.exec(smaps)) {
    heads.push({ at: h.index, start: Number.parseInt(h[1]!, 16), end: Number.parseInt(h[2]!, 16) });
  }
  heads.forEach((h, i) => {
    if (!ranges.some(([s, e]) => h.start < e && h.end > s)) return;
    const body = smaps.slice(h.at, i + 1 < heads.length ? heads[i + 1]!.at : smaps.length);
    FIELD.lastIndex = 0;
    for (let f = FIELD.exec(body); f; f = FIELD.exec(body)) {
      const bytes = Number(f[2]) * 1024;
      if (f[1] === 'Rss') out.rss += bytes;
      else if (f[1] === 'Pss') out.pss += bytes;
      else if (f[1] === 'Anonymous') out.anonymous += bytes;
      else out.ksm += bytes;
    }
  });
  return out;
}

/** The guest's own VMAs of process `pid`; zeros when the process is gone. */
export function readGuestVmaBytes(pid: number, ranges: ReadonlyArray<readonly [number, number]>): VmaBytes {
  const text = readOrEmpty(`/proc/${pid}/smaps`);
  return text ? sumSmapsInRanges(text, ranges) : emptyVmaBytes();
}

/** Rss of the whole process (runtime included) from smaps_rollup; 0 when it is gone. */
export function readProcessRss(pid: number): number {
  const m = /^Rss:\s+(\d+) kB$/m.exec(readOrEmpty(`/proc/${pid}/smaps_rollup`));
  return m ? Number(m[1]) * 1024 : 0;
}

/** /proc/PID/ksm_stat as numbers (empty when the process is gone). */
export function readKsmStatOf(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readOrEmpty(`/proc/${pid}/ksm_stat`).split('\n')) {
    const m = /^(\w+)\s+(-?\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The pid of the kernel thread named ksmd (a child of kthreadd), or null. */
export function findKsmdPid(): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (readOrEmpty(`/proc/${name}/comm`).trim() !== 'ksmd') continue;
    // A user process can name itself ksmd too: the kernel thread's parent is kthreadd (pid 2).
    const stat = readOrEmpty(`/proc/${name}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === 2) return Number(name);
  }
  return null;
}

export interface ThreadCpu {
  readonly ms: number;
  /** 'schedstat' (ns resolution) or 'stat' (clock ticks, 10 ms). */
  readonly clock: 'schedstat' | 'stat';
}

/** CPU time a thread has used so far; null when it cannot be read. */
export function readThreadCpu(pid: number): ThreadCpu | null {
  const sched = readOrEmpty(`/proc/${pid}/schedstat`).trim().split(/\s+/);
  if (sched.length >= 1 && /^\d+$/.test(sched[0] ?? '')) return { ms: Number(sched[0]) / 1e6, clock: 'schedstat' };
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after "(comm) ": state is field 3, utime 14 and stime 15 (1-based).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  // USER_HZ is 100 on every Linux architecture Node runs on.
  return Number.isFinite(ticks) ? { ms: ticks * 10, clock: 'stat' } : null;
}

/** MemAvailable of /proc/meminfo in bytes (what can be allocated without swapping); null if unknown. */
export function readMemAvailable(): number | null {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readOrEmpty('/proc/meminfo'));
  return m ? Number(m[1]) * 1024 : null;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
