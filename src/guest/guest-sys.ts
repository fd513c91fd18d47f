// guest-sys.ts — owns the public guest program contract (docs/architecture.md): the GuestSys interface and the
// shape of a guest program module.

export interface GuestSys {
  /** Guest id, unique per host. */
  readonly pid: number;
  /** Home NUMA node (pages fault in here unless an area is bound with mbind). */
  readonly node: number;
  /** 4096. */
  readonly pageSize: number;
  /** Which backend runs this guest: 'emulator' or 'linux'. */
  readonly backend: 'emulator' | 'linux';

  mmap(length: number, prot?: number, flags?: number): number;
  munmap(addr: number, length: number): void;
  mprotect(addr: number, length: number, prot: number): void;
  mbind(addr: number, length: number, node: number): void;
  madvise(addr: number, length: number, advice: number): void;
  prctl(option: number, arg2?: number): number;

  memset(addr: number, byte: number, length: number): void;
  write(addr: number, bytes: Uint8Array): void;
  read(addr: number, length: number): Uint8Array;

  readFile(path: string): string;
  writeFile(path: string, text: string): void;

  /**
   * A high-resolution clock in milliseconds (fractional: sub-microsecond steps), as performance.now().
   * Nothing is added to it: a copy-on-write, a swap-in, a zero-page fill or a merge-time write fault
   * costs in it exactly what the emulator spent (docs/security.md#the-guest-clock).
   */
  now(): number;
  sleep(ms: number): Promise<void>;
  log(...args: unknown[]): void;
}

export type GuestMain = (sys: GuestSys, args: string[]) => number | void | Promise<number | void>;

export interface GuestProgramModule {
  default: GuestMain;
}
