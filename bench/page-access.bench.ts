// page-access.bench.ts — guest read/write throughput through the page table
// (AddressSpace.write / readInto on present, writable pages, on this thread) beside a raw copy of
// the same size into a SharedArrayBuffer, in the same run, for 4 KiB, 64 B and 8 B accesses.
//
// Each tinybench call runs many accesses (tinybench's own overhead is ~70 ns per call), walking a
// 4 MiB region page by page with the same offsets for the page-table path and the raw copies.
// Samples are this process's CPU time (harness.cpuNow): the machine is shared. Goal from the issue:
// page-sized writes at >= 50 % of the raw copy. Reported, never asserted.
//
// Run alone: node --import tsx bench/page-access.bench.ts [--quick]

import { Bench } from 'tinybench';
import { AddressSpace } from '../src/mem/address-space.ts';
import { PAGE_SIZE } from '../src/mem/constants.ts';
import { createGuestSpaceHandles } from '../src/mem/guest-control.ts';
import { PhysicalMemory } from '../src/mem/physical-memory.ts';
import { MB, cpuNow, isMain, printTable, quickMode, sig, statsOf, writeResults } from './lib/harness.ts';

export const SUITE = 'page-access';

/** The goal: a page-sized write through the page table reaches half of a raw SAB copy. */
export const GOAL_PAGE_WRITE_RATIO = 0.5;

const REGION_PAGES = 1024; // 4 MiB: bigger than L2, the same bytes for both paths
const SIZES = [
  { label: '4 KiB', bytes: PAGE_SIZE, opsPerCall: 1024 },
  { label: '64 B', bytes: 64, opsPerCall: 4096 },
  { label: '8 B', bytes: 8, opsPerCall: 8192 },
] as const;

export interface AccessRow {
  size: string;
  op: 'write' | 'read';
  'page table MB/s': number;
  'raw Buffer.copy MB/s': number;
  'raw Uint8Array.set MB/s': number;
  /** page table / the faster raw copy */
  ratio: number;
  'page table ns/op': number;
  'raw best ns/op': number;
  'rme %': number;
}

export interface PageAccessResult {
  rows: AccessRow[];
  goal: { what: string; value: number; target: number; met: boolean };
}

/** Offsets of `ops` accesses of `bytes` each: page by page through the region, moving inside the page too. */
function offsets(bytes: number, ops: number): Int32Array {
  const out = new Int32Array(ops);
  const slots = PAGE_SIZE / bytes;
  for (let i = 0; i < ops; i++) {
    const page = i % REGION_PAGES;
    const slot = (i * 7) % slots; // not the same in-page spot every time
    out[i] = page * PAGE_SIZE + slot * bytes;
  }
  return out;
}

export async function run(options: { quick?: boolean } = {}): Promise<PageAccessResult> {
  const quick = options.quick ?? quickMode();
  const memory = PhysicalMemory.create({ bytes: 64 * 2 ** 20, numaNodes: 1 });
  const space = new AddressSpace(createGuestSpaceHandles(1, 0, 1 << 16), memory);
  const region = REGION_PAGES * PAGE_SIZE;
  const base = space.mmap(region);
  space.memset(base, 0x5a, region); // every page present and writable: no faults in the timed loops

  const rawSab = new SharedArrayBuffer(region);
  const rawU8 = new Uint8Array(rawSab);
  const rawBuf = Buffer.from(rawSab);
  rawU8.fill(0x5a);

  const bench = new Bench({ name: SUITE, now: cpuNow, time: quick ? 30 : 250, warmupTime: quick ? 10 : 60 });
  let sink = 0;

  for (const size of SIZES) {
    const n = size.bytes;
    const ops = quick ? size.opsPerCall / 8 : size.opsPerCall;
    const offs = offsets(n, ops);
    // Guest data lives on the guest's own heap (not shared), as a program's buffers would.
    const src = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    const srcBuf = Buffer.from(src.buffer, src.byteOffset, n);
    const dst = new Uint8Array(n);
    const dstBuf = Buffer.from(dst.buffer, dst.byteOffset, n);

    bench.add(`${size.label} write page table`, () => {
      for (let i = 0; i < ops; i++) space.write(base + offs[i]!, src);
    });
    bench.add(`${size.label} write raw Buffer.copy`, () => {
      for (let i = 0; i < ops; i++) srcBuf.copy(rawBuf, offs[i]!);
    });
    bench.add(`${size.label} write raw Uint8Array.set`, () => {
      for (let i = 0; i < ops; i++) rawU8.set(src, offs[i]!);
    });
    bench.add(`${size.label} read page table`, () => {
      for (let i = 0; i < ops; i++) space.readInto(base + offs[i]!, dst);
      sink ^= dst[0]!;
    });
    bench.add(`${size.label} read raw Buffer.copy`, () => {
      for (let i = 0; i < ops; i++) {
        const o = offs[i]!;
        rawBuf.copy(dstBuf, 0, o, o + n);
      }
      sink ^= dst[0]!;
    });
    bench.add(`${size.label} read raw Uint8Array.set`, () => {
      for (let i = 0; i < ops; i++) {
        const o = offs[i]!;
        dst.set(rawU8.subarray(o, o + n));
      }
      sink ^= dst[0]!;
    });
  }

  await bench.run();
  if (sink === 0x1234_5678) console.log('');

  const rows: AccessRow[] = [];
  for (const size of SIZES) {
    const ops = quick ? size.opsPerCall / 8 : size.opsPerCall;
    const bytesPerCall = ops * size.bytes;
    for (const op of ['write', 'read'] as const) {
      const pt = statsOf(bench, `${size.label} ${op} page table`);
      const copy = statsOf(bench, `${size.label} ${op} raw Buffer.copy`);
      const set = statsOf(bench, `${size.label} ${op} raw Uint8Array.set`);
      const mbps = (ms: number) => bytesPerCall / (ms / 1000) / MB;
      const bestRawMs = Math.min(copy.meanMs, set.meanMs);
      rows.push({
        size: size.label,
        op,
        'page table MB/s': sig(mbps(pt.meanMs)),
        'raw Buffer.copy MB/s': sig(mbps(copy.meanMs)),
        'raw Uint8Array.set MB/s': sig(mbps(set.meanMs)),
        ratio: sig(bestRawMs / pt.meanMs, 3),
        'page table ns/op': sig((pt.meanMs * 1e6) / ops, 3),
        'raw best ns/op': sig((bestRawMs * 1e6) / ops, 3),
        'rme %': sig(Math.max(pt.rmePct, copy.rmePct, set.rmePct), 2),
      });
    }
  }
  const pageWrite = rows.find((r) => r.size === '4 KiB' && r.op === 'write')!;
  const goal = {
    what: '4 KiB write through the page table >= 50 % of the faster raw SAB copy',
    value: pageWrite.ratio,
    target: GOAL_PAGE_WRITE_RATIO,
    met: pageWrite.ratio >= GOAL_PAGE_WRITE_RATIO,
  };
  printTable('page access: guest access through the page table vs a raw SharedArrayBuffer copy (same run)', rows);
  console.log(`goal: ${goal.what}: ratio ${goal.value} → ${goal.met ? 'MET' : 'NOT MET'}`);
  const path = writeResults(SUITE, { quick, clock: 'process CPU time', regionBytes: region, rows, goal, tinybench: bench.table() });
  console.log(`wrote ${path}`);
  return { rows, goal };
}

if (isMain(import.meta.url)) await run();
