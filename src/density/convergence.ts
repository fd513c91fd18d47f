// convergence.ts — owns when a density run's saving counts as converged, for both backends: the
// wait's stopping rule (enough full scans, then a steady saving) and, afterwards, when the saving
// first came within 1 % of its final value — in seconds and in full scans since the fleet was up.

import type { DensitySample } from './density-types.ts';

/** Full scans after the fleet is up before the saving may count as converged (smart_scan skips an unchanging page up to 8). */
export const CONVERGE_MIN_SCANS = 12;
/** The saving must hold within 1 % over this window before the wait ends. */
const STEADY_WINDOW_MS = 2000;

/** Pages KSM freed: every extra mapping of a KSM page, and every zero page mapped to the zero page. */
export function savedPages(c: Readonly<Record<string, number>>): number {
  return (c.pages_sharing ?? 0) + (c.ksm_zero_pages ?? 0);
}

/**
 * May the wait stop? At least CONVERGE_MIN_SCANS full scans since the fleet was up (so every page
 * has had its chance, even one smart_scan skips), and the saving steady within 1 % over the last two
 * seconds of samples (at least five of them). `nowT` is the phase clock (seconds) of the check.
 */
export function convergedNow(series: readonly DensitySample[], fullScans: number, scansAtFleetUp: number, nowT: number): boolean {
  if (fullScans < scansAtFleetUp + CONVERGE_MIN_SCANS) return false;
  const window = series.filter((s) => s.t * 1000 >= nowT * 1000 - STEADY_WINDOW_MS);
  if (window.length < 5) return false;
  const v = window.map((s) => savedPages(s.counters));
  const hi = Math.max(...v);
  return hi - Math.min(...v) <= Math.max(1, hi * 0.01);
}

export interface Convergence {
  /** Seconds after the fleet was up when the saving first reached 99 % of its final value; null if never. */
  readonly seconds: number | null;
  /** full_scans at that sample minus full_scans when the fleet was up; null if never. */
  readonly fullScans: number | null;
  readonly fullScansAtFleetUp: number;
  readonly fullScansAtConverge: number | null;
}

/**
 * When the saving converged, judged after the run from its samples: the first sample from `from` on
 * whose saving is ≥ 99 % of the last sample's. `upT` is the phase clock when the fleet was up.
 */
export function convergenceOf(series: readonly DensitySample[], from: number, upT: number, scansAtFleetUp: number): Convergence {
  const last = series[series.length - 1];
  if (!last) return { seconds: null, fullScans: null, fullScansAtFleetUp: scansAtFleetUp, fullScansAtConverge: null };
  const final = savedPages(last.counters);
  const hit = series.slice(from).find((s) => savedPages(s.counters) >= final * 0.99);
  if (!hit) return { seconds: null, fullScans: null, fullScansAtFleetUp: scansAtFleetUp, fullScansAtConverge: null };
  const at = hit.counters.full_scans ?? scansAtFleetUp;
  return { seconds: Math.max(0, hit.t - upT), fullScans: Math.max(0, at - scansAtFleetUp), fullScansAtFleetUp: scansAtFleetUp, fullScansAtConverge: at };
}

/** The convergence fields of a density result (the same on both backends). */
export function convergenceFields(c: Convergence | null | undefined): {
  converge_seconds: number | null; converge_full_scans: number | null; full_scans_at_fleet_up: number | null; full_scans_at_converge: number | null;
} {
  return {
    converge_seconds: c?.seconds ?? null,
    converge_full_scans: c?.fullScans ?? null,
    full_scans_at_fleet_up: c?.fullScansAtFleetUp ?? null,
    full_scans_at_converge: c?.fullScansAtConverge ?? null,
  };
}
