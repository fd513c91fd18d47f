// merge-policy.test.ts — the side-channel mitigations as merge rules (docs/security.md): merge domains
// keep guests of different domains from ever sharing a frame, zero-only merges nothing but pages of
// one repeated 0x00 or 0xff byte, and VUsion makes every page a scan left unmerged copy on its next
// write, as a merged one does. Every test ends with the counters equal to a recount (which also
// checks that no KSM frame is mapped from two domains).
import { expect } from 'chai';
import { MADV_MERGEABLE } from '../../src/mem/constants.ts';
import { PTE_KSM, PTE_WP_KSMD, PTE_WRITABLE, pteFrame } from '../../src/mem/pte.ts';
import { parseKsmDomains, parseMitigation } from '../../src/ksm/merge-policy.ts';
import { KsmHarness, SELFTEST_KNOBS, type ScriptedGuest } from '../helpers/ksm-harness.ts';
import { expectCountersMatchRecount } from '../helpers/recount.ts';

const P = 4096;

async function region(g: ScriptedGuest, name: string, pages: number, fill: Record<string, unknown>): Promise<number> {
  const { addr } = (await g.do({ op: 'mmap', region: name, pages })) as unknown as { addr: number };
  await g.do({ op: 'fill', region: name, ...fill });
  await g.do({ op: 'madvise', region: name, advice: MADV_MERGEABLE });
  return addr;
}

function pteOf(g: ScriptedGuest, addr: number): number {
  return Atomics.load(new Int32Array(g.handle.handles.pageTable), addr / P);
}

describe('side-channel mitigations: what may merge', function () {
  this.timeout(60_000);
  let h: KsmHarness | undefined;

  afterEach(async () => {
    await h?.shutdown();
    h = undefined;
  });

  it('--ksm-domains: equal pages merge within a domain and never across domains', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS, ksmDomains: parseKsmDomains('a=red,b=red,c=blue') });
    const guests = [await h.guest({ name: 'a' }), await h.guest({ name: 'b' }), await h.guest({ name: 'c' })];
    for (const g of guests) await region(g, 'r', 4, { kind: 'unique', seed: 10 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    // a and b share four KSM pages; c, alone in its domain, keeps its four pages private.
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([4, 4]);
    expect((await guests[2]!.ksmStat()).values.ksm_merging_pages).to.equal(0);
    await expectCountersMatchRecount(h.host);
  });

  it('--mitigation zero-only: only pages of one repeated 0x00 or 0xff byte merge', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS, mitigation: 'zero-only' });
    const guests = [await h.guest(), await h.guest()];
    for (const g of guests) {
      await region(g, 'data', 4, { kind: 'unique', seed: 20 });
      await region(g, 'zeros', 2, { kind: 'byte', value: 0 });
      await region(g, 'ones', 2, { kind: 'byte', value: 0xff });
      await region(g, 'other-byte', 2, { kind: 'byte', value: 0x11 });
    }
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    // One KSM page of zeros and one of 0xff, four mappers each; the data and the 0x11 pages stay apart.
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([2, 6]);
    for (const g of guests) expect((await g.verify()).mismatches).to.equal(0);
    await expectCountersMatchRecount(h.host);
  });

  it('--mitigation vusion: a page a scan left unmerged is write-protected, and its next write copies it to a new frame', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS, mitigation: 'vusion' });
    const g = await h.guest();
    const addr = await region(g, 'lonely', 1, { kind: 'unique', seed: 30 });
    await h.setKnobs({ run: 1 });
    await h.fullScans(2);
    const before = pteOf(g, addr);
    expect(before & PTE_WRITABLE, 'writable after a scan').to.equal(0);
    expect(before & PTE_WP_KSMD, 'write-protected by the engine').to.not.equal(0);
    await h.setKnobs({ run: 0 });
    await g.do({ op: 'poke', region: 'lonely', page: 0, bytes: [1] });
    const after = pteOf(g, addr);
    expect(after & PTE_WRITABLE).to.not.equal(0);
    expect(pteFrame(after), 'the write moved the page to a fresh frame').to.not.equal(pteFrame(before));
    expect((await g.verify()).mismatches).to.equal(0);
    await expectCountersMatchRecount(h.host);
  });

  it('--mitigation vusion still merges equal pages, each into a fresh frame (shared frames re-randomised)', async () => {
    h = await KsmHarness.start({ knobs: SELFTEST_KNOBS, mitigation: 'vusion' });
    const guests = [await h.guest(), await h.guest()];
    const addrs: number[] = [];
    for (const g of guests) addrs.push(await region(g, 'r', 4, { kind: 'unique', seed: 40 }));
    const before = new Set(guests.flatMap((g, i) => [0, 1, 2, 3].map((p) => pteFrame(pteOf(g, addrs[i]! + p * P)))));
    await h.setKnobs({ run: 1 });
    await h.fullScans(3);
    expect([h.counters().pages_shared, h.counters().pages_sharing]).to.deep.equal([4, 4]);
    for (let p = 0; p < 4; p++) {
      const pte = pteOf(guests[0]!, addrs[0]! + p * P);
      expect(pte & PTE_KSM).to.not.equal(0);
      expect(before.has(pteFrame(pte)), `page ${p}'s KSM frame was one of the guests' own`).to.equal(false);
    }
    for (const g of guests) expect((await g.verify()).mismatches).to.equal(0);
    await h.setKnobs({ run: 0 });
    await expectCountersMatchRecount(h.host);
  });

  it('--ksm-domains and --mitigation reject what they cannot parse, naming it', () => {
    expect(() => parseKsmDomains('a=red,b')).to.throw(/"b" is not GUEST=DOMAIN/);
    expect(() => parseKsmDomains('a=red,a=blue')).to.throw(/guest a is listed twice/);
    expect(() => parseMitigation('salt')).to.throw(/--mitigation "salt": expected one of none, domains, vusion, zero-only/);
    expect([...parseKsmDomains('web.0=x, web.1=y ,db.0=x')]).to.deep.equal([['web.0', 1], ['web.1', 2], ['db.0', 1]]);
  });
});
