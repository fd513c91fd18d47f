// compare.ts — owns turning the guests' log lines into checkpoints and comparing the emulator's with
// the kernel's, checkpoint by checkpoint, against the documented deviations.

import type { BackendRun, GuestRun } from './backends.ts';
import { CHECK_PREFIX, NOTE_PREFIX } from './checkpoint.ts';
import { findDeviation, type Deviation } from './deviations.ts';

/** Checkpoints in the order logged: key → value text. */
export type Checkpoints = Map<string, string>;

export interface Observed {
  readonly checks: Checkpoints;
  readonly notes: Checkpoints;
}

export interface Difference {
  readonly checkpoint: string;
  /** undefined: the backend never logged this checkpoint. */
  readonly emulator?: string;
  readonly linux?: string;
  /** The reason, when this difference is a documented deliberate deviation. */
  readonly deviation?: string;
}

export interface ScenarioComparison {
  readonly name: string;
  /** Checkpoints logged by either backend. */
  readonly checkpoints: number;
  /** Every checkpoint equal on both backends. */
  readonly agree: boolean;
  /** No difference other than documented deviations. */
  readonly passed: boolean;
  readonly differences: Difference[];
  readonly notes?: { emulator: Record<string, string>; linux: Record<string, string> };
}

/**
 * The checkpoints of one backend's run: each guest's `CHECK name value` lines (keyed `name` with one
 * guest, `gI.name` with several; a repeated name gets `#2`, `#3`…) and each guest's exit status.
 */
export function observe(guests: readonly GuestRun[]): Observed {
  const checks: Checkpoints = new Map();
  const notes: Checkpoints = new Map();
  const many = guests.length > 1;
  guests.forEach((g, i) => {
    const prefix = many ? `g${i}.` : '';
    for (const line of g.logs) {
      const target = line.startsWith(CHECK_PREFIX) ? checks : line.startsWith(NOTE_PREFIX) ? notes : undefined;
      if (!target) continue;
      const rest = line.slice((target === checks ? CHECK_PREFIX : NOTE_PREFIX).length);
      const sp = rest.indexOf(' ');
      const name = sp < 0 ? rest : rest.slice(0, sp);
      const value = sp < 0 ? '' : rest.slice(sp + 1);
      let key = prefix + name;
      for (let n = 2; target.has(key); n++) key = `${prefix}${name}#${n}`;
      target.set(key, value);
    }
    checks.set(`${prefix}exit`, g.exitCode === 0 ? '0' : `${g.exitCode}${g.error ? ` (${g.error})` : ''}`);
  });
  return { checks, notes };
}

/** Compare two sets of checkpoints; keys are taken in the emulator's order, then the kernel's extras. */
export function compareCheckpoints(scenario: string, emulator: Checkpoints, linux: Checkpoints, deviations?: readonly Deviation[]): Difference[] {
  const keys = [...emulator.keys(), ...[...linux.keys()].filter((k) => !emulator.has(k))];
  const out: Difference[] = [];
  for (const key of keys) {
    const e = emulator.get(key);
    const l = linux.get(key);
    if (e === l) continue;
    const dev = findDeviation(scenario, key, e, l, deviations);
    out.push({ checkpoint: key, emulator: e, linux: l, ...(dev ? { deviation: dev.reason } : {}) });
  }
  return out;
}

/** Exit status checkpoints compare only the status: an error text is kept for the reader. */
export function statusOnly(c: Checkpoints): Checkpoints {
  const out: Checkpoints = new Map();
  for (const [k, v] of c) out.set(k, /(^|\.)exit$/.test(k) ? v.replace(/ \(.*$/s, '') : v);
  return out;
}

export function compareRuns(scenario: string, emulator: BackendRun, linux: BackendRun, deviations?: readonly Deviation[]): ScenarioComparison {
  const e = observe(emulator.guests);
  const l = observe(linux.guests);
  const differences = compareCheckpoints(scenario, statusOnly(e.checks), statusOnly(l.checks), deviations).map((d) =>
    /(^|\.)exit$/.test(d.checkpoint) ? { ...d, emulator: e.checks.get(d.checkpoint), linux: l.checks.get(d.checkpoint) } : d);
  // A guest that failed on both backends agrees with itself, but the scenario did not run: a failure.
  for (const [k, v] of e.checks) {
    if (/(^|\.)exit$/.test(k) && v !== '0' && l.checks.has(k) && l.checks.get(k) !== '0') {
      differences.push({ checkpoint: k, emulator: v, linux: l.checks.get(k) });
    }
  }
  const keys = new Set([...e.checks.keys(), ...l.checks.keys()]);
  return {
    name: scenario,
    checkpoints: keys.size,
    agree: differences.length === 0,
    passed: differences.every((d) => d.deviation !== undefined),
    differences,
    notes: { emulator: Object.fromEntries(e.notes), linux: Object.fromEntries(l.notes) },
  };
}
