// thread-cpu.ts — owns reading the CPU time of the calling thread (ksmd's "CPU"), from Linux's
// /proc/thread-self: the time the scheduler actually ran the thread, not the wall time around its work.
//
// Why not something simpler: process.cpuUsage() is the whole process (every guest thread with it);
// process.threadCpuUsage() only exists from Node 23.9 (this project runs on Node 20); wall time around
// a scan batch counts the time the thread was descheduled — on a machine with more runnable threads
// than cores that was most of it (a worker measured here ran 1.9 s of CPU in 5.4 s of wall time).
//
// Sources, best first:
//  - /proc/thread-self/schedstat: first field = sum_exec_runtime in nanoseconds (CONFIG_SCHED_INFO).
//  - /proc/thread-self/stat: utime + stime (fields 14 and 15) in USER_HZ ticks (100 per second on
//    every Linux architecture Node supports), so 10 ms resolution.
// Both lag the truth by at most one scheduler tick for a running thread (the kernel folds the current
// slice into sum_exec_runtime at ticks and context switches): a reading never exceeds the true CPU time.
//
// /proc/thread-self resolves to the thread that OPENS it, so the reader must be created on the thread
// it measures (ksmd creates its own). The fd stays open and is read with pread at offset 0, which makes
// the kernel regenerate the text: one ~7 µs syscall a reading, no allocation beyond the decode.

import { closeSync, openSync, readSync } from 'node:fs';

export type ThreadCpuClock = 'schedstat' | 'stat';

const USER_HZ = 100;

/** sum_exec_runtime (the first field of /proc/<pid>/task/<tid>/schedstat, in ns) as ms. */
export function parseSchedstatMs(text: string): number {
  return Number(text.slice(0, text.indexOf(' '))) / 1e6;
}

/** utime + stime of a /proc/<pid>/task/<tid>/stat line, as ms. */
export function parseStatCpuMs(text: string): number {
  // The command name (field 2) may hold spaces and parentheses: the fields resume after the LAST ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so utime (field 14) is rest[11] and stime (field 15) rest[12].
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / USER_HZ;
}

export class ThreadCpuReader {
  /** Where the figure comes from, or null where neither file exists (not Linux): ms() is then null. */
  readonly clock: ThreadCpuClock | null;
  private readonly fd: number;
  private readonly buf = Buffer.alloc(1024);
  private open: boolean;

  /** Opens /proc/thread-self/… of the CALLING thread. */
  constructor() {
    let fd = -1;
    let clock: ThreadCpuClock | null = null;
    for (const c of ['schedstat', 'stat'] as const) {
      try {
        fd = openSync(`/proc/thread-self/${c}`, 'r');
        clock = c;
        break;
      } catch {
        // try the next source
      }
    }
    this.fd = fd;
    this.clock = clock;
    this.open = clock !== null;
  }

  /** CPU time the opening thread has run so far, in milliseconds (null: no source, or closed). */
  ms(): number | null {
    if (!this.open) return null;
    const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    const text = this.buf.toString('latin1', 0, n);
    return this.clock === 'schedstat' ? parseSchedstatMs(text) : parseStatCpuMs(text);
  }

  /** Close the fd (a worker's fds belong to the process and outlive the thread). Idempotent. */
  close(): void {
    if (this.open) closeSync(this.fd);
    this.open = false;
  }
}
