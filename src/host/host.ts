// host.ts — owns the hypervisor: physical memory, the KSM state and files, ksmd, and the life of
// every guest worker from launch to teardown.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { AddressSpace, type AddressSpaceHooks } from '../mem/address-space.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { createGuestSpaceHandles, recoverVmaTable, type GuestSpaceHandles } from '../mem/guest-control.ts';
import { PhysicalMemory } from '../mem/physical-memory.ts';
import { summarizeSpace, type SpaceSummary } from '../mem/space-summary.ts';
import type { KsmEngineOptions } from '../ksm/ksm-engine.ts';
import { KsmState, THP_MODES, memoryHooks, type KernelCompat } from '../ksm/ksm-state.ts';
import type { ThpMode } from '../mem/thp.ts';
import { KsmFiles, formatKsmStat, type Caller } from '../ksm/sysfs.ts';
import type { GuestMessage, GuestOutcome, GuestWorkerData } from '../guest/guest-worker.ts';
import { KsmdController } from './ksmd-controller.ts';
import { collectGarbage } from '../platform/collect-garbage.ts';
import { compileModule } from '../platform/module-compiler.ts';
import { sourceOfModule } from '../platform/project-root.ts';
import { startThread } from '../platform/spawn-worker.ts';
import { DEFAULT_ENGINE, type EngineName } from '../engines/engine.ts';
import { createHostEngine, type HostEngine } from '../engines/engine-runtime.ts';

export const DEFAULT_MEMORY_BYTES = 2 ** 30;

export interface HostOptions {
  /** Physical memory in bytes (default 1 GiB). */
  readonly memoryBytes?: number;
  readonly numaNodes?: number;
  /** Swap space in bytes (default none: a guest that finds memory full is OOM-killed). */
  readonly swapBytes?: number;
  /** Virtual address space of each guest (default 4 × physical memory, at least 256 MiB). */
  readonly guestVirtualBytes?: number;
  /** Start the ksmd worker (default true). */
  readonly ksmd?: boolean;
  /** Where guest log lines and host notices go (default: stdout). */
  readonly onLog?: (line: string) => void;
  /** '2.6.32': /sys/kernel/mm/ksm/max_kernel_pages exists (default 2000) and limits pages_shared. */
  readonly kernelCompat?: KernelCompat;
  /** ksmd engine options (only tests set any: a deliberately broken protocol, see BrokenProtocol). */
  readonly ksmdOptions?: KsmEngineOptions;
  /** The merge engine (default ksm): dksm merges inside madvise and runs no ksmd (docs/engines.md). */
  readonly engine?: EngineName;
  /** transparent_hugepage/enabled at boot (default madvise, the kernel's default here). */
  readonly thp?: ThpMode;
}

export interface LaunchOptions {
  readonly name?: string;
  readonly args?: readonly string[];
  /** Home NUMA node (default: guests are spread round-robin over the nodes). */
  readonly node?: number;
  /** May write sysfs knobs (default false, like a non-root process). */
  readonly root?: boolean;
}

export type GuestStatus = 'exited' | 'failed' | 'oom-killed';

export interface GuestReport {
  readonly pid: number;
  readonly name: string;
  readonly program: string;
  readonly node: number;
  readonly status: GuestStatus;
  readonly exitCode: number;
  readonly error?: string;
  readonly seconds: number;
  /** What the guest's page table mapped just before it was torn down. */
  readonly memoryAtExit: SpaceSummary;
  /** The guest's /proc/self/ksm_stat just before it was torn down, as numbers (yes/no as 1/0). */
  readonly ksmStatAtExit: Record<string, number>;
}

export interface GuestHandle {
  readonly pid: number;
  readonly name: string;
  readonly handles: GuestSpaceHandles;
  readonly done: Promise<GuestReport>;
  /** Terminate the guest now (as by SIGKILL); `done` then reports it failed. */
  kill(): Promise<void>;
}

export interface NodeMemory {
  readonly node: number;
  readonly totalBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
}

// The guest thread's runtime, bundled with each program into the worker's one entry file.
export const GUEST_RUNTIME = sourceOfModule(fileURLToPath(new URL('../guest/guest-worker.ts', import.meta.url)));
const FIRST_PID = 100;

export class Host {
  readonly memory: PhysicalMemory;
  readonly ksm: KsmState;
  readonly files: KsmFiles;
  readonly ksmd: KsmdController | undefined;
  readonly vaPages: number;
  readonly engine: HostEngine;
  private readonly onLog: (line: string) => void;
  private readonly hooks: AddressSpaceHooks;
  private readonly running = new Map<number, GuestHandle>();
  private nextPid = FIRST_PID;
  /** A host was shut down since the last start: its banks may still hold memory until a collection. */
  private static retired = false;
  private launched = 0;
  private closed = false;

