// checksum.ts — owns the page checksum ksmd uses to skip volatile pages and to key its trees.
//
// The kernel uses xxhash truncated to 32 bits. Here a SIMD multiply-rotate hash (checksum.wat)
// runs in WebAssembly over the bank's own shared memory: no copy, 0.45 µs per page that is not in
// cache against 0.65–0.9 for the best plain-JS hash (an earlier measurement had found WebAssembly no
// faster only because each page was copied into the module's memory first). It is good enough,
// since every match is confirmed by a full 4 KiB compare before any merge.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from '../mem/constants.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { CHECKSUM_WASM_BASE64 } from './checksum-wasm.ts';

/** The checksum of the 4 KiB page at a byte offset of one bank. */
type BankChecksum = (byteOffset: number) => number;

let compiled: WebAssembly.Module | undefined;

function checksumModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(Buffer.from(CHECKSUM_WASM_BASE64, 'base64'));
  return compiled;
}

/** Page checksums over one PhysicalMemory: one module instance per bank, on this thread. */
export class PageChecksums {
  private readonly banks: BankChecksum[];

  constructor(memory: PhysicalMemory) {
    const mod = checksumModule();
    this.banks = memory.bankMemories.map((m) => new WebAssembly.Instance(mod, { env: { memory: m } }).exports.checksum as BankChecksum);
  }

  /** Checksum of a frame's content (a pure function of its 4096 bytes). */
  of(frame: number): number {
    return this.banks[frame >>> BANK_SHIFT]!((frame & BANK_MASK) << PAGE_SHIFT);
  }
}
