// ksmd-controller.ts — owns the host's handle on the ksmd worker: start, register guests, stats, stop.

import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { KC_KSMD_ALIVE, type KsmState } from '../ksm/ksm-state.ts';
import type { KsmEngineOptions } from '../ksm/ksm-engine.ts';
import type { KsmdStats, KsmdWorkerApi } from '../ksm/ksmd-worker.ts';
import { spawnWorker, type SpawnedWorker } from '../platform/spawn-worker.ts';

const KSMD_ENTRY = new URL('../ksm/ksmd-worker.ts', import.meta.url);

/** ksmd's statistics as the host sees them: the thread's own figures and the wall time beside them. */
export interface KsmdHostStats extends KsmdStats {
  /**
   * Wall time since this ksmd thread was spawned, in ms, taken when the answer arrived: an upper
   * bound on cpuMs (the thread cannot have run longer than it has existed), so the two can be compared.
   */
  readonly threadWallMs: number;
}

export class KsmdController {
  private w: SpawnedWorker<KsmdWorkerApi>;
  private readonly state: KsmState;
  private readonly memory: PhysicalMemory;
  private readonly options: KsmEngineOptions;
  /** performance.now() just before the current ksmd thread was spawned. */
  private spawnedAt: number;
  /** Guests launched in this tick, registered with ksmd in one call (see addGuest). */
  private pending: GuestSpaceHandles[] = [];

  private constructor(w: SpawnedWorker<KsmdWorkerApi>, state: KsmState, memory: PhysicalMemory, options: KsmEngineOptions) {
    this.w = w;
    this.state = state;
    this.memory = memory;
    this.options = options;
    this.spawnedAt = 0;
  }

  static async start(memory: PhysicalMemory, state: KsmState, options: KsmEngineOptions = {}): Promise<KsmdController> {
    const spawnedAt = performance.now();
    const c = new KsmdController(KsmdController.spawn(memory, state, options), state, memory, options);
    c.spawnedAt = spawnedAt;
    await c.waitAlive();
    return c;
  }

  private static spawn(memory: PhysicalMemory, state: KsmState, options: KsmEngineOptions): SpawnedWorker<KsmdWorkerApi> {
    return spawnWorker<KsmdWorkerApi>(KSMD_ENTRY, { memory: memory.handles, ksm: state.handles, engine: options });
  }

  private async waitAlive(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Atomics.load(this.state.control, KC_KSMD_ALIVE) !== 1) {
      if (Date.now() > deadline) throw new Error('ksmd did not start');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Terminate the ksmd thread wherever it is (as by SIGKILL: mid-merge, mid-request) and start a new
   * one that knows `guests`. The new engine rebuilds its trees from the page tables as it scans; what
   * the dead thread held on its own heap (temporary references, deferred frees) is lost, so the
   * caller must repair frame accounting while the guests are stopped (see src/stress/recount.ts).
   */
  async kill(): Promise<void> {
    this.pending = []; // the new thread is told of every guest at restart()
    await this.w.close();
    Atomics.store(this.state.control, KC_KSMD_ALIVE, 0);
  }

  /** Start a fresh ksmd thread after kill(), registering `guests` with it. */
  async restart(guests: readonly GuestSpaceHandles[]): Promise<void> {
    this.spawnedAt = performance.now();
    this.w = KsmdController.spawn(this.memory, this.state, this.options);
    await this.waitAlive();
    for (const h of guests) this.addGuest(h);
  }

  /**
   * Register a guest with ksmd. A fleet launches hundreds of guests in one tick: they go to ksmd as
   * one call at the end of the tick instead of one round trip (and one publish and wake-up) each.
   * Every other call flushes the batch first, so ksmd sees calls in the order the host made them.
   */
  addGuest(h: GuestSpaceHandles): void {
    if (this.pending.length === 0) queueMicrotask(() => this.flush());
    this.pending.push(h);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    void this.w.api.addGuests(batch);
  }

  guestExited(pid: number): void {
    this.flush();
    void this.w.api.guestExited(pid);
  }

  async stats(): Promise<KsmdHostStats> {
    this.flush();
    const s = await this.w.api.stats();
    return { ...s, threadWallMs: performance.now() - this.spawnedAt };
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
      this.flush();
      await Promise.race([this.w.api.stop(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    } finally {
      // An uncleared 5 s timer would keep the host's process alive that long after every shutdown.
      clearTimeout(timer);
      await this.w.close();
    }
  }
}
