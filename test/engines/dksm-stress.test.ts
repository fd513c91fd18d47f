// dksm-stress.test.ts — the DKSM stress check: read-only regions merge with no violation and no
// hazard; writable regions show DKSM's hazard, named as such, and still no protocol violation.
import { expect } from 'chai';
import { runDksmStress } from '../../src/stress/dksm-stress.ts';

describe('DKSM stress check', () => {
  for (const seed of [1, 2, 3]) {
    it(`merges read-only regions with 0 violations, 0 hazards and 0 leaked frames (seed ${seed})`, () => {
      const r = runDksmStress({ guests: 6, pages: 24, contents: 4, steps: 3000, seed, readonly: true });
      expect(r.violations).to.deep.equal([]);
      expect(r.hazards).to.deep.equal([]);
      expect(r.leaked_frames).to.equal(0);
      expect(r.pages_merged).to.be.greaterThan(0);
      expect(r.ok).to.equal(true);
    });
  }

  it('names the writable-region hazard in writable regions instead of reporting a protocol violation', () => {
    const r = runDksmStress({ guests: 6, pages: 24, contents: 4, steps: 3000, seed: 7, readonly: false });
    expect(r.hazards.length).to.be.greaterThan(0);
    expect(new Set(r.hazards.map((h) => h.what))).to.deep.equal(new Set(['DKSM writable-region hazard']));
    expect(r.violations).to.deep.equal([]);
    expect(r.leaked_frames).to.equal(0);
  });
});
