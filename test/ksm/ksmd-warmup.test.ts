// ksmd-warmup.test.ts — the warm-up ksmd runs at boot really exercises the merge and unstable-tree
// paths on its own scratch memory (a warm-up that silently did nothing would compile nothing).
import { expect } from 'chai';
import { warmUpEngine } from '../../src/ksm/ksmd-warmup.ts';

describe('ksmd warm-up at boot', () => {
  it('merges the identical three quarters of its scratch area in each of its two rounds', () => {
    expect(warmUpEngine()).to.equal(2 * 1536);
  });
});
