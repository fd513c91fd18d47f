// capacity-run.ts — owns one capacity run: launch guests (round-robin over the fleet) one at a time
// until one does not fit, and say why the run stopped (oom, max-guests, guest-failed, timeout).

import type { GuestHandle, GuestReport } from '../host/host.ts';
import { applyKnobs, DENSITY_DEFAULT_KNOBS, engineOffKnobs, engineOnKnobs, expand, freeBytes, startHost, usedBytes, type DensityOptions } from './density-host.ts';
import type { Host } from '../host/host.ts';
import type { CapacityRun, CapacityStop, CapacitySwap, FleetEntry } from './density-types.ts';

/** Longest a capacity run may take unless DensityOptions.capacitySeconds says otherwise. */
export const CAPACITY_SECONDS_DEFAULT = 300;
/** Longest one guest may take to log READY before the run stops with `timeout`. */
const READY_TIMEOUT_MS = 60_000;

export interface CapacityPlan {
  readonly maxGuests: number;
  /** Bytes a guest of fleet entry `i` holds before KSM merged any of it (measured by the KSM-off phase). */
  readonly footprintBytes: readonly number[];
}

/** The stop reason as the reports print it: `oom`, `max-guests`, `guest-failed: NAME: reason`, `timeout`. */
export function stopText(s: CapacityStop): string {
  return s.kind === 'guest-failed' ? `guest-failed: ${s.guest}: ${s.detail}` : s.kind;
}

/** The stop reason with its circumstances, for a sentence. */
export function stopDetail(s: CapacityStop): string {
  switch (s.kind) {
    case 'oom': return `oom: ${s.guest} was OOM-killed`;
    case 'max-guests': return `max-guests: reached the cap of ${s.max_guests} guests`;
    case 'guest-failed': return stopText(s);
    case 'timeout': return `timeout: ${s.detail}`;
  }
}

function stopOf(r: GuestReport): CapacityStop | undefined {
  if (r.status === 'oom-killed') return { kind: 'oom', guest: r.name, detail: r.error ?? 'out of memory' };
  if (r.status === 'failed') return { kind: 'guest-failed', guest: r.name, detail: r.error ?? `exit status ${r.exitCode}` };
  return undefined; // exited 0: its hold ran out — one guest fewer, not a reason to stop
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function swapFigures(host: Host, swapBytes: number, guests: number): CapacitySwap {
  const vm = host.memory.vmstat;
  const use = host.swapUsage();
  return {
    swap_bytes: swapBytes,
    swap_used_bytes: use?.usedBytes ?? 0,
    pswpout: vm.get('pswpout'),
    pswpin: vm.get('pswpin'),
    swap_ins_per_guest: guests ? vm.get('pswpin') / guests : 0,
    ksm_swpin_copy: vm.get('ksm_swpin_copy'),
  };
}

/** One capacity run; with `swapBytes` its host has that much swap (and the run reports its swap traffic). */
export async function runCapacity(o: DensityOptions, fleet: readonly FleetEntry[], ksmOn: boolean, plan: CapacityPlan, swapBytes = 0): Promise<CapacityRun> {
  const ready = new Set<string>();
  const host = await startHost(o, ready, swapBytes);
  const handles: GuestHandle[] = [];
  const label = `capacity ${ksmOn ? 'with' : 'without'} KSM${swapBytes ? ' and swap' : ''}`;
  const t0 = performance.now();
  const deadline = t0 + (o.capacitySeconds ?? CAPACITY_SECONDS_DEFAULT) * 1000;
  // The first guest that ends badly stops the run. `settled` freezes the reason: the guests killed
  // when the run ends must not overwrite it.
  let stop: CapacityStop | undefined;
  let settled = false;
  try {
    if (!ksmOn) await applyKnobs(host, engineOffKnobs(o).knobs, engineOffKnobs(o).dir);
    if (ksmOn) {
      if ((o.engine ?? 'ksm') === 'ksm') await applyKnobs(host, [...DENSITY_DEFAULT_KNOBS, ...o.knobs]);
      else await applyKnobs(host, engineOnKnobs(o, '1').knobs, engineOnKnobs(o, '1').dir);
    }
    const kinds = expand(fleet.map((e) => ({ ...e, count: 1 })));
    for (let i = 0; !stop; i++) {
      if (i >= plan.maxGuests) {
        stop = { kind: 'max-guests', max_guests: plan.maxGuests };
        break;
      }
      if (performance.now() > deadline) {
        stop = { kind: 'timeout', detail: `the run took longer than ${o.capacitySeconds ?? CAPACITY_SECONDS_DEFAULT} s (at guest ${i + 1})` };
        break;
      }
      const entry = i % kinds.length;
      const k = kinds[entry]!;
      // With KSM on, launch the next guest when its whole footprint is free (it fills its memory before
      // ksmd sees a page of it), or once ksmd has done two full scans since memory got short — by then
      // every page that can merge has merged, and a guest that still does not fit is the answer.
      if (ksmOn) await waitForRoom(plan.footprintBytes[entry] ?? 0, () => !!stop);
      if (stop) break;
      const name = `${k.name.replace(/\.0$/, '')}.${i}`;
      const h = host.launch(k.program, { name, args: k.entry.args });
      handles.push(h);
      void h.done.then((r) => {
        if (!settled && !stop) stop = stopOf(r);
      });
      const readyBy = Math.min(deadline, performance.now() + READY_TIMEOUT_MS);
      while (!ready.has(name) && !stop && performance.now() < readyBy) await sleep(10);
      if (!ready.has(name) && !stop) {
        stop = { kind: 'timeout', detail: `guest ${name} was not ready after ${((performance.now() - t0) / 1000).toFixed(0)} s of the run` };
      }
      o.status?.(`[${label}] step ${i + 1}: ${ready.size} guests up · memory ${(usedBytes(host) / 2 ** 20).toFixed(1)} MiB of ${(o.memoryBytes / 2 ** 20).toFixed(0)} MiB`
        + ` · cap ${plan.maxGuests}`);
    }
    // A guest killed while the last one was placed is reported a moment later: let it arrive.
    await sleep(50);
    settled = true;
    // Guests that fit: those still running and ready when the run stopped.
    const guests = handles.filter((h) => host.guests.some((g) => g.pid === h.pid) && ready.has(h.name)).length;
    const s = stop!;
    return { guests, launched: handles.length, stop: s, stop_text: stopText(s), seconds: (performance.now() - t0) / 1000, ...(swapBytes ? { swap: swapFigures(host, swapBytes, guests) } : {}) };
  } finally {
    settled = true;
    await Promise.all(handles.map((h) => h.kill()));
    await host.shutdown();
  }

  async function waitForRoom(bytes: number, stopped: () => boolean): Promise<void> {
    if (freeBytes(host) >= bytes) return;
    const target = host.files.counters().full_scans + 2;
    while (freeBytes(host) < bytes && host.files.counters().full_scans < target && performance.now() < deadline && !stopped()) await sleep(10);
  }
}
