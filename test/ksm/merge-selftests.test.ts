// merge-selftests.test.ts — what ksmd must show, mirroring the kernel's selftests (ksm_tests.c,
// ksm_functional_tests.c) and the figures measured on Linux 6.18 (docs/kernel-ksm.md).
// Every test sets memory up with ksmd stopped, starts it (run=1), waits for two full scans, checks
// the counters, has the guests verify every byte they wrote, and ends with the counters equal to a
// recount from the page tables after a quiet full scan.
import { expect } from 'chai';
import { MADV_MERGEABLE, MADV_UNMERGEABLE, PR_GET_MEMORY_MERGE, PR_SET_MEMORY_MERGE } from '../../src/mem/constants.ts';
import { KsmHarness, SELFTEST_KNOBS, type ScriptedGuest } from '../helpers/ksm-harness.ts';
import { expectCountersMatchRecount, recount } from '../helpers/recount.ts';

const SEED_DEMO = new URL('../../guests/seed-demo.ts', import.meta.url).pathname;

/** Map `pages` pages in region `region`, fill them, and mark them mergeable. */
async function mergeableRegion(g: ScriptedGuest, region: string, pages: number, fill: Record<string, unknown>): Promise<void> {
  await g.do({ op: 'mmap', region, pages });
  await g.do({ op: 'fill', region, ...fill });
  await g.do({ op: 'madvise', region, advice: MADV_MERGEABLE });
}

async function expectIntact(...guests: ScriptedGuest[]): Promise<void> {
  for (const g of guests) {
    const v = await g.verify();
    expect(v.mismatches, `${g.name} read back something it did not write: ${v.badPages.join(', ')}`).to.equal(0);
  }
}

/**
 * Nothing mergeable is left: ksmd's next pass drops the mm and then ksmd goes idle, so full_scans
 * stops advancing (measured on Linux 6.18). Wait for that pass (it may already be over) and for
 * full_scans to stand still.
 */
async function untilKsmdIdle(h: KsmHarness): Promise<void> {
  await h.untilSteady('full_scans', 200);
}

