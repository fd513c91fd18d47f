// recount.test.ts — the recount helper (test/helpers/recount.ts) itself: it agrees with a known state
// and it notices a wrong counter, a wrong mapcount and a lost frame, so "counters equal the recount"
// in the other tests is not vacuous.
import { expect } from 'chai';
import { MADV_DONTNEED, MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { recountDifferences as differencesFrom } from '../../src/stress/recount.ts';
import { KsmHarness, SELFTEST_KNOBS } from '../helpers/ksm-harness.ts';
import { hostCounters, recount, recountDifferences } from '../helpers/recount.ts';

describe('the KSM recount helper', function () {
  this.timeout(30_000);
  let h: KsmHarness | undefined;

  afterEach(async () => {
    await h?.shutdown();
    h = undefined;
  });

  it('counts nothing on an idle host, and every frame but the zero page is free', async () => {
    h = await KsmHarness.start();
    const r = recount(h.host);
    expect(r.counters).to.deep.equal({
      pages_shared: 0, pages_sharing: 0, ksm_zero_pages: 0, rmap_items: 0, stable_node_chains: 0, stable_node_dups: 0, general_profit: 0,
    });
    expect(r.frames.free + 1).to.equal(r.frames.total);
    expect(recountDifferences(h.host, r)).to.deep.equal([]);
  });

  it('recounts a known merge, and reports a wrong counter, a wrong mapcount and a leaked frame', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await h.guest();
    await g.do({ op: 'mmap', region: 'a', pages: 12 });
    await g.do({ op: 'fill', region: 'a', kind: 'seeded', seed: 1 });
    await g.do({ op: 'mmap', region: 'b', pages: 3 }); // not mergeable: private, no rmap items
    await g.do({ op: 'fill', region: 'b', kind: 'seeded', seed: 1 });
    await g.do({ op: 'madvise', region: 'a', advice: MADV_MERGEABLE });
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    await h.setKnobs({ run: 0 }); // freeze the counters while we tamper
    const r = recount(h.host);
    expect(r.counters).to.include({ pages_shared: 1, pages_sharing: 11, rmap_items: 12, general_profit: 11 * 4096 - 12 * 64 });
    expect(r.frames).to.include({ private: 3 + 1, ksm: 1 }); // region b + the mailbox page
    expect(r.guests[0]).to.include({ rmapItems: 12, mergingPages: 12, ksmZeroPages: 0 });
    expect(recountDifferences(h.host, r)).to.deep.equal([]);

    const mem = h.host.memory;
    h.host.ksm.add('pages_sharing', 1);
    expect(recountDifferences(h.host, recount(h.host)).join('\n')).to.contain('pages_sharing: ksmd says 12, recount says 11');
    h.host.ksm.add('pages_sharing', -1);

    const k = [...r.ksmMappers.keys()][0]!;
    mem.addMapcount(k, 1);
    expect(recount(h.host).problems.join('\n')).to.contain(`KSM frame ${k}: mapcount 13, but 12 PTEs map it`);
    mem.addMapcount(k, -1);

    const leaked = mem.allocZeroed(0);
    expect(recount(h.host).problems.join('\n')).to.match(/frames: .* but the host has/);
    mem.free(leaked);
    expect(recountDifferences(h.host, recount(h.host))).to.deep.equal([]);
  });

  it('a chain dup whose KSM page is gone stays counted until a search prunes it: the chain census explains it, a plain recount does not', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, max_page_sharing: 2 } });
    const g = await h.guest();
    await g.do({ op: 'mmap', region: 'a', pages: 4 });
    await g.do({ op: 'fill', region: 'a', kind: 'seeded', seed: 3 });
    await g.do({ op: 'madvise', region: 'a', advice: MADV_MERGEABLE });
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    expect(h.counters()).to.include({ pages_shared: 2, pages_sharing: 2, stable_node_chains: 1, stable_node_dups: 2 });
    // Pages 2 and 3 share the second dup. Dropping them frees its KSM page; no page left to merge
    // searches the stable tree, so the chain keeps its dead dup, as the kernel's would.
    await g.do({ op: 'madvise', region: 'a', from: 2, count: 2, advice: MADV_DONTNEED });
    await h.fullScans(2);
    await h.setKnobs({ run: 0 });
    expect(h.counters()).to.include({ pages_shared: 1, pages_sharing: 1, stable_node_chains: 1, stable_node_dups: 1 });
    const r = recount(h.host);
    expect(r.counters).to.include({ stable_node_chains: 0, stable_node_dups: 0 });
    expect(recountDifferences(h.host, r)).to.deep.equal([
      'stable_node_chains: ksmd says 1, recount says 0',
      'stable_node_dups: ksmd says 1, recount says 0',
    ]);
    const census = (await h.host.ksmd!.stats()).chains;
    expect(census).to.deep.equal({ chains: 1, dups: 1, liveChains: 0, liveDups: 0 });
    expect(differencesFrom(hostCounters(h.host), r, census)).to.deep.equal([]);
    // A census that disagrees with the published counters is still a mismatch.
    expect(differencesFrom(hostCounters(h.host), r, { ...census, dups: 2 })).to.have.length(1);
  });
});
