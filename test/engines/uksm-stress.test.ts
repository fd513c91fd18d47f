// uksm-stress.test.ts — UKSM under concurrency: guests on worker threads churn shared contents while
// the scanner merges on the host thread; no byte differs from a guest's shadow, no frame leaks.
import { expect } from 'chai';
import { runUksmStress } from '../../src/stress/uksm-stress.ts';

describe('UKSM concurrency check', function () {
  this.timeout(60_000);

  it('merges pages guests are writing, with 0 violations, 0 guest failures and 0 leaked frames', async () => {
    const r = await runUksmStress({ guests: 4, seconds: 2, seed: 11 });
    expect(r.violations).to.deep.equal([]);
    expect(r.guest_failures).to.deep.equal([]);
    expect(r.leaked_frames).to.equal(0);
    expect(r.max_pages_sharing).to.be.greaterThan(0);
    expect(r.ok).to.equal(true);
  });
});
