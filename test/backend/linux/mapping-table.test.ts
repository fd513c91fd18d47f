// mapping-table.test.ts — the linux backend's record of guest mappings, on plain ArrayBuffers.
import { expect } from 'chai';
import { MappingTable } from '../../../src/backend/linux/mapping-table.ts';
import { PAGE_SIZE as P, PROT_NONE, PROT_READ, PROT_WRITE } from '../../../src/mem/constants.ts';

const RW = PROT_READ | PROT_WRITE;

describe('linux backend: mapping table', function () {
  it('finds byte runs across adjacent mappings and EFAULTs (undefined) on a hole', function () {
    const t = new MappingTable();
    t.add(10 * P, 2 * P, RW, false, new ArrayBuffer(2 * P));
    t.add(12 * P, P, RW, false, new ArrayBuffer(P));
    t.add(20 * P, P, RW, false, new ArrayBuffer(P));
    const runs = t.access(12 * P - 4, 8, true)!;
    expect(runs.map((r) => [r.offset, r.length])).to.deep.equal([[2 * P - 4, 4], [0, 4]]);
    expect(t.access(13 * P - 1, 2, false)).to.equal(undefined);
    expect(t.covers(10 * P, 13 * P)).to.equal(true);
    expect(t.covers(10 * P, 14 * P)).to.equal(false);
  });

  it('splits protections per page range and checks them on access', function () {
    const t = new MappingTable();
    t.add(0, 4 * P, RW, false, new ArrayBuffer(4 * P));
    for (const m of t.split(P, 2 * P)) m.prot = PROT_READ;
    for (const m of t.split(3 * P, 4 * P)) m.prot = PROT_NONE;
    expect(t.all.map((m) => [m.start / P, m.end / P, m.prot])).to.deep.equal([[0, 1, RW], [1, 2, PROT_READ], [2, 3, RW], [3, 4, PROT_NONE]]);
    expect(t.access(P, 1, false)).to.have.length(1);
    expect(t.access(P, 1, true)).to.equal(undefined);
    expect(t.access(3 * P, 1, false)).to.equal(undefined);
  });

  it('frees a buffer only when its last piece is removed', function () {
    const t = new MappingTable();
    t.add(0, 3 * P, RW, false, new ArrayBuffer(3 * P));
    expect(t.remove(P, 2 * P)).to.deep.equal([]);
    expect(t.overlapping(0, 3 * P)).to.deep.equal([[0, P], [2 * P, 3 * P]]);
    expect(t.contiguousFrom(0, 3 * P)).to.have.length(1);
    expect(t.remove(0, P)).to.deep.equal([]);
    const freed = t.remove(0, 3 * P);
    expect(freed).to.have.length(1);
    expect(freed[0].bytes.byteLength).to.equal(3 * P);
    expect(t.all).to.deep.equal([]);
  });
});
