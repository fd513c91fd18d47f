// ksmd-worker.ts — owns the ksmd thread: the scan loop (pages_to_scan per wake, sleep_millisecs
// between), sysfs requests from any thread, khugepaged's turns, and the control plane the host drives
// through comlink.

import { workerData, type MessagePort } from 'node:worker_threads';
import { PhysicalMemory, type PhysicalMemoryHandles } from '../mem/physical-memory.ts';
import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import { exposeApi } from '../platform/expose-api.ts';
import { KsmEngine, type ChainCensus, type EngineEvents, type KsmEngineOptions } from './ksm-engine.ts';
import { warmUpEngine } from './ksmd-warmup.ts';
import { Khugepaged } from './khugepaged.ts';
import { KC_KSMD_ALIVE, KC_WAKE, KsmState, type KsmStateHandles } from './ksm-state.ts';
import { ThreadCpuReader, type ThreadCpuClock } from './thread-cpu.ts';

export interface KsmdWorkerData {
  readonly memory: PhysicalMemoryHandles;
  readonly ksm: KsmStateHandles;
  /** Engine options (only tests set any: see BrokenProtocol). */
  readonly engine?: KsmEngineOptions;
}

export interface KsmdStats {
  readonly events: EngineEvents;
  /**
   * CPU time of the ksmd thread since it started, in ms, read by the thread itself from
   * /proc/thread-self (thread-cpu.ts): scanning, sysfs requests and its own start-up. null where the
   * system has no such file.
   */
  readonly cpuMs: number | null;
  /** Where cpuMs comes from ('schedstat': ns resolution, 'stat': 10 ms ticks), or null. */
  readonly cpuClock: ThreadCpuClock | null;
  /**
   * Wall time spent inside scan batches, in ms. Not CPU time: it also counts the time the thread was
   * descheduled mid-batch, which on a loaded machine is most of it.
   */
  readonly busyMs: number;
  readonly batches: number;
  readonly pendingFrees: number;
  readonly chains: ChainCensus;
}

const data = workerData as KsmdWorkerData & { port: MessagePort };
warmUpEngine();
const memory = PhysicalMemory.attach(data.memory);
const state = KsmState.attach(data.ksm);
// Opened here, on the ksmd thread: /proc/thread-self names the thread that opens it.
const cpu = new ThreadCpuReader();
let busyMs = 0;
let batches = 0;
// The scan-time advisor's CPU figure is the thread's CPU time, as task_sched_runtime(current) is in
// mm/ksm.c; scan-batch wall time stands in only where /proc/thread-self is missing.
const engine = new KsmEngine(memory, state, () => cpu.ms() ?? busyMs, data.engine ?? {});
// The counters describe this ksmd from its first moment: a ksmd started after another died must not
// leave the dead one's figures up until it happens to scan (it may have nothing to scan).
engine.publish();
// khugepaged shares the thread: it runs every scan_sleep_millisecs (its sysfs knobs), whatever
// ksmd's run says, and publishes its counters (full_scans, pages_collapsed) after each turn.
const khugepaged = new Khugepaged(memory, () => state.get('thp_enabled'), (pid) => engine.replacePrimitives(pid));
let khugepagedAt = performance.now();
function maybeRunKhugepaged(): void {
  if (performance.now() - khugepagedAt < state.get('khugepaged_scan_sleep_millisecs')) return;
  khugepaged.scan(state.get('khugepaged_pages_to_scan'));
  khugepagedAt = performance.now();
  state.set('khugepaged_full_scans', khugepaged.stats.fullScans);
  state.set('khugepaged_pages_collapsed', khugepaged.stats.pagesCollapsed);
}
let stopping = false;
let stopped: () => void = () => {};
const finished = new Promise<void>((r) => (stopped = r));

function serveRequest(): void {
  const req = state.pendingRequest();
  if (req) state.answer(engine.handleRequest(req[0], req[1]));
}

/**
 * wait_event_interruptible_timeout(ksm_iter_wait, sleep_ms != ksm_thread_sleep_millisecs, sleep_ms):
 * sleep sleep_millisecs, ending early only if that value changes or run leaves 1. sysfs requests
 * (a run=2, an EBUSY check) are served meanwhile without ending the sleep.
 */
async function sleepBetweenBatches(): Promise<void> {
  const sleep = state.get('sleep_millisecs');
  if (sleep === 0) {
    await new Promise<void>((r) => setImmediate(r));
    return;
  }
  const end = performance.now() + sleep;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0 || stopping) return;
    const seen = Atomics.load(state.control, KC_WAKE);
    serveRequest();
    if (state.get('sleep_millisecs') !== sleep || state.get('run') !== 1) return;
    await Atomics.waitAsync(state.control, KC_WAKE, seen, left).value;
  }
}

async function loop(): Promise<void> {
  Atomics.store(state.control, KC_KSMD_ALIVE, 1);
  while (!stopping) {
    const seen = Atomics.load(state.control, KC_WAKE);
    serveRequest();
    // Reclaim does not wait for run: kswapd swaps pages whatever ksmd's state (ksmd does it because
    // it holds the reverse map of KSM pages). Without swap, or above the watermark, it returns at once.
    engine.reclaim();
    maybeRunKhugepaged();
    if (state.get('run') === 1 && engine.hasWork()) {
      const t0 = performance.now();
      engine.scanBatch(state.get('pages_to_scan'));
      busyMs += performance.now() - t0;
      batches++;
      serveRequest();
      await sleepBetweenBatches();
    } else {
      engine.processDeferred();
      await Atomics.waitAsync(state.control, KC_WAKE, seen, 50).value;
    }
  }
  Atomics.store(state.control, KC_KSMD_ALIVE, 0);
  cpu.close();
  stopped();
}

const api = {
  /** Register guests launched together (one publish and one wake-up for the batch). */
  addGuests(hs: readonly GuestSpaceHandles[]): void {
    for (const h of hs) {
      engine.addGuest(h);
      khugepaged.addGuest(h);
    }
    engine.publish(); // the guests' ksm_stat words too, even if ksmd never scans them
    state.wake();
  },
  guestExited(pid: number): void {
    engine.guestExited(pid);
    engine.publish();
  },
  stats(): KsmdStats {
    return {
      events: { ...engine.events }, cpuMs: cpu.ms(), cpuClock: cpu.clock, busyMs, batches, pendingFrees: engine.pendingFrees, chains: engine.chainCensus(),
    };
  },
  async stop(): Promise<void> {
    stopping = true;
    state.wake();
    await finished;
  },
};

export type KsmdWorkerApi = typeof api;
exposeApi(api, data.port);
void loop();
