// fuzz-guest-surface.test.ts — the guest surface under arbitrary arguments (fast-check, fixed seed,
// bounded runs): every GuestSys call, interleaved with ksmd's scan batches, either succeeds or throws
// an ErrnoError (the kernel's errno), never another exception; afterwards the page table and the
// frames recount without a problem, ksmd's counters equal the recount after quiet scans, and tearing
// the guest down gives back every frame. Every sysfs/procfs write does the same, keeps every knob
// readable and in its range, and changes nothing when the writer is not root.
// Shrunk counterexamples that once failed are kept as regression tests at the end of the suite.
import { expect } from 'chai';
import fc from 'fast-check';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { MMAP_MIN_ADDR } from '../../src/mem/constants.ts';
import { ErrnoError, OutOfMemoryKill } from '../../src/mem/errno.ts';
import { createGuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { KsmEngine } from '../../src/ksm/ksm-engine.ts';
import { KNOBS, KsmState } from '../../src/ksm/ksm-state.ts';
import { mitigationSlot, type Mitigation } from '../../src/ksm/merge-policy.ts';
import { KSM_DIR, KsmFiles, PROC_KSM_MERGING_PAGES, PROC_KSM_STAT, THP_ENABLED_PATH } from '../../src/ksm/sysfs.ts';
import { EmulatedSys } from '../../src/guest/emulated-sys.ts';
import type { GuestSys } from '../../src/guest/guest-sys.ts';
import { sealGuestSys } from '../../src/guest/sealed-sys.ts';
import { recountDifferences, recountSpaces } from '../../src/stress/recount.ts';

const SEED = 17;
const P = 4096;

/** A guest, ksmd's engine and the files, all on this thread: deterministic, no workers. */
function machine(mitigation: Mitigation = 'none') {
  const mem = PhysicalMemory.create({ bytes: 2 * 2 ** 20, numaNodes: 1 });
  const state = KsmState.create();
  state.set('mitigation', mitigationSlot(mitigation));
  const files = new KsmFiles(state);
  const handles = createGuestSpaceHandles(1, 0, 1024);
  const hooks = { addKsmZeroPages: (d: number) => state.add('ksm_zero_pages', d), copyOnKsmdWriteProtect: mitigation === 'vusion' };
  const space = new AddressSpace(handles, mem, hooks);
  const engine = new KsmEngine(mem, state);
  engine.addGuest(handles);
  const sys = sealGuestSys(new EmulatedSys(space, files, false, () => {}));
  return { mem, state, files, handles, hooks, engine, sys, freeAtStart: mem.freeFrames(0) };
}

/** Numbers a fuzzer should try: mostly near the guest's mappings and at page edges, and anything at all. */
const anyNumber = fc.oneof(
  { arbitrary: fc.integer({ min: -2, max: 40 }).map((p) => MMAP_MIN_ADDR + p * P), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 40 * P }).map((b) => MMAP_MIN_ADDR + b), weight: 2 },
  { arbitrary: fc.integer({ min: -1, max: 12 }).map((p) => p * P), weight: 3 },
  fc.constantFrom(0, 1, -1, 4095, 4097, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 0.5, NaN, Infinity, -Infinity),
  fc.integer(),
  fc.double(),
);
const anyInt = fc.oneof(fc.integer({ min: -2, max: 80 }), fc.integer(), fc.constantFrom(NaN, 1.5, 2 ** 53));
/** Valid more often than not, so calls get past the argument checks into the page tables. */
const prot = fc.oneof({ arbitrary: fc.constantFrom(3, 3, 1, 0, 2), weight: 5 }, { arbitrary: anyInt, weight: 1 });
const mapFlags = fc.oneof({ arbitrary: fc.constantFrom(0x22, 0x22, 0x21, 0x8022, 0x4022), weight: 5 }, { arbitrary: anyInt, weight: 1 });
const advice = fc.oneof({ arbitrary: fc.constantFrom(12, 12, 12, 13, 4, 14, 15, 0), weight: 5 }, { arbitrary: anyInt, weight: 1 });
const pages = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 24 }).map((n) => n * P), weight: 5 }, { arbitrary: anyNumber, weight: 1 });

type Call = { name: string; run: (sys: GuestSys, engine: KsmEngine) => unknown };

