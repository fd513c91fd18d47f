// ksmd-controller.ts — owns the host's handle on the ksmd worker: start, register guests, stats, stop.

import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { KC_KSMD_ALIVE, type KsmState } from '../ksm/ksm-state.ts';
import type { KsmdStats, KsmdWorkerApi } from '../ksm/ksmd-worker.ts';
import { spawnWorker, type SpawnedWorker } from './spawn-worker.ts';

const KSMD_ENTRY = new URL('../ksm/ksmd-worker.ts', import.meta.url);

export class KsmdController {
  private readonly w: SpawnedWorker<KsmdWorkerApi>;
  private readonly state: KsmState;

  private constructor(w: SpawnedWorker<KsmdWorkerApi>, state: KsmState) {
    this.w = w;
    this.state = state;
  }

  static async start(memory: PhysicalMemory, state: KsmState): Promise<KsmdController> {
    const w = spawnWorker<KsmdWorkerApi>(KSMD_ENTRY, { memory: memory.handles, ksm: state.handles });
    const c = new KsmdController(w, state);
    const deadline = Date.now() + 30_000;
    while (Atomics.load(state.control, KC_KSMD_ALIVE) !== 1) {
      if (Date.now() > deadline) throw new Error('ksmd did not start');
      await new Promise((r) => setTimeout(r, 5));
    }
    return c;
  }

  addGuest(h: GuestSpaceHandles): void {
    void this.w.api.addGuest(h);
  }

  guestExited(pid: number): void {
    void this.w.api.guestExited(pid);
  }

  stats(): Promise<KsmdStats> {
    return this.w.api.stats();
  }

  /** Resolve once full_scans has advanced by `count` (ksmd must be running). */
  async waitForFullScans(count = 2, timeoutMs = 30_000): Promise<void> {
    const target = this.state.get('full_scans') + count;
    const deadline = Date.now() + timeoutMs;
    while (this.state.get('full_scans') < target) {
      if (Date.now() > deadline) throw new Error(`full_scans did not reach ${target} within ${timeoutMs} ms (at ${this.state.get('full_scans')})`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async stop(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.w.api.stop(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    } finally {
      // An uncleared 5 s timer would keep the host's process alive that long after every shutdown.
      clearTimeout(timer);
      await this.w.close();
    }
  }
}
