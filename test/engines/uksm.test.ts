// uksm.test.ts — UKSM as its patch describes it: /sys/kernel/mm/uksm (and no /sys/kernel/mm/ksm),
// every private anonymous mapping mergeable at mmap, zero pages into KsmZeroPages, MADV_UNMERGEABLE
// unmerging and excluding, the governors' presets and clamps, and partial hashing that never merges
// two different pages (a property test over pages that agree on every sampled word).
import { expect } from 'chai';
import fc from 'fast-check';
import { MADV_MERGEABLE, MADV_UNMERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../../src/mem/constants.ts';
import { AddressSpace } from '../../src/mem/address-space.ts';
import { createGuestSpaceHandles } from '../../src/mem/guest-control.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, pteFrame } from '../../src/mem/pte.ts';
import { HPAGE_PAGES, THP_ALWAYS } from '../../src/mem/thp.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { UksmState } from '../../src/engines/uksm/uksm-state.ts';
import { PROC_MEMINFO, UKSM_DIR, UksmFiles } from '../../src/engines/uksm/uksm-files.ts';
import { Host } from '../../src/host/host.ts';
import { errnoOf } from '../helpers/bare-space.ts';
import { uksmRig } from '../helpers/uksm-rig.ts';
import { UksmScanner } from '../../src/engines/uksm/uksm-scanner.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

const rig = (strength?: number) => uksmRig({ strength });
const read = (f: UksmFiles, name: string) => f.read(UKSM_DIR + name);
const frameAt = (g: AddressSpace, addr: number) => pteFrame(Atomics.load(g.pt, addr / PAGE_SIZE));

describe('UKSM', () => {
  describe('sysfs files', () => {
    it('starts with run 1, sleep_millisecs 100, the full governor, thresholds 50 and 10, full_scans 1, hash_strength 64', () => {
      const f = new UksmFiles(UksmState.create());
      expect(['run', 'sleep_millisecs', 'max_cpu_percentage', 'thrash_threshold', 'abundant_threshold', 'full_scans', 'hash_strength', 'ema_per_page_time'].map((n) => read(f, n)))
        .to.deep.equal(['1\n', '100\n', '95\n', '50\n', '10\n', '1\n', '64\n', '500\n']);
      expect(read(f, 'cpu_governor')).to.equal('[full] medium low quiet \n');
      expect(read(f, 'cpu_ratios')).to.equal('20 40 MAX/4 MAX/1 \n');
      expect(read(f, 'eval_intervals')).to.equal('1000 500 200 50 \n');
    });

    const presets: Array<[string, string, string, string]> = [
      ['medium', '20 30 MAX/4 MAX/1 \n', '1000 500 400 100 \n', '50\n'],
      ['low', '10 20 MAX/2 MAX/1 \n', '1500 1000 1000 250 \n', '20\n'],
      ['quiet', '10 20 40 75 \n', '2000 1000 1000 1000 \n', '1\n'],
      ['full', '20 40 MAX/4 MAX/1 \n', '1000 500 200 50 \n', '95\n'],
    ];
    for (const [gov, ratios, intervals, cpu] of presets) {
      it(`loads the ${gov} governor's preset: cpu_ratios, eval_intervals and max_cpu_percentage`, () => {
        const f = new UksmFiles(UksmState.create());
        if (gov === 'full') f.write(UKSM_DIR + 'cpu_governor', 'quiet', true);
        f.write(UKSM_DIR + 'cpu_governor', `${gov}\n`, true);
        expect(read(f, 'cpu_governor')).to.contain(`[${gov}]`);
        expect([read(f, 'cpu_ratios'), read(f, 'eval_intervals'), read(f, 'max_cpu_percentage')]).to.deep.equal([ratios, intervals, cpu]);
      });
    }

    it('matches cpu_governor by prefix and rejects an unknown name with EINVAL', () => {
      const f = new UksmFiles(UksmState.create());
      f.write(UKSM_DIR + 'cpu_governor', 'lowest', true);
      expect(read(f, 'cpu_governor')).to.equal('full medium [low] quiet \n');
      expect(errnoOf(() => f.write(UKSM_DIR + 'cpu_governor', 'turbo', true))).to.equal('EINVAL');
    });

    it('clamps max_cpu_percentage: 100 reads 99, below 10 reads 10, above 100 is EINVAL', () => {
      const f = new UksmFiles(UksmState.create());
      f.write(UKSM_DIR + 'max_cpu_percentage', '100', true);
      expect(read(f, 'max_cpu_percentage')).to.equal('99\n');
      f.write(UKSM_DIR + 'max_cpu_percentage', '3', true);
      expect(read(f, 'max_cpu_percentage')).to.equal('10\n');
      expect(errnoOf(() => f.write(UKSM_DIR + 'max_cpu_percentage', '101', true))).to.equal('EINVAL');
    });

    it('refuses sleep_millisecs above 1000 with EINVAL and accepts 1000', () => {
      const f = new UksmFiles(UksmState.create());
      expect(errnoOf(() => f.write(UKSM_DIR + 'sleep_millisecs', '1001', true))).to.equal('EINVAL');
      f.write(UKSM_DIR + 'sleep_millisecs', '1000', true);
      expect(read(f, 'sleep_millisecs')).to.equal('1000\n');
    });

    it('refuses run 2 and thresholds above 99 with EINVAL', () => {
      const f = new UksmFiles(UksmState.create());
      expect(errnoOf(() => f.write(UKSM_DIR + 'run', '2', true))).to.equal('EINVAL');
      expect(errnoOf(() => f.write(UKSM_DIR + 'thrash_threshold', '100', true))).to.equal('EINVAL');
      expect(errnoOf(() => f.write(UKSM_DIR + 'abundant_threshold', '100', true))).to.equal('EINVAL');
    });

    it('parses cpu_ratios with MAX/n and rejects zero, fewer than four values, and MAX/0', () => {
      const f = new UksmFiles(UksmState.create());
      f.write(UKSM_DIR + 'cpu_ratios', '5 10 MAX/8 MAX/2\n', true);
      expect(read(f, 'cpu_ratios')).to.equal('5 10 MAX/8 MAX/2 \n');
      for (const bad of ['0 10 20 30', '1 2 3', '1 2 3 MAX/0', '1 2 3 10001']) expect(errnoOf(() => f.write(UKSM_DIR + 'cpu_ratios', bad, true))).to.equal('EINVAL');
    });

    it('refuses writes to the read-only files with EACCES, and a non-root write with EACCES', () => {
      const f = new UksmFiles(UksmState.create());
      expect(errnoOf(() => f.write(UKSM_DIR + 'pages_sharing', '0', true))).to.equal('EACCES');
      expect(errnoOf(() => f.write(UKSM_DIR + 'run', '0', false))).to.equal('EACCES');
    });

    it('has no /sys/kernel/mm/ksm on a uksm host (ENOENT), and has /sys/kernel/mm/uksm', async () => {
      const host = await Host.start({ memoryBytes: 16 * 2 ** 20, engine: 'uksm', onLog: () => {} });
      try {
        expect(() => host.readFile('/sys/kernel/mm/ksm/run')).to.throw(/ENOENT/);
        await host.writeFile('/sys/kernel/mm/ksm/run', '1').then(() => expect.fail('wrote'), (e: { code?: string }) => expect(e.code).to.equal('ENOENT'));
        expect(host.readFile('/sys/kernel/mm/uksm/run')).to.equal('1\n');
        expect(host.ksmd).to.equal(undefined);
      } finally {
        await host.shutdown();
      }
    });
  });

  describe('merging', () => {
    it('merges identical private anonymous pages with no madvise at all', () => {
      const r = rig();
      const a = r.guest();
      const b = r.guest();
      const pa = a.mmap(4 * PAGE_SIZE, RW, ANON);
      const pb = b.mmap(4 * PAGE_SIZE, RW, ANON);
      for (let i = 0; i < 4; i++) {
        a.memset(pa + i * PAGE_SIZE, 10 + i, PAGE_SIZE);
        b.memset(pb + i * PAGE_SIZE, 10 + i, PAGE_SIZE);
      }
      r.scanner.slice();
      r.scanner.slice();
      for (let i = 0; i < 4; i++) {
        expect(frameAt(a, pa + i * PAGE_SIZE)).to.equal(frameAt(b, pb + i * PAGE_SIZE));
        expect(Atomics.load(a.pt, pa / PAGE_SIZE + i) & PTE_KSM).to.equal(PTE_KSM);
      }
      expect(read(r.files, 'pages_shared')).to.equal('4\n');
      expect(read(r.files, 'pages_sharing')).to.equal('4\n');
    });

    it('splits a huge page before merging any of its subpages (thp_split_page), never merging a subpage of a huge block', () => {
      const mem = PhysicalMemory.create({ bytes: 16 * 2 ** 20, numaNodes: 1 });
      const ksm = KsmState.create();
      const h = createGuestSpaceHandles(100, 0, 4096);
      const scanner = new UksmScanner(UksmState.create(), mem, ksm, () => [h]);
      const a = new AddressSpace(h, mem, { addKsmZeroPages: () => {}, thpMode: () => THP_ALWAYS, mergeableAtMmap: true });
      const HPAGE = HPAGE_PAGES * PAGE_SIZE;
      const addr = Math.ceil(a.mmap(2 * HPAGE, RW, ANON) / HPAGE) * HPAGE;
      for (let i = 0; i < HPAGE_PAGES; i++) a.memset(addr + i * PAGE_SIZE, 1 + (i % 4), PAGE_SIZE);
      expect(Atomics.load(a.pt, addr / PAGE_SIZE) & PTE_HUGE).to.equal(PTE_HUGE);
      for (let i = 0; i < 4; i++) scanner.slice();
      expect(mem.vmstat.get('thp_split_page')).to.equal(1);
      let merged = 0;
      for (let p = addr / PAGE_SIZE; p < addr / PAGE_SIZE + HPAGE_PAGES; p++) {
        const pte = Atomics.load(a.pt, p);
        expect(pte & PTE_HUGE, `page ${p}`).to.equal(0);
        if (pte & PTE_KSM) merged++;
      }
      expect(merged).to.be.greaterThan(HPAGE_PAGES / 2);
      expect(a.read(addr + 5 * PAGE_SIZE, 1)[0]).to.equal(2);
    });

    it('does not touch MAP_SHARED memory', () => {
      const r = rig();
      const a = r.guest();
      const s1 = a.mmap(PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS);
      const s2 = a.mmap(PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS);
      a.memset(s1, 3, PAGE_SIZE);
      a.memset(s2, 3, PAGE_SIZE);
      r.scanner.slice();
      r.scanner.slice();
      expect(frameAt(a, s1)).to.not.equal(frameAt(a, s2));
    });

    it('merges zero-filled pages into the zero page and reports them as KsmZeroPages in /proc/meminfo', () => {
      const r = rig();
      const a = r.guest();
      const addr = a.mmap(3 * PAGE_SIZE, RW, ANON);
      a.memset(addr, 0, 3 * PAGE_SIZE);
      const free = r.mem.freeFrames();
      r.scanner.slice();
      expect(Atomics.load(a.pt, addr / PAGE_SIZE) & PTE_KSM_ZERO).to.equal(PTE_KSM_ZERO);
      expect(r.mem.freeFrames()).to.equal(free + 3);
      expect(r.files.read(PROC_MEMINFO)).to.match(/^KsmZeroPages:\s+12 kB$/m);
    });

    it('ignores MADV_MERGEABLE (everything already is mergeable)', () => {
      const r = rig();
      const a = r.guest();
      const addr = a.mmap(PAGE_SIZE, RW, ANON);
      expect(() => a.madvise(addr, PAGE_SIZE, MADV_MERGEABLE)).to.not.throw();
    });

    it('MADV_UNMERGEABLE unmerges the range and removes it from scanning', () => {
      const r = rig();
      const a = r.guest();
      const b = r.guest();
      const pa = a.mmap(2 * PAGE_SIZE, RW, ANON);
      const pb = b.mmap(2 * PAGE_SIZE, RW, ANON);
      a.memset(pa, 9, 2 * PAGE_SIZE);
      b.memset(pb, 9, 2 * PAGE_SIZE);
      r.scanner.slice();
      r.scanner.slice();
      expect(frameAt(a, pa)).to.equal(frameAt(b, pb));
      a.madvise(pa, 2 * PAGE_SIZE, MADV_UNMERGEABLE);
      expect(Atomics.load(a.pt, pa / PAGE_SIZE) & PTE_KSM).to.equal(0);
      r.scanner.slice();
      r.scanner.slice();
      expect(Atomics.load(a.pt, pa / PAGE_SIZE) & PTE_KSM).to.equal(0);
      expect(a.read(pa, 1)[0]).to.equal(9);
    });

    it('gives a writer of a merged page its own copy; the other guest keeps the shared bytes', () => {
      const r = rig();
      const a = r.guest();
      const b = r.guest();
      const pa = a.mmap(PAGE_SIZE, RW, ANON);
      const pb = b.mmap(PAGE_SIZE, RW, ANON);
      a.memset(pa, 4, PAGE_SIZE);
      b.memset(pb, 4, PAGE_SIZE);
      r.scanner.slice();
      r.scanner.slice();
      a.memset(pa, 5, 1);
      expect(b.read(pb, 1)[0]).to.equal(4);
      expect(a.read(pa, 1)[0]).to.equal(5);
    });
  });

  describe('partial hashing', () => {
    it('never merges two different pages, even when they agree on every sampled word (property)', () => {
      fc.assert(fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (strength, diffs, seed) => {
          const r = rig(strength);
          const perm = r.scanner.merger.hasher.perm;
          const sampled = new Set(Array.from(perm.subarray(0, strength)));
          // Adversarial variants: the same base page, changed only at words the hash never reads.
          const unsampled = Array.from({ length: 1024 }, (_, i) => i).filter((i) => !sampled.has(i));
          const base = new Uint32Array(1024).map((_, i) => (Math.imul(seed ^ i, 2654435761) >>> 0) | 1);
          const pages = [base, ...diffs.map((d, j) => {
            const v = base.slice();
            v[unsampled[d % unsampled.length]!] ^= (j + 1);
            return v;
          })];
          const guests = pages.flatMap((content) => [0, 1].map(() => {
            const g = r.guest();
            const addr = g.mmap(PAGE_SIZE, RW, ANON);
            g.write(addr, new Uint8Array(content.buffer));
            return { g, addr, content: new Uint8Array(content.buffer) };
          }));
          for (let i = 0; i < 3; i++) r.scanner.slice();
          for (const x of guests) {
            // Every guest still reads exactly its own page…
            if (Buffer.compare(Buffer.from(x.g.read(x.addr, PAGE_SIZE)), Buffer.from(x.content)) !== 0) return false;
          }
          // …and two pages share a frame only if their contents are equal.
          for (const x of guests) for (const y of guests) {
            if (frameAt(x.g, x.addr) === frameAt(y.g, y.addr) && Buffer.compare(Buffer.from(x.content), Buffer.from(y.content)) !== 0) return false;
          }
          // (The property is not vacuous: the two copies of each content did merge.)
          for (let i = 0; i < guests.length; i += 2) if (frameAt(guests[i]!.g, guests[i]!.addr) !== frameAt(guests[i + 1]!.g, guests[i + 1]!.addr)) return false;
          return true;
        },
      ), { numRuns: 60, seed: 14 });
    });

    it('counts a hash match that the full compare refutes as a collision, which raises the strength', () => {
      const r = rig(1);
      const perm = r.scanner.merger.hasher.perm;
      const a = r.guest();
      const addr = a.mmap(32 * PAGE_SIZE, RW, ANON);
      for (let i = 0; i < 32; i++) {
        const v = new Uint32Array(1024).fill(7);
        v[perm[1 + i]!] = i + 100; // word 0 of the sample agrees; the pages differ elsewhere
        a.write(addr + i * PAGE_SIZE, new Uint8Array(v.buffer));
      }
      r.scanner.slice();
      expect(Number(read(r.files, 'hash_strength'))).to.be.greaterThan(1);
      expect(read(r.files, 'pages_shared')).to.equal('0\n');
    });
  });
});
