// linux-sys.ts — owns the linux backend's GuestSys: a guest's memory calls go to the real kernel
// through the addon, its reads and writes through the mapping's external ArrayBuffer, and its file
// calls to the real sysfs/procfs files.
//
// The guest shares its process with the Node runtime, so no call may touch memory the guest did not
// map: a range that holds a runtime mapping is handled piece by piece over the guest's own mappings
// (the runtime's memory looks like a hole, as it would in a process of its own).

import { format } from 'node:util';
import { ErrnoError } from '../../mem/errno.ts';
import {
  MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE,
  PR_GET_MEMORY_MERGE, PR_SET_MEMORY_MERGE, PROT_MASK, PROT_READ, PROT_WRITE,
} from '../../mem/constants.ts';
import { KSM_DIR } from '../../ksm/sysfs.ts';
import type { GuestSys } from '../../guest/guest-sys.ts';
import { sysCall, type LinuxAddon } from './addon.ts';
import { MappingTable, pageAlignUp, type ByteRun } from './mapping-table.ts';
import { readRealFile, writeRealFile } from './real-files.ts';

const MMAP_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE;
/** Advice that would damage real memory beyond the guest (MADV_HWPOISON, MADV_SOFT_OFFLINE). */
const REFUSED_ADVICE = new Set([100, 101]);
/** The files a guest may see: the KSM and THP knobs, its own /proc entries, and the host-wide memory counters. */
const VISIBLE_FILES = [KSM_DIR, '/sys/kernel/mm/transparent_hugepage/', '/proc/self/', '/proc/vmstat', '/proc/meminfo'];

export interface LinuxSysOptions {
  readonly addon: LinuxAddon;
  /** May write sysfs knobs; otherwise writes fail with EACCES, as for a non-root process. */
  readonly root: boolean;
  /** Reported as `node` (default 0). */
  readonly node?: number;
  readonly logLine: (line: string) => void;
  /** Called with the guest's mappings ([start, end) bytes) after each mmap and munmap. */
  readonly onMaps?: (ranges: Array<[number, number]>) => void;
}

export class LinuxSys implements GuestSys {
  readonly pid = process.pid;
  readonly node: number;
  readonly pageSize = PAGE_SIZE;
  readonly backend = 'linux' as const;
  private readonly addon: LinuxAddon;
  private readonly root: boolean;
  private readonly logLine: (line: string) => void;
  private readonly onMaps: ((ranges: Array<[number, number]>) => void) | undefined;
  private readonly maps = new MappingTable();

  constructor(options: LinuxSysOptions) {
    this.addon = options.addon;
    this.root = options.root;
    this.node = options.node ?? 0;
    this.logLine = options.logLine;
    this.onMaps = options.onMaps;
  }

  // ───────────── memory calls ─────────────

  mmap(length: number, prot: number = PROT_READ | PROT_WRITE, flags: number = MAP_PRIVATE | MAP_ANONYMOUS): number {
    checkInt('mmap', length, prot, flags);
    if (prot & ~PROT_MASK) throw new ErrnoError('EINVAL', 'mmap', `prot 0x${prot.toString(16)}`);
    if (flags & ~MMAP_FLAGS) throw new ErrnoError('EINVAL', 'mmap', `unsupported flags 0x${flags.toString(16)} (MAP_FIXED is refused)`);
    if (!(flags & MAP_ANONYMOUS)) throw new ErrnoError('EBADF', 'mmap', 'file mappings need a file descriptor; use MAP_ANONYMOUS');
    // A length of 0 or less reaches the kernel as it is (EINVAL, or ENOMEM as a huge size_t).
    const bytes = length > 0 ? pageAlignUp(length) : length;
    const m = sysCall('mmap', undefined, () => this.addon.mmap(bytes, prot, flags));
    try {
      // Keep counts per 4 KiB page: a THP would merge (and count) differently.
      sysCall('madvise', 'MADV_NOHUGEPAGE on a new mapping', () => this.addon.madvise(m.address, bytes, MADV_NOHUGEPAGE));
    } catch (e) {
      this.addon.munmap(m.address, bytes);
      throw e;
    }
    this.maps.add(m.address, bytes, prot, (flags & MAP_SHARED) !== 0, m.buffer);
    this.reportMaps();
    return m.address;
  }

  munmap(addr: number, length: number): void {
    checkInt('munmap', addr, length);
    const range = this.pageRange(addr, length);
    if (!range || this.kernelSeesOnlyOurs(range)) {
      sysCall('munmap', undefined, () => this.addon.munmap(addr, length));
    } else {
      // Unmapping a hole is no error, so only our own pieces go to the kernel.
      for (const [s, e] of this.maps.overlapping(range[0], range[1])) sysCall('munmap', undefined, () => this.addon.munmap(s, e - s));
    }
    if (range) for (const b of this.maps.remove(range[0], range[1])) this.addon.detach(b.bytes.buffer as ArrayBuffer);
    this.reportMaps();
  }

