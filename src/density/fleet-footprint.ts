// fleet-footprint.ts — owns what a fleet will take of the real machine before it runs on the kernel:
// the guests' own memory (from their size=/pages= arguments or the workload's default size) plus the
// Node runtime of each guest process, checked against MemAvailable so a fleet that does not fit is
// refused before anything starts.

import { PAGE_SIZE } from '../mem/constants.ts';
import { WORKLOAD_DEFAULT_BYTES, isWorkloadName } from '../workloads/workload-catalog.ts';
import { parseBytes } from '../workloads/workload-args.ts';
import type { FleetEntry } from './density-types.ts';

/**
 * Resident memory of one linux-backend guest process besides the guest's own mappings: Node, V8's
 * heap and the compiled program. Measured ≈ 45 MiB (smaps_rollup Rss of an idle guest, Node 20);
 * rounded up so the check errs on the side of refusing.
 */
export const GUEST_RUNTIME_BYTES = 64 * 2 ** 20;
/** A program that is not one of the workloads and gives no size: assume the workloads' default. */
const UNKNOWN_PROGRAM_BYTES = 8 * 2 ** 20;

/** The bytes one guest of `entry` maps: its size= or pages= argument, else its workload's default. */
export function guestBytes(entry: FleetEntry): number {
  for (const arg of entry.args) {
    const [key, value] = splitArg(arg);
    // A malformed value is the guest's own error to report (it names the workload); count the default here.
    if (key === 'size' && parseBytes(value) !== undefined) return Math.ceil(parseBytes(value)! / PAGE_SIZE) * PAGE_SIZE;
    if (key === 'pages' && /^\d+$/.test(value)) return Number(value) * PAGE_SIZE;
  }
  return isWorkloadName(entry.workload) ? WORKLOAD_DEFAULT_BYTES[entry.workload] : UNKNOWN_PROGRAM_BYTES;
}

export interface FleetFootprint {
  readonly guests: number;
  /** Σ the guests' own memory (one phase: the two phases never run at once). */
  readonly guest_bytes: number;
  /** guest_bytes plus GUEST_RUNTIME_BYTES per guest. */
  readonly total_bytes: number;
}

export function fleetFootprint(fleet: readonly FleetEntry[]): FleetFootprint {
  let guests = 0;
  let bytes = 0;
  for (const e of fleet) {
    guests += e.count;
    bytes += e.count * guestBytes(e);
  }
  return { guests, guest_bytes: bytes, total_bytes: bytes + guests * GUEST_RUNTIME_BYTES };
}

/** Null when the fleet fits in `availableBytes`; otherwise the sentence that refuses it. */
export function fleetTooLarge(fleet: readonly FleetEntry[], availableBytes: number | null): string | null {
  if (availableBytes === null) return 'the machine\'s available memory is unknown (no MemAvailable in /proc/meminfo)';
  const f = fleetFootprint(fleet);
  if (f.total_bytes <= availableBytes) return null;
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return `the fleet needs ${mib(f.total_bytes)} (${f.guests} guests: ${mib(f.guest_bytes)} of guest memory + ${mib(GUEST_RUNTIME_BYTES)} of Node runtime each) ` +
    `but the machine has only ${mib(availableBytes)} available (MemAvailable): refused before starting anything`;
}

function splitArg(arg: string): [string, string] {
  const a = arg.replace(/^--/, '');
  const i = a.indexOf('=');
  return i < 0 ? [a, ''] : [a.slice(0, i), a.slice(i + 1)];
}