const call: fc.Arbitrary<Call> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(pages, fc.option(prot, { nil: undefined }), fc.option(mapFlags, { nil: undefined }))
    .map(([l, p, f]) => ({ name: `mmap(${l}, ${p}, ${f})`, run: (s: GuestSys) => s.mmap(l, p, f) })) },
  { weight: 1, arbitrary: fc.tuple(anyNumber, pages).map(([a, l]) => ({ name: `munmap(${a}, ${l})`, run: (s: GuestSys) => s.munmap(a, l) })) },
  { weight: 1, arbitrary: fc.tuple(anyNumber, pages, prot).map(([a, l, p]) => ({ name: `mprotect(${a}, ${l}, ${p})`, run: (s: GuestSys) => s.mprotect(a, l, p) })) },
  { weight: 1, arbitrary: fc.tuple(anyNumber, pages, fc.oneof(fc.constant(0), anyInt)).map(([a, l, n]) => ({ name: `mbind(${a}, ${l}, ${n})`, run: (s: GuestSys) => s.mbind(a, l, n) })) },
  { weight: 3, arbitrary: fc.tuple(anyNumber, pages, advice).map(([a, l, v]) => ({ name: `madvise(${a}, ${l}, ${v})`, run: (s: GuestSys) => s.madvise(a, l, v) })) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(67, 68), anyInt), fc.option(fc.oneof(fc.constantFrom(0, 1), anyInt), { nil: undefined }))
    .map(([o, a]) => ({ name: `prctl(${o}, ${a})`, run: (s: GuestSys) => s.prctl(o, a) })) },
  // Whole pages of one byte make equal pages for ksmd to merge.
  { weight: 4, arbitrary: fc.tuple(anyNumber, fc.oneof(fc.constantFrom(0, 1, 0xff), anyInt), fc.oneof(pages, fc.integer({ min: 0, max: 3 * P })))
    .map(([a, b, l]) => ({ name: `memset(${a}, ${b}, ${l})`, run: (s: GuestSys) => s.memset(a, b, l) })) },
  { weight: 2, arbitrary: fc.tuple(anyNumber, fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 3 * P }).map((n) => new Uint8Array(n).fill(7))))
    .map(([a, b]) => ({ name: `write(${a}, ${b.length} bytes)`, run: (s: GuestSys) => s.write(a, b) })) },
  { weight: 2, arbitrary: fc.tuple(anyNumber, fc.oneof(pages, fc.integer({ min: 0, max: 3 * P })))
    .map(([a, l]) => ({ name: `read(${a}, ${l})`, run: (s: GuestSys) => s.read(a, l) })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => ({ name: `ksmd scans ${n}`, run: (_s: GuestSys, e: KsmEngine) => e.scanBatch(n) })) },
);

/** Every sequence starts from 16 mergeable pages at MMAP_MIN_ADDR, where most addresses above fall. */
const PRELUDE: readonly Call[] = [
  { name: 'mmap(65536)', run: (s) => s.mmap(16 * P) },
  { name: 'madvise(0x10000, 65536, MADV_MERGEABLE)', run: (s) => s.madvise(MMAP_MIN_ADDR, 16 * P, 12) },
];
const calls = fc.array(call, { maxLength: 40 }).map((cs) => [...PRELUDE, ...cs]);

