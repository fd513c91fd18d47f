// capacity-swap.test.ts — `ksmsim density --capacity --swap SIZE`: the capacity pair again on hosts
// with swap, how many more guests fit and what each costs in swap-ins; samples carry /proc figures.
import { expect } from 'chai';
import { runDensity, type DensityOptions } from '../../src/density/density-runner.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { parseFleetSpec } from '../../src/density/fleet-spec.ts';
import { runCli } from '../helpers/run-cli.ts';
import { summaryCsv } from '../../src/report/csv-report.ts';
import { renderDensityHtml } from '../../src/report/html-report.ts';
import { capacitySentence } from '../../src/report/capacity-text.ts';

const SWAP = 16 * 2 ** 20;
const OPTIONS: DensityOptions = {
  memoryBytes: 16 * 2 ** 20, numaNodes: 1, knobs: [['sleep_millisecs', '0']], mergeAcrossNodes: '1', capacity: true,
  maxGuests: 48, maxSeconds: 15, sampleMs: 50, log: () => {}, swapBytes: SWAP,
};

describe('ksmsim density --capacity --swap', function () {
  this.timeout(180_000);
  let result: DensityResult;

  before(async () => {
    result = await runDensity(OPTIONS, parseFleetSpec('web:2:size=1MiB;rate=50'));
  });

  it('runs the capacity pair again with swap, both runs stopped at memory and swap full', () => {
    const w = result.capacity!.with_swap!;
    expect(w.swap_bytes).to.equal(SWAP);
    expect([w.without_ksm.stop_text, w.with_ksm.stop_text]).to.deep.equal(['oom', 'oom']);
  });

  it('fits more guests with swap than without (16 MiB of swap for 1 MiB guests on a 16 MiB host)', () => {
    const c = result.capacity!;
    expect(c.with_swap!.extra_guests_without_ksm).to.equal(c.with_swap!.without_ksm.guests - c.without_ksm.guests);
    expect(c.with_swap!.extra_guests_with_ksm).to.equal(c.with_swap!.with_ksm.guests - c.with_ksm.guests);
    // Guests in both runs run their workloads while ksmd reclaims; a loaded machine can end one run
    // early (ksmd starved), so the claim is on the pair, not on each run.
    expect(c.with_swap!.extra_guests_without_ksm + c.with_swap!.extra_guests_with_ksm).to.be.greaterThan(0);
  });

  it('reports each swap run\'s traffic, and swap-ins per guest as pswpin over the guests that fit', () => {
    for (const r of [result.capacity!.with_swap!.without_ksm, result.capacity!.with_swap!.with_ksm]) {
      expect(r.swap!.pswpout).to.be.greaterThan(0);
      expect(r.swap!.swap_used_bytes).to.be.within(1, SWAP);
      expect(r.swap!.swap_ins_per_guest).to.be.closeTo(r.swap!.pswpin / r.guests, 1e-9);
    }
    expect(result.capacity!.without_ksm.swap).to.equal(undefined);
  });

  it('gives every sample the host\'s vmstat counters and meminfo figures', () => {
    const s = result.series.with_ksm.at(-1)!;
    expect(s.vmstat).to.have.property('cow_ksm');
    expect(s.vmstat).to.have.property('thp_split_page', 0);
    expect(s.meminfo_kb!.MemTotal).to.be.greaterThan(0);
    expect(s.meminfo_kb).to.have.property('AnonHugePages', 0);
  });

  it('puts the swap runs in the CSV summary, the HTML report and the headline', () => {
    const w = result.capacity!.with_swap!;
    expect(summaryCsv(result)).to.contain(`extra_guests_with_swap_with_ksm,${w.extra_guests_with_ksm}\n`);
    expect(renderDensityHtml(result)).to.contain('of swap, with KSM');
    expect(capacitySentence(result.capacity!)).to.match(/With 16 MiB of swap: \d+ guests without KSM \(\+\d+, \d+ swap-ins per guest/);
  });

  it('refuses --swap without --capacity, naming the flag', async () => {
    const run = await runCli(['density', '--swap', '8MiB', '--fleet', 'idle:1:size=1MiB', '--quiet']);
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.match(/--swap 8388608: swap is measured in capacity mode; add --capacity/);
  });
});
