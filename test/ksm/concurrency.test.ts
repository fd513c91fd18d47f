// concurrency.test.ts — the merge protocol under real concurrency (docs/protocol.md): four guest workers keep
// rewriting their pages with a handful of shared contents (seeded choices) while ksmd scans flat out
// (sleep_millisecs 0, a large pages_to_scan). Every guest checks each write by reading it back and
// each read against its shadow copy. Merges and copy-on-writes must both happen thousands of times,
// with no violation, and once the writers stop and ksmd has done quiet full scans the counters must
// equal a recount from the page tables.
//
// Counting copy-on-writes soundly: while the guests only write and read (no unmerge, munmap, run=2),
// a PTE stops mapping a KSM page only through a copy-on-write fault (or ksmd undoing its own merge,
// which it never counted as one). So  COWs ≥ merges counted by ksmd − KSM PTEs still mapped.
import { expect } from 'chai';
import { MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { KsmHarness, type ScriptedGuest } from '../helpers/ksm-harness.ts';
import { expectCountersMatchRecount, recount } from '../helpers/recount.ts';

const GUESTS = 4;
const PAGES = 128;
const CONTENTS = 6;
const CONTENT_SEED = 0x5eed;
const CHURN_MS = 6_000;

interface ChurnResult {
  ops: number;
  writes: number;
  pokes: number;
  reads: number;
  advises: number;
  violations: number;
  firstViolation?: string;
}

describe('KSM under concurrent writers', function () {
  this.timeout(40_000);
  let h: KsmHarness | undefined;

  after(async () => {
    await h?.shutdown();
  });

  it('4 guests rewriting pages while ksmd merges: thousands of merges and copy-on-writes, no lost or foreign byte, counters = recount', async () => {
    h = await KsmHarness.start({ memoryBytes: 64 * 2 ** 20, knobs: { sleep_millisecs: 0, pages_to_scan: 100_000 } });
    const guests: ScriptedGuest[] = [];
    for (let i = 0; i < GUESTS; i++) guests.push(await h.guest());
    for (const g of guests) {
      await g.do({ op: 'mmap', region: 'r', pages: PAGES });
      await g.do({ op: 'fill', region: 'r', kind: 'seeded', seed: CONTENT_SEED });
      await g.do({ op: 'madvise', region: 'r', advice: MADV_MERGEABLE });
    }
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    // 512 equal pages and max_page_sharing 256: two KSM pages of 256 mappers, one chain of two dups.
    const start = h.counters();
    expect([start.pages_shared, start.pages_sharing, start.stable_node_chains, start.stable_node_dups]).to.deep.equal([2, GUESTS * PAGES - 2, 1, 2]);

    const results = (await Promise.all(
      guests.map((g, i) => g.do({
        op: 'churn', region: 'r', ms: CHURN_MS, contents: CONTENTS, contentSeed: CONTENT_SEED, seed: 1000 + i, burst: 48, pauseMs: 1,
      }, CHURN_MS + 20_000)),
    )) as unknown as ChurnResult[];
    const during = h.counters();

    // The writers have stopped: let ksmd settle, then every byte must still be what its guest wrote.
    await h.fullScans(3);
    for (const [i, r] of results.entries()) {
      expect(r.violations, `guest ${i}: ${r.firstViolation}`).to.equal(0);
      expect(r.writes).to.be.greaterThan(1000);
    }
    for (const g of guests) {
      const v = await g.verify();
      expect(v.mismatches, `${g.name}: ${v.badPages.join(', ')}`).to.equal(0);
    }

    const stats = await h.host.ksmd!.stats();
    const final = await expectCountersMatchRecount(h.host);
    const ksmPtes = [...recount(h.host).ksmMappers.values()].reduce((a, b) => a + b, 0);
    const cowsAtLeast = stats.events.merges - ksmPtes;
    const summary = {
      writes: results.reduce((a, r) => a + r.writes, 0),
      pokes: results.reduce((a, r) => a + r.pokes, 0),
      reads: results.reduce((a, r) => a + r.reads, 0),
      merges: stats.events.merges,
      mergeAborts: stats.events.mergeAborts,
      deferredFrees: stats.events.deferredFrees,
      cowsAtLeast,
      fullScans: h.read('full_scans'),
      sharingDuringChurn: during.pages_sharing,
      finalShared: final.counters.pages_shared,
      finalSharing: final.counters.pages_sharing,
    };
    if (process.env.KSM_TEST_VERBOSE) console.log(summary);
    expect(stats.events.merges, JSON.stringify(summary)).to.be.at.least(2000);
    expect(cowsAtLeast, JSON.stringify(summary)).to.be.at.least(2000);
    expect(final.frames.free + final.frames.private + final.frames.ksm + 1).to.equal(final.frames.total);
  });

  it('the same writers also madvise MERGEABLE, UNMERGEABLE and DONTNEED on random ranges: no violation, counters = recount', async () => {
    await h?.shutdown();
    h = await KsmHarness.start({
      memoryBytes: 64 * 2 ** 20, knobs: { sleep_millisecs: 0, pages_to_scan: 100_000, stable_node_chains_prune_millisecs: 0 },
    });
    const guests: ScriptedGuest[] = [];
    for (let i = 0; i < GUESTS; i++) guests.push(await h.guest());
    for (const g of guests) {
      await g.do({ op: 'mmap', region: 'r', pages: PAGES });
      await g.do({ op: 'fill', region: 'r', kind: 'seeded', seed: CONTENT_SEED });
      await g.do({ op: 'madvise', region: 'r', advice: MADV_MERGEABLE });
    }
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const before = await h.host.ksmd!.stats();
    const results = (await Promise.all(
      guests.map((g, i) => g.do({
        op: 'churn', region: 'r', ms: CHURN_MS / 2, contents: CONTENTS, contentSeed: CONTENT_SEED, seed: 2000 + i, burst: 48, pauseMs: 1, adviseProb: 0.5,
      }, CHURN_MS + 20_000)),
    )) as unknown as ChurnResult[];
    for (const [i, r] of results.entries()) {
      expect(r.violations, `guest ${i}: ${r.firstViolation}`).to.equal(0);
      expect(r.advises, 'madvise calls during the churn').to.be.greaterThan(10);
    }
    // Leave every page mergeable again, so the final state has merges to recount.
    for (const g of guests) await g.do({ op: 'madvise', region: 'r', advice: MADV_MERGEABLE });
    await h.fullScans(3);
    for (const g of guests) {
      const v = await g.verify();
      expect(v.mismatches, `${g.name}: ${v.badPages.join(', ')}`).to.equal(0);
    }
    const stats = await h.host.ksmd!.stats();
    expect(stats.events.merges - before.events.merges).to.be.at.least(500);
    const final = await expectCountersMatchRecount(h.host);
    expect(final.counters.pages_sharing).to.be.greaterThan(0);
  });
});