  mprotect(addr: number, length: number, prot: number): void {
    checkInt('mprotect', addr, length, prot);
    if (prot & ~PROT_MASK) throw new ErrnoError('EINVAL', 'mprotect', `prot 0x${prot.toString(16)}`);
    const range = this.pageRange(addr, length);
    if (!range) return sysCall('mprotect', undefined, () => this.addon.mprotect(addr, length, prot));
    const [start, end] = range;
    // Like mprotect_fixup, the kernel applies area by area and stops with ENOMEM at the first hole.
    const run = this.maps.contiguousFrom(start, end);
    const runEnd = run.length ? run[run.length - 1].end : start;
    const update = (): void => {
      for (const m of this.maps.split(start, Math.min(end, runEnd))) m.prot = prot;
    };
    try {
      if (this.kernelSeesOnlyOurs(range)) {
        sysCall('mprotect', undefined, () => this.addon.mprotect(addr, length, prot));
      } else {
        if (run.length) sysCall('mprotect', undefined, () => this.addon.mprotect(start, Math.min(end, runEnd) - start, prot));
        if (runEnd < end) throw new ErrnoError('ENOMEM', 'mprotect', 'range has unmapped pages');
      }
    } catch (e) {
      if (e instanceof ErrnoError && e.code === 'ENOMEM') update();
      throw e;
    }
    update();
  }

  mbind(addr: number, length: number, node: number): void {
    checkInt('mbind', addr, length, node);
    const range = this.pageRange(addr, length);
    if (range && !this.kernelSeesOnlyOurs(range)) throw new ErrnoError('EFAULT', 'mbind', 'range has unmapped pages');
    sysCall('mbind', undefined, () => this.addon.mbind(addr, length, node));
  }

  madvise(addr: number, length: number, advice: number): void {
    checkInt('madvise', addr, length, advice);
    if (REFUSED_ADVICE.has(advice)) throw new ErrnoError('EINVAL', 'madvise', `advice ${advice} is refused: it would damage real memory`);
    const range = this.pageRange(addr, length);
    if (!range || this.kernelSeesOnlyOurs(range)) {
      sysCall('madvise', undefined, () => this.addon.madvise(addr, length, advice));
      return;
    }
    // madvise_walk_vmas: every mapped part is advised, a hole is reported as ENOMEM at the end.
    for (const [s, e] of this.maps.overlapping(range[0], range[1])) sysCall('madvise', undefined, () => this.addon.madvise(s, e - s, advice));
    throw new ErrnoError('ENOMEM', 'madvise', 'range has unmapped pages');
  }

  prctl(option: number, arg2: number = 0): number {
    checkInt('prctl', option, arg2);
    // Only the KSM options reach the kernel: the others would change the runtime's own process.
    if (option !== PR_SET_MEMORY_MERGE && option !== PR_GET_MEMORY_MERGE) throw new ErrnoError('EINVAL', 'prctl', `option ${option}`);
    return sysCall('prctl', undefined, () => this.addon.prctl(option, arg2));
  }

  // ───────────── data access ─────────────

  memset(addr: number, byte: number, length: number): void {
    for (const r of this.reach('memset', addr, length, true)) r.bytes.fill(byte & 0xff, r.offset, r.offset + r.length);
  }

  write(addr: number, bytes: Uint8Array): void {
    let from = 0;
    for (const r of this.reach('write', addr, bytes.length, true)) {
      r.bytes.set(bytes.subarray(from, from + r.length), r.offset);
      from += r.length;
    }
  }

  read(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length > 0 ? length : 0);
    let to = 0;
    for (const r of this.reach('read', addr, length, false)) {
      out.set(r.bytes.subarray(r.offset, r.offset + r.length), to);
      to += r.length;
    }
    return out;
  }

  // ───────────── files ─────────────

  readFile(path: string): string {
    this.checkVisible(path);
    return readRealFile(path);
  }

  writeFile(path: string, text: string): void {
    this.checkVisible(path);
    if (!this.root) throw new ErrnoError('EACCES', 'open', `${path}: the guest was not launched as root`);
    writeRealFile(path, text);
  }

  now(): number {
    return performance.now();
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }

  log(...args: unknown[]): void {
    this.logLine(format(...args));
  }

  // ───────────── helpers ─────────────

  private reportMaps(): void {
    this.onMaps?.(this.maps.all.map((m) => [m.start, m.end]));
  }

  /** [start, end) in bytes for a well-formed range; undefined when the kernel rejects it untouched. */
  private pageRange(addr: number, length: number): [number, number] | undefined {
    if (addr < 0 || addr % PAGE_SIZE !== 0 || length <= 0) return undefined;
    return [addr, addr + pageAlignUp(length)];
  }

  /** True when the whole range may go to the kernel: nothing in it belongs to the runtime. */
  private kernelSeesOnlyOurs([start, end]: [number, number]): boolean {
    return this.maps.covers(start, end) || !this.maps.hasForeignIn(start, end);
  }

  private reach(syscall: string, addr: number, length: number, forWrite: boolean): ByteRun[] {
    checkInt(syscall, addr, length);
    if (length < 0) throw new ErrnoError('EINVAL', syscall, `length ${length}`);
    if (length === 0) return [];
    const runs = this.maps.access(addr, length, forWrite);
    if (!runs) {
      const why = forWrite ? 'is not mapped writable by this guest' : 'is not mapped readable by this guest';
      throw new ErrnoError('EFAULT', syscall, `0x${addr.toString(16)} (+${length}) ${why}`);
    }
    return runs;
  }

  private checkVisible(path: string): void {
    if (!VISIBLE_FILES.some((dir) => path.startsWith(dir)) || path.includes('/../')) throw new ErrnoError('ENOENT', 'open', path);
  }
}

function checkInt(syscall: string, ...values: number[]): void {
  for (const v of values) if (!Number.isSafeInteger(v)) throw new ErrnoError('EINVAL', syscall, `${String(v)} is not an integer`);
}