/** Run one call: true to go on, false once the guest was OOM-killed (as the kernel would kill it). */
function attempt(c: Call, sys: GuestSys, engine: KsmEngine): boolean {
  try {
    c.run(sys, engine);
  } catch (e) {
    if (e instanceof OutOfMemoryKill) return false;
    if (!(e instanceof ErrnoError)) throw new Error(`${c.name} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  return true;
}

/** Run a call sequence and check the machine afterwards; returns the problems found. */
function runAndCheck(calls: readonly Call[], mitigation: Mitigation): string[] {
  const m = machine(mitigation);
  m.state.set('pages_to_scan', 1000);
  for (const c of calls) if (!attempt(c, m.sys, m.engine)) break;
  const problems: string[] = [];
  // Quiet scans (nothing writes any more), then ksmd's counters must equal a recount from scratch.
  // A batch ends at the end of a pass (the guest has fewer pages than the batch): three quiet passes.
  for (let i = 0; i < 3; i++) m.engine.scanBatch(1e6);
  const r = recountSpaces(m.mem, true, m.state.get('max_page_sharing'), [m.handles], true);
  problems.push(...recountDifferences(m.files.counters(), r));
  // Tear the guest down as the host does: every frame comes back.
  AddressSpace.reclaim(m.handles, m.mem, m.hooks);
  m.engine.guestExited(1);
  m.engine.scanBatch(1e6);
  m.engine.processDeferred();
  if (m.mem.freeFrames(0) !== m.freeAtStart) problems.push(`${m.freeAtStart - m.mem.freeFrames(0)} frames not given back after teardown`);
  return problems;
}

const KNOB_PATHS = [...KNOBS.map((k) => KSM_DIR + k), KSM_DIR + 'pages_shared', KSM_DIR + 'full_scans', KSM_DIR + 'general_profit', KSM_DIR + 'nope',
  PROC_KSM_STAT, PROC_KSM_MERGING_PAGES, THP_ENABLED_PATH, '/sys/kernel/mm/ksm', '/etc/passwd', ''];
const knobText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -3, max: 300 }).map(String),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.tuple(fc.constantFrom('', '+', '-', ' ', '0x'), fc.nat(), fc.constantFrom('', '\n', '\n\n', ' ', 'k')).map(([a, n, b]) => `${a}${n}${b}`),
  fc.constantFrom('', '\n', 'y', 'n', 'on', 'off', 'always', 'madvise', 'never', '[never]', 'scan-time', 'none', '4294967296', '18446744073709551616'),
);

function readAll(files: KsmFiles): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of KNOBS) out.set(k, files.read(KSM_DIR + k, { root: true }));
  out.set('thp', files.read(THP_ENABLED_PATH, { root: true }));
  return out;
}

describe('fuzzing the guest surface (fast-check, seed 17)', function () {
  this.timeout(120_000);

  for (const mitigation of ['none', 'vusion', 'zero-only'] as const) {
    it(`every GuestSys call with arbitrary arguments succeeds or throws an errno; the machine recounts clean and gives every frame back (mitigation ${mitigation})`, () => {
      fc.assert(
        fc.property(calls, (seq) => {
          const problems = runAndCheck(seq, mitigation);
          expect(problems, seq.map((c) => c.name).join('; ')).to.deep.equal([]);
        }),
        { seed: SEED, numRuns: 200, endOnFailure: true },
      );
    });
  }

  it('every sysfs/procfs write with arbitrary text succeeds or throws an errno, and every knob stays readable and in range', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...KNOB_PATHS), knobText, fc.boolean()), { maxLength: 20 }), (writes) => {
        const { files } = machine();
        for (const [path, text, root] of writes) {
          const before = readAll(files);
          try {
            files.writeSync(path, text, { root });
          } catch (e) {
            if (!(e instanceof ErrnoError)) throw new Error(`write ${JSON.stringify(text)} to ${path} threw ${(e as Error)?.message}`);
          }
          const after = readAll(files);
          if (!root) expect([...after], `a non-root write to ${path} changed a knob`).to.deep.equal([...before]);
          for (const [k, v] of after) {
            if (k === 'thp') expect(v).to.match(/^(\[always\] madvise never|always \[madvise\] never|always madvise \[never\])\n$/);
            else if (k === 'advisor_mode') expect(v).to.match(/^(\[none\] scan-time|none \[scan-time\])\n$/);
            else expect(v, k).to.match(/^\d+\n$/);
          }
          expect(Number(after.get('run'))).to.be.at.most(2);
          expect(Number(after.get('max_page_sharing'))).to.be.at.least(2);
          for (const flag of ['merge_across_nodes', 'use_zero_pages', 'smart_scan']) expect(Number(after.get(flag)), flag).to.be.at.most(1);
        }
      }),
      { seed: SEED, numRuns: 200, endOnFailure: true },
    );
  });

  // Counterexamples the fuzzer finds go here, each as its own `it`, as they shrank. The seeded runs
  // have found none in the product code so far; the one failure they found was in this file's own
  // harness (it waited for scanBatch to return 0, which it never does while mergeable pages exist).
});
