// capacity-text.ts — owns how a capacity result reads in every report (headline, HTML, CSV): the
// gain with its bound ("2.50×", "≥ 5.84×", "unknown") and why each run stopped.

import { stopDetail } from '../density/capacity-run.ts';
import type { CapacityResult } from '../density/density-types.ts';

/** "2.50×" (exact), "≥ 5.84×" (the KSM-on run hit the cap or the clock), "unknown" (the ratio measures nothing). */
export function gainText(c: CapacityResult): string {
  if (c.density_gain === null || c.density_gain_bound === 'unknown') return 'unknown';
  return `${c.density_gain_bound === 'at-least' ? '≥ ' : ''}${c.density_gain.toFixed(2)}×`;
}

/** Where the cap came from, in words. */
export function capText(c: CapacityResult): string {
  const b = c.max_guests_basis;
  if (!b) return `cap ${c.max_guests} guests (--max-guests)`;
  const why = { memory: 'what the host memory could hold if KSM merged every page', machine: 'the real machine\'s free memory for guest threads', ceiling: 'the 512-guest ceiling' }[b.limited_by];
  return `cap ${c.max_guests} guests, from ${why}`;
}

/** Why the gain is not exact, or '' when it is. */
function gainCaveat(c: CapacityResult): string {
  if (c.density_gain_bound === 'at-least') return ' — a lower bound: the KSM-on run stopped before memory was full';
  if (c.density_gain_bound === 'unknown') {
    return c.without_ksm.stop.kind !== 'oom'
      ? ' — the KSM-off run did not end at memory full, so the ratio measures nothing'
      : ' — a guest failed, so the ratio measures nothing';
  }
  return '';
}

/** One sentence: both runs, why each stopped, and the gain. */
export function capacitySentence(c: CapacityResult): string {
  return `Capacity (${capText(c)}): ${c.without_ksm.guests} guests fit without KSM (stopped by ${stopDetail(c.without_ksm.stop)})`
    + ` and ${c.with_ksm.guests} with it (stopped by ${stopDetail(c.with_ksm.stop)}): a density gain of ${gainText(c)}${gainCaveat(c)}.`;
}
