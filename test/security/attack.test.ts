// attack.test.ts — the side-channel lab end to end (docs/security.md): on a small seeded host the
// content probe names the victim's secret without a mitigation, and is at chance (1/K, within
// binomial noise) under each mitigation; the covert channel carries bits without one. The bounds
// are on accuracies, never on times (the machine is shared and noisy).
import { expect } from 'chai';
import { MITIGATIONS } from '../../src/ksm/merge-policy.ts';
import { runAttack } from '../../src/security/attack-run.ts';
import { PROBE, chanceBound } from '../helpers/attack-lab.ts';

describe('side-channel attacks against KSM, and the mitigations', function () {
  this.timeout(120_000);

  it('the content probe names the victim\'s secret page from one timed write per candidate when nothing mitigates it', async () => {
    const r = await runAttack(PROBE);
    // > 95 % on a quiet machine (docs/security.md); a loaded test machine preempts some timed writes.
    expect(r.accuracy).to.be.at.least(0.75);
    expect(r.chance).to.equal(1 / 8);
  });

  for (const mitigation of MITIGATIONS.filter((m) => m !== 'none')) {
    it(`under --mitigation ${mitigation} the content probe does no better than chance`, async () => {
      const r = await runAttack({ ...PROBE, mitigation });
      expect(r.accuracy).to.be.below(chanceBound(PROBE.trials, PROBE.candidates));
    });
  }

  it('two cooperating guests send bits through merges, with few errors, when nothing mitigates it', async () => {
    const r = await runAttack({ ...PROBE, scenario: 'covert', trials: 4, bits: 16 });
    expect(r.bit_error_rate).to.be.below(0.3);
    expect(r.bits_per_second).to.be.above(0);
  });

  it('under --ksm-domains the covert channel is noise: about half the bits are wrong', async () => {
    const r = await runAttack({ ...PROBE, scenario: 'covert', mitigation: 'domains', trials: 4, bits: 16 });
    expect(r.bit_error_rate).to.be.above(1 - chanceBound(64, 2));
  });
});