  private constructor(options: HostOptions, memory: PhysicalMemory, ksm: KsmState, ksmd: KsmdController | undefined, engine: HostEngine) {
    this.memory = memory;
    this.ksm = ksm;
    this.engine = engine;
    this.files = engine.files(ksm);
    this.ksmd = ksmd;
    this.onLog = options.onLog ?? ((line) => console.log(line));
    this.hooks = memoryHooks(ksm);
    const va = options.guestVirtualBytes ?? Math.max(256 * 2 ** 20, 4 * memory.bytes);
    this.vaPages = Math.min(2 ** 23, Math.ceil(va / PAGE_SIZE));
  }

  static async start(options: HostOptions = {}): Promise<Host> {
    // The frames of a host shut down before this one go back to the OS only when V8 collects its banks.
    if (Host.retired) {
      Host.retired = false;
      collectGarbage();
    }
    const memory = PhysicalMemory.create({ bytes: options.memoryBytes ?? DEFAULT_MEMORY_BYTES, numaNodes: options.numaNodes ?? 1, swapBytes: options.swapBytes });
    const ksm = KsmState.create(options.kernelCompat);
    if (options.thp) ksm.set('thp_enabled', THP_MODES.indexOf(options.thp));
    const engine = createHostEngine(options.engine ?? DEFAULT_ENGINE, memory);
    // Only the ksm engine has a ksmd: dksm merges in the guests' madvise calls (docs/engines.md).
    const ksmd = options.ksmd === false || engine.name !== 'ksm' ? undefined : await KsmdController.start(memory, ksm, options.ksmdOptions);
    const host = new Host(options, memory, ksm, ksmd, engine);
    engine.attach?.({ ksm, guests: () => host.guests.map((g) => g.handles) });
    if (engine.name === 'dksm' && ksm.get('thp_enabled') !== THP_MODES.indexOf('never')) {
      host.onLog(`host: warning: transparent_hugepage/enabled is ${THP_MODES[ksm.get('thp_enabled')]}, not never: DKSM fails to merge pages inside huge pages (merging_failed)`);
    }
    return host;
  }

  /**
   * Compile `program` for guest threads now (cached), so that a batch can report a broken program
   * (ModuleCompileError: file:line:col) before it starts any guest.
   */
  prepare(program: string): void {
    compileModule(resolve(program), { runtime: GUEST_RUNTIME });
  }

  /** Launch one guest running `program` (a .ts, .mts, .js or .mjs file anywhere on disk). */
  launch(program: string, options: LaunchOptions = {}): GuestHandle {
    if (this.closed) throw new Error('host is shut down');
    const pid = this.nextPid++;
    const nodes = this.memory.nodes.length;
    const node = options.node ?? this.launched % nodes;
    if (!Number.isInteger(node) || node < 0 || node >= nodes) throw new RangeError(`guest node ${node} does not exist (host has ${nodes})`);
    this.launched++;
    const name = options.name ?? `guest${pid}`;
    const path = resolve(program);
    // Compiled once per program (cached): a syntax error is reported here, before any thread starts.
    const compiled = compileModule(path, { runtime: GUEST_RUNTIME });
    const handles = createGuestSpaceHandles(pid, node, this.vaPages);
    const data: GuestWorkerData = {
      memory: this.memory.handles,
      ksm: this.ksm.handles,
      space: handles,
      program: path,
      args: [...(options.args ?? [])],
      root: options.root ?? false,
      engine: this.engine.handles,
    };
    const w = startThread(compiled, data);
    this.ksmd?.addGuest(handles);
    const started = performance.now();
    const done = this.supervise(w, handles, name, path, node, started);
    const handle: GuestHandle = { pid, name, handles, done, kill: () => w.terminate().then(() => {}) };
    this.running.set(pid, handle);
    void done.finally(() => this.running.delete(pid));
    return handle;
  }

  /** Launch `count` guests of each program and wait for all of them. */
  async runAll(programs: readonly string[], count = 1, options: Omit<LaunchOptions, 'name'> = {}): Promise<GuestReport[]> {
    const handles: GuestHandle[] = [];
    for (const program of programs) {
      const base = program.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
      for (let i = 0; i < count; i++) handles.push(this.launch(program, { ...options, name: count > 1 ? `${base}.${i}` : base }));
    }
    return Promise.all(handles.map((h) => h.done));
  }

  get guests(): readonly GuestHandle[] {
    return [...this.running.values()];
  }

