// sysfs-rules.test.ts — the errnos and knob rules of /sys/kernel/mm/ksm (ksm.rst, mm/ksm.c, and the
// figures measured on Linux 6.18 in docs/kernel-ksm.md), against a running ksmd with
// merged pages where the rule depends on them. Tests that merge end with the counters equal to a
// recount from the page tables.
import { expect } from 'chai';
import { MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { KsmHarness, KSM, SELFTEST_KNOBS, type ScriptedGuest } from '../helpers/ksm-harness.ts';
import { expectCountersMatchRecount } from '../helpers/recount.ts';

/** Expect a knob write (or any promise) to fail with `code`. */
async function expectErrno(p: Promise<unknown>, code: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}, but it succeeded`).to.be.instanceOf(Error);
  expect((err as { code?: string }).code, String(err)).to.equal(code);
}

async function mergeEqualPages(h: KsmHarness, pages: number): Promise<ScriptedGuest> {
  const g = await h.guest();
  await g.do({ op: 'mmap', region: 'a', pages });
  await g.do({ op: 'fill', region: 'a', kind: 'seeded', seed: 42 });
  await g.do({ op: 'madvise', region: 'a', advice: MADV_MERGEABLE });
  await h.setKnobs({ run: 1 });
  await h.fullScans(2);
  expect(h.counters().pages_shared).to.be.greaterThan(0);
  return g;
}

describe('KSM sysfs rules and errnos', function () {
  this.timeout(30_000);
  let h: KsmHarness | undefined;

  afterEach(async () => {
    await h?.shutdown();
    h = undefined;
  });

  it('merge_across_nodes is EBUSY while KSM pages exist and changes after run=2', async () => {
    h = await KsmHarness.start({ numaNodes: 2, knobs: SELFTEST_KNOBS });
    const g = await mergeEqualPages(h, 8);
    await expectErrno(h.host.writeFile(KSM + 'merge_across_nodes', '0'), 'EBUSY');
    expect(h.read('merge_across_nodes')).to.equal(1);
    await h.host.writeFile(KSM + 'merge_across_nodes', '1'); // the value it has: accepted
    await expectErrno(h.host.writeFile(KSM + 'merge_across_nodes', '2'), 'EINVAL');
    await h.setKnobs({ run: 2 });
    await h.host.writeFile(KSM + 'merge_across_nodes', '0');
    expect(h.read('merge_across_nodes')).to.equal(0);
    // ksm.rst's recipe: run=2, change it, run=1 — the pages (all on node 0) merge again.
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([1, 7]);
    expect((await g.verify()).mismatches).to.equal(0);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('max_page_sharing is EBUSY while KSM pages exist, accepts its own value, and changes after run=2', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    const g = await mergeEqualPages(h, 8);
    await expectErrno(h.host.writeFile(KSM + 'max_page_sharing', '4'), 'EBUSY');
    expect(h.read('max_page_sharing')).to.equal(256);
    await h.host.writeFile(KSM + 'max_page_sharing', '256');
    await h.setKnobs({ run: 2 });
    await h.host.writeFile(KSM + 'max_page_sharing', '4');
    expect(h.read('max_page_sharing')).to.equal(4);
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const c = h.counters();
    expect([c.pages_shared, c.pages_sharing, c.stable_node_dups, c.stable_node_chains]).to.deep.equal([2, 6, 2, 1]);
    expect((await g.verify()).mismatches).to.equal(0);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('max_page_sharing below 2 is EINVAL, whether or not KSM pages exist', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS });
    for (const v of ['1', '0', '-1', 'abc']) await expectErrno(h.host.writeFile(KSM + 'max_page_sharing', v), 'EINVAL');
    await mergeEqualPages(h, 4);
    await expectErrno(h.host.writeFile(KSM + 'max_page_sharing', '1'), 'EINVAL');
    expect(h.read('max_page_sharing')).to.equal(256);
    await h.fullScans(1);
    await expectCountersMatchRecount(h.host);
  });

  it('pages_to_scan is EINVAL while advisor_mode is scan-time; each mode change resets pages_to_scan', async () => {
    h = await KsmHarness.start();
    await h.host.writeFile(KSM + 'pages_to_scan', '1234');
    expect(h.host.readFile(KSM + 'advisor_mode')).to.equal('[none] scan-time\n');
    await h.host.writeFile(KSM + 'advisor_mode', 'scan-time');
    expect(h.host.readFile(KSM + 'advisor_mode')).to.equal('none [scan-time]\n');
    expect(h.read('pages_to_scan')).to.equal(500); // advisor_min_pages_to_scan
    await expectErrno(h.host.writeFile(KSM + 'pages_to_scan', '100'), 'EINVAL');
    expect(h.read('pages_to_scan')).to.equal(500);
    await h.host.writeFile(KSM + 'advisor_min_pages_to_scan', '700');
    await h.host.writeFile(KSM + 'advisor_mode', 'scan-time'); // no change: no reset
    expect(h.read('pages_to_scan')).to.equal(500);
    await h.host.writeFile(KSM + 'advisor_mode', 'none\n');
    expect(h.read('pages_to_scan')).to.equal(100); // DEFAULT_PAGES_TO_SCAN, not the 1234 of before
    await h.host.writeFile(KSM + 'pages_to_scan', '1234');
    await h.host.writeFile(KSM + 'advisor_mode', 'scan-time');
    expect(h.read('pages_to_scan')).to.equal(700);
    await expectErrno(h.host.writeFile(KSM + 'advisor_mode', 'bogus'), 'EINVAL');
    await expectErrno(h.host.writeFile(KSM + 'advisor_target_scan_time', '0'), 'EINVAL');
    await expectCountersMatchRecount(h.host);
  });

  it('smart_scan skips unchanging unmerged pages after a few scans (pages_skipped grows), and never with smart_scan 0', async () => {
    h = await KsmHarness.start({ knobs: { ...SELFTEST_KNOBS, smart_scan: 0 } });
    const g = await h.guest();
    await g.do({ op: 'mmap', region: 'u', pages: 32 });
    await g.do({ op: 'fill', region: 'u', kind: 'unique', seed: 500 }); // nothing to merge
    await g.do({ op: 'madvise', region: 'u', advice: MADV_MERGEABLE });
    await h.setKnobs({ run: 1 });
    await h.fullScans(12);
    expect(h.read('pages_skipped')).to.equal(0);
    expect(h.read('pages_unshared')).to.equal(32);
    expect(h.read('pages_volatile')).to.equal(0);
    await h.setKnobs({ smart_scan: 1 });
    await h.fullScans(12);
    const first = h.read('pages_skipped');
    expect(first).to.be.greaterThan(0);
    await h.fullScans(8);
    expect(h.read('pages_skipped')).to.be.greaterThan(first);
    // Skipped pages keep their rmap items; they only leave the unstable tree.
    expect(h.counters().rmap_items).to.equal(32);
    expect((await g.verify()).mismatches).to.equal(0);
    await expectCountersMatchRecount(h.host);
  });

  it('rejects bad values with EINVAL: run 3, pages_to_scan "abc", sleep_millisecs -1, use_zero_pages "x"', async () => {
    h = await KsmHarness.start();
    await expectErrno(h.host.writeFile(KSM + 'run', '3'), 'EINVAL');
    await expectErrno(h.host.writeFile(KSM + 'pages_to_scan', 'abc'), 'EINVAL');
    await expectErrno(h.host.writeFile(KSM + 'sleep_millisecs', '-1'), 'EINVAL');
    await expectErrno(h.host.writeFile(KSM + 'use_zero_pages', 'x'), 'EINVAL');
    await expectErrno(h.host.writeFile(KSM + 'smart_scan', 'maybe'), 'EINVAL');
    expect([h.read('run'), h.read('pages_to_scan'), h.read('sleep_millisecs')]).to.deep.equal([0, 100, 20]);
    await expectCountersMatchRecount(h.host);
  });

  it('a read-only file is EACCES, an unknown file ENOENT, and a guest that is not root gets EACCES', async () => {
    h = await KsmHarness.start();
    await expectErrno(h.host.writeFile(KSM + 'pages_shared', '1'), 'EACCES');
    await expectErrno(h.host.writeFile(KSM + 'general_profit', '1'), 'EACCES');
    await expectErrno(h.host.writeFile(KSM + 'no_such_knob', '1'), 'ENOENT');
    expect(() => h!.host.readFile(KSM + 'no_such_knob')).to.throw().with.property('code', 'ENOENT');
    const user = await h.guest();
    const root = await h.guest({ root: true });
    expect((await user.try({ op: 'write-file', path: KSM + 'sleep_millisecs', text: '5' })).code).to.equal('EACCES');
    expect((await user.do({ op: 'read-file', path: KSM + 'sleep_millisecs' })).text).to.equal('20\n');
    await root.do({ op: 'write-file', path: KSM + 'sleep_millisecs', text: '5' });
    expect(h.read('sleep_millisecs')).to.equal(5);
    expect((await root.try({ op: 'write-file', path: KSM + 'full_scans', text: '0' })).code).to.equal('EACCES');
    expect((await root.try({ op: 'write-file', path: KSM + 'max_page_sharing', text: '1' })).code).to.equal('EINVAL');
    await expectCountersMatchRecount(h.host);
  });
});
