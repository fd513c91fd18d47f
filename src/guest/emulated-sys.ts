// emulated-sys.ts — owns the emulator's GuestSys: syscalls on an AddressSpace, files on KsmFiles.

import { format } from 'node:util';
import { PAGE_SIZE } from '../mem/constants.ts';
import type { AddressSpace } from '../mem/address-space.ts';
import type { KsmFiles } from '../ksm/sysfs.ts';
import type { GuestSys } from './guest-sys.ts';

export class EmulatedSys implements GuestSys {
  readonly pid: number;
  readonly node: number;
  readonly pageSize = PAGE_SIZE;
  readonly backend = 'emulator' as const;
  private readonly space: AddressSpace;
  private readonly files: KsmFiles;
  private readonly root: boolean;
  private readonly logLine: (line: string) => void;

  constructor(space: AddressSpace, files: KsmFiles, root: boolean, logLine: (line: string) => void) {
    this.pid = space.pid;
    this.node = space.homeNode;
    this.space = space;
    this.files = files;
    this.root = root;
    this.logLine = logLine;
  }

  mmap(length: number, prot?: number, flags?: number): number {
    return this.space.mmap(length, prot, flags);
  }
  munmap(addr: number, length: number): void {
    this.space.munmap(addr, length);
  }
  mprotect(addr: number, length: number, prot: number): void {
    this.space.mprotect(addr, length, prot);
  }
  mbind(addr: number, length: number, node: number): void {
    this.space.mbind(addr, length, node);
  }
  madvise(addr: number, length: number, advice: number): void {
    this.space.madvise(addr, length, advice);
  }
  prctl(option: number, arg2?: number): number {
    return this.space.prctl(option, arg2);
  }
  memset(addr: number, byte: number, length: number): void {
    this.space.memset(addr, byte, length);
  }
  write(addr: number, bytes: Uint8Array): void {
    this.space.write(addr, bytes);
  }
  read(addr: number, length: number): Uint8Array {
    return this.space.read(addr, length);
  }
  readFile(path: string): string {
    return this.files.read(path, { root: this.root, guestControl: this.space.ctl, guestSpace: this.space.handles });
  }
  writeFile(path: string, text: string): void {
    this.files.writeSync(path, text, { root: this.root, guestControl: this.space.ctl, guestSpace: this.space.handles });
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
}
