// capacity-text.ts — owns how a capacity result reads in every report (headline, HTML, CSV): the
// gain with its bound ("2.50×", "≥ 5.84×", "unknown") and why each run stopped.

import { stopDetail } from '../density/capacity-run.ts';
import type { CapacityResult, CapacityWithSwap } from '../density/density-types.ts';

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

/** One sentence: both runs, why each stopped, and the gain (and with --swap, a second sentence). */
export function capacitySentence(c: CapacityResult): string {
  const base = `Capacity (${capText(c)}): ${c.without_ksm.guests} guests fit without KSM (stopped by ${stopDetail(c.without_ksm.stop)})`
    + ` and ${c.with_ksm.guests} with it (stopped by ${stopDetail(c.with_ksm.stop)}): a density gain of ${gainText(c)}${gainCaveat(c)}.`;
  return c.with_swap ? `${base} ${swapSentence(c.with_swap)}` : base;
}

const signed = (n: number): string => (n >= 0 ? `+${n}` : String(n));

/** With --swap: how many more guests fit with swap, and what each cost in swap-ins. */
export function swapSentence(w: CapacityWithSwap): string {
  const cost = (r: CapacityWithSwap['with_ksm']): string => (r.swap ? `${r.swap.swap_ins_per_guest.toFixed(0)} swap-ins per guest over ${r.seconds.toFixed(0)} s` : 'no swap figures');
  return `With ${(w.swap_bytes / 2 ** 20).toFixed(0)} MiB of swap: ${w.without_ksm.guests} guests without KSM (${signed(w.extra_guests_without_ksm)}, ${cost(w.without_ksm)}, stopped by ${stopDetail(w.without_ksm.stop)})`
    + ` and ${w.with_ksm.guests} with it (${signed(w.extra_guests_with_ksm)}, ${cost(w.with_ksm)}, ksm_swpin_copy ${w.with_ksm.swap?.ksm_swpin_copy ?? 0}, stopped by ${stopDetail(w.with_ksm.stop)}).`;
}
