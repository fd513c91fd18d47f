// merge-lifecycle.test.ts — how merged pages live and die: how many visits a merge takes, guests that
// exit or are killed while merged, MADV_DONTNEED and munmap of KSM pages, chains that shrink and
// collapse, and KSM zero pages under run=2. Semantics from mm/ksm.c as summarised in
// docs/kernel-ksm.md; every test ends with the counters equal to a recount.
import { expect } from 'chai';
import { MADV_DONTNEED, MADV_MERGEABLE, MADV_UNMERGEABLE } from '../../src/mem/constants.ts';
import { KsmHarness, SELFTEST_KNOBS, type ScriptedGuest } from '../helpers/ksm-harness.ts';
import { expectCountersMatchRecount, recount } from '../helpers/recount.ts';

async function mergeableRegion(g: ScriptedGuest, region: string, pages: number, fill: Record<string, unknown>): Promise<void> {
  await g.do({ op: 'mmap', region, pages });
  await g.do({ op: 'fill', region, ...fill });
  await g.do({ op: 'madvise', region, advice: MADV_MERGEABLE });
}

async function expectIntact(...guests: ScriptedGuest[]): Promise<void> {
  for (const g of guests) {
    const v = await g.verify();
    expect(v.mismatches, `${g.name}: ${v.badPages.join(', ')}`).to.equal(0);
  }
}

function sharedSharing(h: KsmHarness): [number, number] {
  const c = h.counters();
  return [c.pages_shared, c.pages_sharing];
}