  nodeMemory(): NodeMemory[] {
    return this.memory.nodes.map((r, node) => {
      const total = r.frameCount * PAGE_SIZE;
      const free = this.memory.freeFrames(node) * PAGE_SIZE;
      return { node, totalBytes: total, usedBytes: total - free, freeBytes: free };
    });
  }

  /** A running guest's /proc/<pid>/ksm_stat, as the kernel formats it. */
  ksmStat(pid: number): string {
    const g = this.running.get(pid);
    if (!g) throw new Error(`no running guest with pid ${pid}`);
    return formatKsmStat(new Int32Array(g.handles.control));
  }

  /** Swap use: slots in all and free, pages swapped out and in so far (undefined without swap). */
  swapUsage(): { totalBytes: number; usedBytes: number; swappedOut: number; swappedIn: number } | undefined {
    const swap = this.memory.swap;
    if (!swap) return undefined;
    return { totalBytes: swap.slots * PAGE_SIZE, usedBytes: (swap.slots - swap.freeSlots()) * PAGE_SIZE, swappedOut: swap.swappedOut(), swappedIn: swap.swappedIn() };
  }

  readFile(path: string, caller: Caller = { root: true }): string {
    return this.files.read(path, caller);
  }

  async writeFile(path: string, text: string, caller: Caller = { root: true }): Promise<void> {
    await this.files.write(path, text, caller);
  }

  /**
   * Kill the ksmd thread wherever it is, run `whileDead` (a repair, with guests stopped by the
   * caller), then start a new ksmd that knows every running guest (fault injection: docs/stress.md).
   */
  async restartKsmd(whileDead: () => void | Promise<void> = () => {}): Promise<void> {
    if (!this.ksmd) throw new Error('this host runs without ksmd');
    await this.ksmd.kill();
    await whileDead();
    await this.ksmd.restart(this.guests.map((g) => g.handles));
  }

  /** Stop every guest and ksmd; the host cannot be used afterwards. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Host.retired = true;
    const guests = [...this.running.values()];
    await Promise.all(guests.map((g) => g.kill()));
    await Promise.allSettled(guests.map((g) => g.done));
    await this.ksmd?.stop();
    this.engine.stop?.();
  }

  private async supervise(w: Worker, handles: GuestSpaceHandles, name: string, program: string, node: number, started: number): Promise<GuestReport> {
    // The thread posts its log lines and then one `end` on the same port, so every line is logged
    // before the outcome is seen; an exit or error event without an `end` is a guest that died.
    const outcome = await new Promise<GuestOutcome>((res) => {
      w.on('message', (m: GuestMessage) => {
        if (m.kind === 'log') this.onLog(`[${name}] ${m.line}`);
        else res(m.outcome);
      });
      w.once('error', (e) => res({ kind: 'error', message: `worker error: ${e?.message ?? e}` }));
      w.once('exit', (code) => res({ kind: 'error', message: `killed (worker exited with ${code})` }));
    });
    // End the thread first: a guest killed inside a VMA table write left its seqlock odd, and
    // summarizeSpace (like ksmd) would spin on it forever; recoverVmaTable closes it once the writer is gone.
    await w.terminate();
    recoverVmaTable(new Int32Array(handles.control), new Int32Array(handles.vmaTable), handles.vaPages);
    const memoryAtExit = summarizeSpace(handles, this.memory);
    const ksmStatAtExit = parseKsmStat(formatKsmStat(new Int32Array(handles.control)));
    AddressSpace.reclaim(handles, this.memory, this.hooks);
    this.engine.guestExited(handles.pid);
    this.ksmd?.guestExited(handles.pid);
    const seconds = (performance.now() - started) / 1000;
    const base = { pid: handles.pid, name, program, node, seconds, memoryAtExit, ksmStatAtExit };
    if (outcome.kind === 'exit') {
      return { ...base, status: outcome.code === 0 ? 'exited' : 'failed', exitCode: outcome.code, error: outcome.code === 0 ? undefined : `exit status ${outcome.code}` };
    }
    if (outcome.kind === 'oom') {
      this.onLog(`host: guest ${name} (pid ${handles.pid}) was killed by the OOM killer: ${outcome.message}`);
      return { ...base, status: 'oom-killed', exitCode: 137, error: outcome.message };
    }
    return { ...base, status: 'failed', exitCode: 1, error: outcome.code ? `${outcome.message}` : outcome.message };
  }
}

/** `ksm_rmap_items 3\nksm_merge_any: no\n…` → { ksm_rmap_items: 3, ksm_merge_any: 0, … }. */
export function parseKsmStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):? (\S+)$/.exec(line);
    if (m) out[m[1]!] = m[2] === 'yes' ? 1 : m[2] === 'no' ? 0 : Number(m[2]);
  }
  return out;
}