describe('KSM merging, as the kernel selftests check it', function () {
  this.timeout(30_000);
  let h: KsmHarness | undefined;

  afterEach(async () => {
    await h?.shutdown();
    h = undefined;
  });

  it('merges 10 equal pages of one guest into pages_shared 1, pages_sharing 9 after two full scans (ksm_tests -M)', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, pages_to_scan: 10 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 10, { kind: 'seeded', seed: 7 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing]).to.deep.equal([1, 9]);
    await expectIntact(g);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('a one-byte change in each of 2 merged pages unmerges them: no KSM page after one more scan (ksm_tests -U)', async () => {
    // pages_to_scan above the page count: every batch runs to the end of its pass, so run=0 stops
    // ksmd between passes and the "one more scan" below visits both pages.
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 2, { kind: 'seeded', seed: 8 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 1]);
    await h.setKnobs({ run: 0 }); // so the next scan starts after the writes
    await g.do({ op: 'poke', region: 'a', page: 0, bytes: [0x2d] });
    await g.do({ op: 'poke', region: 'a', page: 1, bytes: [0x2b] });
    await h.setKnobs({ run: 1 });
    await h.fullScans(1);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([0, 0]);
    await expectIntact(g);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('merges equal pages across guests: 3 guests × 8 pages give pages_shared 1, pages_sharing 23', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const guests = [await h.guest(), await h.guest(), await h.guest()];
    for (const g of guests) await mergeableRegion(g, 'a', 8, { kind: 'seeded', seed: 11 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing]).to.deep.equal([1, 23]);
    for (const g of guests) expect((await g.ksmStat()).values.ksm_merging_pages).to.equal(8);
    const r = recount(h.host);
    expect(r.ksmMappers.size).to.equal(1);
    expect([...r.ksmMappers.values()]).to.deep.equal([24]);
    await expectIntact(...guests);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('MADV_UNMERGEABLE gives every page back privately with its content at once; with run 0 the counters keep their values', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 32, { kind: 'seeded', seed: 3 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 31]);
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'madvise', region: 'a', advice: MADV_UNMERGEABLE });
    // The pages are private at once (a recount finds no KSM page left) and hold what was written …
    expect(recount(h.host).counters.pages_shared).to.equal(0);
    expect(recount(h.host).frames.private).to.equal(32 + 1); // + the mailbox page
    await expectIntact(g);
    expect((await g.ksmStat()).values['ksm_mergeable']).to.equal('no');
    // … but the counters follow ksmd, which is stopped (measured on Linux 6.18).
    await new Promise((r) => setTimeout(r, 200));
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 31]);
    // One pass finds no mergeable area left: it drops the items and the mm, and ksmd goes idle
    // (full_scans stops advancing, as measured on the kernel).
    await h.setKnobs({ run: 1 });
    await untilKsmdIdle(h);
    expect([h.counters().pages_shared, h.counters().pages_sharing, h.counters().rmap_items]).to.deep.equal([0, 0, 0]);
    await expectCountersMatchRecount(h.host);
  });

  it('after MADV_UNMERGEABLE the counters drop only when ksmd next scans the area', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 16, { kind: 'seeded', seed: 5 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    // ksmd keeps running but sleeps a minute between batches: nothing scans the area now.
    await h.setKnobs({ sleep_millisecs: 60_000 });
    await h.untilSteady('pages_scanned');
    const scans = h.read('full_scans');
    await g.do({ op: 'madvise', region: 'a', advice: MADV_UNMERGEABLE });
    await expectIntact(g);
    await new Promise((r) => setTimeout(r, 100));
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 15]);
    expect(h.read('full_scans')).to.equal(scans);
    // A knob write wakes ksmd (ksm_iter_wait), its next scan drops the counters.
    await h.setKnobs({ sleep_millisecs: 0 });
    await untilKsmdIdle(h);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([0, 0]);
    await expectCountersMatchRecount(h.host);
  });

  it('run=2 unmerges everything at once, drops the counters and resets full_scans to 0; run=1 merges again', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const a = await h.guest();
    const b = await h.guest();
    await mergeableRegion(a, 'x', 20, { kind: 'seeded', seed: 9 });
    await mergeableRegion(b, 'x', 20, { kind: 'seeded', seed: 9 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 39]);
    expect(h.read('full_scans')).to.be.at.least(2);
    await h.setKnobs({ run: 2 });
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.pages_unshared, c.rmap_items, c.full_scans]).to.deep.equal([0, 0, 0, 0, 0]);
    expect(h.read('run')).to.equal(2);
    const r = recount(h.host);
    expect(r.ksmMappers.size, 'KSM pages left after run=2').to.equal(0);
    expect(r.problems).to.deep.equal([]);
    expect((await a.ksmStat()).values).to.include({ ksm_rmap_items: 0, ksm_merging_pages: 0 });
    await expectIntact(a, b);
    // The areas stay registered: run=1 merges them again from scratch.
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 39]);
    await expectIntact(a, b);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('use_zero_pages 0: zero-filled pages merge like any equal pages (ksm_tests -Z -z 0)', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, use_zero_pages: 0 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 10, { kind: 'byte', value: 0 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.ksm_zero_pages]).to.deep.equal([1, 9, 0]);
    await expectIntact(g);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('use_zero_pages 1: 64 zero-filled pages give ksm_zero_pages 64, no KSM page, general_profit 262144; one write makes it 63 at once', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, use_zero_pages: 1 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 64, { kind: 'byte', value: 0 });
    await h.setKnobs({ run: 1 });
    // Two scans merge them with the zero page; the next visit drops their rmap items (the kernel's
    // folio walk skips the zero page), which is when general_profit reaches 64 × 4096 (measured).
    await h.fullScans(3);
    let c = h.counters();
    expect([c.ksm_zero_pages, c.pages_shared, c.pages_sharing]).to.deep.equal([64, 0, 0]);
    expect(c.general_profit).to.equal(64 * 4096);
    expect((await g.ksmStat()).values).to.include({ ksm_zero_pages: 64, ksm_merging_pages: 0 });
    await expectCountersMatchRecount(h.host);
    await g.do({ op: 'poke', region: 'a', page: 5, offset: 100, bytes: [1, 2, 3] });
    expect(h.counters().ksm_zero_pages).to.equal(63); // at once, before ksmd looks again
    expect((await g.ksmStat()).values.ksm_zero_pages).to.equal(63);
    // test_unmerge_zero_pages: unmerging half the range halves it at once; writes take the rest to 0.
    await g.do({ op: 'madvise', region: 'a', from: 0, count: 32, advice: MADV_UNMERGEABLE });
    expect(h.counters().ksm_zero_pages).to.equal(32);
    await g.do({ op: 'fill', region: 'a', from: 32, count: 32, kind: 'unique', seed: 1000 });
    expect(h.counters().ksm_zero_pages).to.equal(0);
    await expectIntact(g);
    await h.fullScans(2);
    c = h.counters();
    expect(c.ksm_zero_pages).to.equal(0);
    await expectCountersMatchRecount(h.host);
  });

  describe('two NUMA nodes (ksm_tests -N)', () => {
    async function twoNodeGuest(pagesPerNode: number): Promise<ScriptedGuest> {
      const g = await h!.guest({ node: 0 });
      await g.do({ op: 'mmap', region: 'a', pages: 2 * pagesPerNode });
      await g.do({ op: 'mbind', region: 'a', from: 0, count: pagesPerNode, node: 0 });
      await g.do({ op: 'mbind', region: 'a', from: pagesPerNode, count: pagesPerNode, node: 1 });
      await g.do({ op: 'fill', region: 'a', kind: 'seeded', seed: 21 });
      await g.do({ op: 'madvise', region: 'a', advice: MADV_MERGEABLE });
      return g;
    }

    it('merge_across_nodes 1: two equal pages on different nodes merge', async () => {
      h = await KsmHarness.start({ numaNodes: 2, knobs: { ...SELFTEST_KNOBS, merge_across_nodes: 1 } });
      const g = await twoNodeGuest(1);
      await h.setKnobs({ run: 1 });
      await h.fullScans(2);
      expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 1]);
      await expectIntact(g);
      await h.fullScans(1);
      await expectCountersMatchRecount(h.host);
    });

    it('merge_across_nodes 0: two equal pages on different nodes do not merge', async () => {
      h = await KsmHarness.start({ numaNodes: 2, knobs: { ...SELFTEST_KNOBS, merge_across_nodes: 0 } });
      const g = await twoNodeGuest(1);
      await h.setKnobs({ run: 1 });
      await h.fullScans(2);
      expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([0, 0]);
      await expectIntact(g);
      await h.fullScans(1);
      await expectCountersMatchRecount(h.host);
    });

    it('merge_across_nodes 0: equal pages merge within each node, one KSM page per node', async () => {
      h = await KsmHarness.start({ numaNodes: 2, knobs: { ...SELFTEST_KNOBS, merge_across_nodes: 0 } });
      const g = await twoNodeGuest(3);
      await h.setKnobs({ run: 1 });
      await h.fullScans(2);
      expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([2, 4]);
      const r = recount(h.host);
      expect([...r.ksmMappers.keys()].map((f) => h!.host.memory.nodeOf(f)).sort()).to.deep.equal([0, 1]);
      await expectIntact(g);
      await h.fullScans(1);
      await expectCountersMatchRecount(h.host);
    });
  });

  it('max_page_sharing 4: 16 equal pages give pages_shared 4, pages_sharing 12, stable_node_dups 4, stable_node_chains 1', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, max_page_sharing: 4 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 16, { kind: 'seeded', seed: 4 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([4, 12, 4, 1]);
    expect([...recount(h.host).ksmMappers.values()]).to.deep.equal([4, 4, 4, 4]);
    await expectIntact(g);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('copy-on-write after a merge gives the writer its data and every other sharer the old content', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const a = await h.guest();
    const b = await h.guest();
    await mergeableRegion(a, 'x', 8, { kind: 'seeded', seed: 77 });
    await mergeableRegion(b, 'x', 8, { kind: 'seeded', seed: 77 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 15]);
    await h.setKnobs({ run: 0 }); // no re-merge while we look
    await a.do({ op: 'poke', region: 'x', page: 3, offset: 4000, bytes: [0xde, 0xad, 0xbe, 0xef] });
    await b.do({ op: 'fill', region: 'x', from: 6, count: 1, kind: 'seeded', seed: 78 });
    await expectIntact(a, b); // a sees its poke, b its new page 6; each sees the shared content elsewhere
    const r = recount(h.host);
    expect([...r.ksmMappers.values()]).to.deep.equal([14]);
    // Counters follow ksmd: unchanged until it scans again.
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 15]);
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 13]);
    await expectIntact(a, b);
    await expectCountersMatchRecount(h.host);
    // Every sharer writes: the last copy-on-write frees the KSM page (the frame count adds up).
    for (const g of [a, b]) await g.do({ op: 'fill', region: 'x', kind: 'unique', seed: g.pid * 100 });
    expect(recount(h.host).ksmMappers.size).to.equal(0);
    await expectIntact(a, b);
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([0, 0]);
    await expectCountersMatchRecount(h.host);
  });

  it('prctl(PR_SET_MEMORY_MERGE, 1) merges without madvise and PR_GET reads 1; 0 unmerges (test_prctl, test_prctl_unmerge)', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await g.do({ op: 'mmap', region: 'a', pages: 24 });
    await g.do({ op: 'fill', region: 'a', kind: 'byte', value: 0xcf });
    expect((await g.do({ op: 'prctl', option: PR_GET_MEMORY_MERGE })).ret).to.equal(0);
    expect((await g.do({ op: 'prctl', option: PR_SET_MEMORY_MERGE, arg2: 1 })).ret).to.equal(0);
    expect((await g.do({ op: 'prctl', option: PR_GET_MEMORY_MERGE })).ret).to.equal(1);
    // A mapping made after the prctl is mergeable too (ksm_add_vma).
    await g.do({ op: 'mmap', region: 'b', pages: 8 });
    await g.do({ op: 'fill', region: 'b', kind: 'byte', value: 0xcf });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 31]);
    expect((await g.ksmStat()).values).to.include({ 'ksm_merge_any': 'yes', 'ksm_mergeable': 'yes', ksm_merging_pages: 32 });
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
    expect((await g.do({ op: 'prctl', option: PR_SET_MEMORY_MERGE, arg2: 0 })).ret).to.equal(0);
    expect((await g.do({ op: 'prctl', option: PR_GET_MEMORY_MERGE })).ret).to.equal(0);
    expect(recount(h.host).ksmMappers.size, 'KSM pages left after PR_SET_MEMORY_MERGE 0').to.equal(0);
    expect((await g.ksmStat()).values).to.include({ 'ksm_merge_any': 'no', 'ksm_mergeable': 'no' });
    await expectIntact(g);
    await untilKsmdIdle(h);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([0, 0]);
    await expectCountersMatchRecount(h.host);
  });

  it('/proc/self/ksm_stat of 64 merged equal pages reads as measured on Linux 6.18', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 64, { kind: 'byte', value: 0x5a });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const stat = await g.ksmStat();
    expect(stat.raw).to.equal(
      'ksm_rmap_items 64\nksm_zero_pages 0\nksm_merging_pages 64\nksm_process_profit 258048\nksm_merge_any: no\nksm_mergeable: yes\n',
    );
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.general_profit]).to.deep.equal([1, 63, 253952]);
    expect(h.host.ksmStat(g.pid)).to.equal(stat.raw);
    expect((await g.do({ op: 'read-file', path: '/proc/self/ksm_merging_pages' })).text).to.equal('64\n');
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('runs the seed demo (run=1, sleep_millisecs=0): exit 0, a non-zero pages_sharing, then 0', async () => {
    h = await KsmHarness.start({ knobs: { run: 1, sleep_millisecs: 0 } });
    const handle = h.launch(SEED_DEMO, { name: 'seed-demo' });
    const report = await handle.done;
    expect(report.status, report.error).to.equal('exited');
    expect(report.exitCode).to.equal(0);
    const lines = h.linesOf('seed-demo');
    const values = lines.map((l) => /pages_sharing after .*: (\d+)$/.exec(l)?.[1]).filter((v) => v !== undefined).map(Number);
    expect(values).to.have.length(2);
    expect(values[0]).to.be.greaterThan(0);
    expect(values[1]).to.equal(0);
    // The guest is gone: after a quiet scan nothing is left, and no frame leaked.
    const r = await expectCountersMatchRecount(h.host);
    expect(r.frames.private + r.frames.ksm).to.equal(0);
  });
});