describe('KSM pages over their lifetime', function () {
  this.timeout(30_000);
  let h: KsmHarness | undefined;

  afterEach(async () => {
    await h?.shutdown();
    h = undefined;
  });

  it('a page equal to a KSM page merges on its second visit, like a new pair: the checksum test comes first (Linux 6.10+)', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 8, { kind: 'seeded', seed: 1 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 7]);
    // From now on ksmd makes one pass per wake-up.
    await h.setKnobs({ sleep_millisecs: 60_000 });
    await h.untilSteady('pages_scanned');
    await mergeableRegion(g, 'same', 1, { kind: 'seeded', seed: 1 });
    await mergeableRegion(g, 'pair', 2, { kind: 'seeded', seed: 2 });
    await h.onePass();
    // First visit: every new page only has its checksum taken, even the one equal to the KSM page
    // (measured on 6.18 by the remerge-stable fidelity scenario).
    expect(sharedSharing(h)).to.deep.equal([1, 7]);
    expect(h.counters().rmap_items).to.equal(11);
    await h.onePass();
    expect(sharedSharing(h)).to.deep.equal([2, 9]);
    await expectIntact(g);
    await h.onePass();
    await expectCountersMatchRecount(h.host);
  });

  it('a merged page written back to its merged content remerges at the next scan; one given new content is volatile for a scan, stays private and keeps its data', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, smart_scan: 0 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 8, { kind: 'seeded', seed: 5 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 7]);
    await h.setKnobs({ sleep_millisecs: 60_000 });
    await h.untilSteady('pages_scanned');
    // Page 0: copied on write, then given its merged content back (the checksum ksmd saw last).
    await g.do({ op: 'poke', region: 'a', page: 0, offset: 9, bytes: [1] });
    await g.do({ op: 'fill', region: 'a', from: 0, count: 1, kind: 'seeded', seed: 5 });
    // Pages 6 and 7: copied on write with a new content, equal to each other.
    await g.do({ op: 'fill', region: 'a', from: 6, count: 2, kind: 'seeded', seed: 6 });
    await h.onePass();
    // ksmd tries the KSM page of each page's last checksum, write-protected: page 0 equals it and
    // remerges at once (its checksum cannot have changed); pages 6 and 7 differ, so they are
    // volatile this scan, as the kernel's checksum test makes them.
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.pages_unshared, c.pages_volatile]).to.deep.equal([1, 5, 0, 2]);
    await expectIntact(g);
    // The probe left pages 6 and 7 write-protected; the guest's writes still land.
    await g.do({ op: 'poke', region: 'a', page: 6, offset: 100, bytes: [7, 7] });
    await g.do({ op: 'poke', region: 'a', page: 6, offset: 100, bytes: [0, 0] });
    await g.do({ op: 'fill', region: 'a', from: 6, count: 1, kind: 'seeded', seed: 6 });
    await expectIntact(g);
    // Same content as at the last scan, so no longer volatile: 6 and 7 pair up in the unstable tree.
    await h.onePass();
    expect(sharedSharing(h)).to.deep.equal([2, 6]);
    await expectIntact(g);
    await expectCountersMatchRecount(h.host);
  });

  it('a guest that registers while a pass is under way is first scanned in the next pass (__ksm_enter queues it behind the cursor)', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, pages_to_scan: 16, sleep_millisecs: 60_000 } });
    const a = await h.guest();
    const b = await h.guest();
    await mergeableRegion(a, 'u', 64, { kind: 'unique', seed: 10 });
    await b.do({ op: 'mmap', region: 'x', pages: 8 });
    await b.do({ op: 'fill', region: 'x', kind: 'seeded', seed: 5000 });
    await h.setKnobs({ run: 1 }); // wakes ksmd: the first batch of the first pass (16 of a's pages)
    await h.untilSteady('pages_scanned');
    expect([h.read('pages_scanned'), h.read('full_scans')]).to.deep.equal([16, 0]);
    await b.do({ op: 'madvise', region: 'x', advice: MADV_MERGEABLE }); // registers mid-pass
    while (h.read('full_scans') === 0) await h.oneBatch();
    // The pass that was under way ended without b; b's pages are first visited in the next one.
    expect(h.read('pages_scanned')).to.equal(64);
    expect((await b.ksmStat()).values.ksm_rmap_items).to.equal(0);
    await h.onePass();
    expect((await b.ksmStat()).values.ksm_rmap_items).to.equal(8);
    expect(sharedSharing(h)).to.deep.equal([0, 0]); // one visit: checksums only
    await h.onePass();
    expect(sharedSharing(h)).to.deep.equal([1, 7]);
    await expectIntact(a, b);
    await h.onePass();
    await expectCountersMatchRecount(h.host);
  });

  it('a guest that exits while merged leaves the other sharers intact; counters drop at the next scan; no frame leaks', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const a = await h.guest();
    const b = await h.guest();
    await mergeableRegion(a, 'x', 8, { kind: 'seeded', seed: 3 });
    await mergeableRegion(b, 'x', 8, { kind: 'seeded', seed: 3 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 15]);
    const report = await a.exit(0);
    expect(report.status).to.equal('exited');
    expect(report.memoryAtExit.ksmPages).to.equal(8);
    expect(report.ksmStatAtExit.ksm_merging_pages).to.equal(8);
    expect([...recount(h.host).ksmMappers.values()]).to.deep.equal([8]);
    await expectIntact(b);
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 7]);
    await expectCountersMatchRecount(h.host);
    // Killing the last sharer (as by SIGKILL) frees the KSM page with its last mapping.
    await b.handle.kill();
    expect((await b.handle.done).status).to.equal('failed');
    await h.untilSteady('full_scans', 200);
    expect(sharedSharing(h)).to.deep.equal([0, 0]);
    const r = await expectCountersMatchRecount(h.host);
    expect(r.frames.private + r.frames.ksm).to.equal(0);
  });

  it('MADV_DONTNEED and munmap drop KSM mappings: the pages read zero or are gone, the KSM page lives while mapped', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 8, { kind: 'seeded', seed: 4 });
    await mergeableRegion(g, 'b', 8, { kind: 'seeded', seed: 4 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 15]);
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'madvise', region: 'a', from: 0, count: 4, advice: MADV_DONTNEED });
    await g.do({ op: 'munmap', region: 'b' });
    await expectIntact(g); // a[0..3] read as zeros now, a[4..7] as before
    expect([...recount(h.host).ksmMappers.values()]).to.deep.equal([4]);
    expect(sharedSharing(h)).to.deep.equal([1, 15]); // until ksmd looks again
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect(sharedSharing(h)).to.deep.equal([1, 3]);
    await expectCountersMatchRecount(h.host);
    // test_unmerge_discarded: MADV_UNMERGEABLE over the half-discarded range leaves no KSM page.
    await g.do({ op: 'madvise', region: 'a', advice: MADV_UNMERGEABLE });
    expect(recount(h.host).ksmMappers.size).to.equal(0);
    await expectIntact(g);
    await h.untilSteady('full_scans', 200);
    expect(sharedSharing(h)).to.deep.equal([0, 0]);
    await expectCountersMatchRecount(h.host);
  });

  it('a chain shrinks as its dups die, and collapses to a plain KSM page when a stable-tree search next meets it with one dup left', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, max_page_sharing: 4, stable_node_chains_prune_millisecs: 0 } });
    const g = await h.guest();
    await mergeableRegion(g, 'a', 16, { kind: 'seeded', seed: 5 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    let c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([4, 12, 4, 1]);
    // Each rewrite lands between scans (ksmd paused), so the scans after it see it whole: a rewrite
    // spread across a scan boundary left some pages' second visit (and its stable-tree search) to a
    // later scan, and the counters below depended on where the boundary fell.
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'fill', region: 'a', from: 12, count: 4, kind: 'unique', seed: 900 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([3, 9, 3, 1]);
    await expectCountersMatchRecount(h.host);
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'fill', region: 'a', from: 4, count: 8, kind: 'unique', seed: 950 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    c = h.counters();
    // One dup left, but the chain stays a chain until a search meets it (measured on 6.18: the
    // chain-prune fidelity scenario).
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([1, 3, 1, 1]);
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'fill', region: 'a', from: 4, count: 1, kind: 'seeded', seed: 5 });
    await h.setKnobs({ run: 1 });
    // Its stable-tree search meets the chain and collapses it. The page itself cannot join: that KSM
    // page already has max_page_sharing (4) sharers, and it has no partner in the unstable tree.
    // (smart_scan may skip that long-unmerged page for up to 8 scans before its next visits.)
    await h.fullScans(12);
    c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([1, 3, 0, 0]);
    await expectIntact(g);
    await expectCountersMatchRecount(h.host);
  });

  it('use_zero_pages 1 then run=2: KSM zero pages become private zero-filled pages at once, and merge again with run=1', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, use_zero_pages: 1 } });
    const g = await h.guest();
    await mergeableRegion(g, 'z', 16, { kind: 'byte', value: 0 });
    await mergeableRegion(g, 'x', 4, { kind: 'seeded', seed: 6 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    let c = h.counters();
    expect([c.ksm_zero_pages, c.pages_shared, c.pages_sharing]).to.deep.equal([16, 1, 3]);
    await expectCountersMatchRecount(h.host);
    await h.setKnobs({ run: 2 });
    c = h.counters();
    expect([c.ksm_zero_pages, c.pages_shared, c.pages_sharing, c.full_scans]).to.deep.equal([0, 0, 0, 0]);
    const r = recount(h.host);
    expect([r.counters.ksm_zero_pages, r.ksmMappers.size, r.frames.private]).to.deep.equal([0, 0, 16 + 4 + 1]);
    expect((await g.ksmStat()).values.ksm_zero_pages).to.equal(0);
    await expectIntact(g);
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    c = h.counters();
    expect([c.ksm_zero_pages, c.pages_shared, c.pages_sharing]).to.deep.equal([16, 1, 3]);
    await expectIntact(g);
    await expectCountersMatchRecount(h.host);
  });
});
