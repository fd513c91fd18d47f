// checksum.test.ts — the page checksum (src/ksm/checksum.wat, run as WebAssembly over the banks):
// a pure function of the page's 4096 bytes that any one-bit change alters, and that the committed
// module is what the source compiles to.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { compileChecksumWat, moduleSource } from '../../scripts/build-checksum-wasm.ts';
import { BANK_FRAMES, PAGE_SIZE, ZERO_FRAME } from '../../src/mem/constants.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PageChecksums } from '../../src/ksm/checksum.ts';
import { CHECKSUM_WASM_BASE64 } from '../../src/ksm/checksum-wasm.ts';
import { Prng } from '../../src/platform/prng.ts';

const MiB = 2 ** 20;

function fill(memory: PhysicalMemory, frame: number, seed: number): void {
  const prng = new Prng(seed);
  const bytes = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i++) bytes[i] = prng.below(256);
  write(memory, frame, bytes);
}

function write(memory: PhysicalMemory, frame: number, bytes: Uint8Array): void {
  const off = (frame % BANK_FRAMES) * PAGE_SIZE;
  memory.bankU8[Math.floor(frame / BANK_FRAMES)]!.set(bytes, off);
}

describe('page checksum', () => {
  let memory: PhysicalMemory;
  let checksums: PageChecksums;
  before(() => {
    memory = PhysicalMemory.create({ bytes: 16 * MiB, numaNodes: 1 });
    checksums = new PageChecksums(memory);
  });

  it('the committed module is what checksum.wat compiles to (npm run build:wasm)', async () => {
    const committed = readFileSync(fileURLToPath(new URL('../../src/ksm/checksum-wasm.ts', import.meta.url)), 'utf8');
    const bytes = await compileChecksumWat();
    expect(Buffer.from(CHECKSUM_WASM_BASE64, 'base64').equals(Buffer.from(bytes))).to.equal(true);
    expect(committed).to.equal(moduleSource(bytes));
  });

  it('equal content gives an equal checksum in any frame', () => {
    fill(memory, 10, 7);
    memory.copyFrame(10, 300);
    expect(checksums.of(300)).to.equal(checksums.of(10));
  });

  it('equal content gives an equal checksum in any bank', () => {
    const big = PhysicalMemory.create({ bytes: 1024 * MiB + 4 * MiB, numaNodes: 1 });
    expect(big.bankMemories.length).to.equal(2);
    const ck = new PageChecksums(big);
    const far = BANK_FRAMES + 5;
    fill(big, 3, 11);
    big.copyFrame(3, far);
    expect(ck.of(far)).to.equal(ck.of(3));
  });

  it('an all-zero frame has the zero page\'s checksum', () => {
    memory.zeroFrame(40);
    expect(checksums.of(40)).to.equal(checksums.of(ZERO_FRAME));
  });

  it('changing any one bit of a page changes its checksum', () => {
    fill(memory, 20, 3);
    const base = checksums.of(20);
    const u8 = memory.bankU8[0]!;
    const off = 20 * PAGE_SIZE;
    let unchanged = 0;
    for (let byte = 0; byte < PAGE_SIZE; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        u8[off + byte]! ^= 1 << bit;
        if (checksums.of(20) === base) unchanged++;
        u8[off + byte]! ^= 1 << bit;
      }
    }
    expect(unchanged).to.equal(0);
    expect(checksums.of(20)).to.equal(base);
  });

  it('the checksum reads its own page only: neighbours may change freely', () => {
    fill(memory, 51, 5);
    const before = checksums.of(51);
    fill(memory, 50, 99);
    fill(memory, 52, 98);
    expect(checksums.of(51)).to.equal(before);
  });

  it('2000 distinct random pages get 2000 distinct checksums', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      fill(memory, 1000 + i, 0x1000 + i);
      seen.add(checksums.of(1000 + i));
    }
    expect(seen.size).to.equal(2000);
  });

  it('pages that differ only by swapping two words get different checksums', () => {
    fill(memory, 60, 21);
    const words = memory.bankI32[0]!;
    const w = 60 * (PAGE_SIZE / 4);
    const base = checksums.of(60);
    let same = 0;
    for (const [i, j] of [[0, 1], [0, 4], [3, 700], [255, 256], [512, 1023], [100, 900]] as const) {
      [words[w + i], words[w + j]] = [words[w + j]!, words[w + i]!];
      if (words[w + i] !== words[w + j] && checksums.of(60) === base) same++;
      [words[w + i], words[w + j]] = [words[w + j]!, words[w + i]!];
    }
    expect(same).to.equal(0);
  });
});
