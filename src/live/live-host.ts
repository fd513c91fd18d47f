// live-host.ts — owns a host kept alive between commands: guests started and destroyed by name, the
// files operators read and write, samples of the counters over time, and the one dispatch that the
// control socket and the dashboard both call.

import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { Host, parseKsmStat, type GuestHandle, type GuestReport, type HostOptions } from '../host/host.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { ErrnoError } from '../mem/errno.ts';
import { CTL_VMA_SEQ } from '../mem/guest-control.ts';
import { summarizeSpace } from '../mem/space-summary.ts';
import { KSM_DIR, formatKsmStat } from '../ksm/sysfs.ts';
import { isWorkloadName, workloadPath, type WorkloadName } from '../workloads/workload-catalog.ts';
import { EmulatedTunedHost } from '../tuning/emulated-tuned-host.ts';
import { ServiceManager } from '../tuning/service-manager.ts';
import {
  OPS, SHM_PARAMS, SHM_SETTABLE, type GuestInfo, type HelloInfo, type HostState, type NodeMemoryInfo, type Op,
  type ReplyError, type Sample, type ServiceReply, type StopResult,
} from './protocol.ts';
import { strerror } from './strerror.ts';
import { engineCounters, engineFiles, engineView, otherEngineProblem, type EngineView } from './engine-view.ts';

/** Workload names `start` accepts in place of a program path (guests/workloads/NAME.ts). */
/** The workloads a live host starts by name, in the order its commands and dashboard list them. */
export const WORKLOADS: readonly WorkloadName[] = ['os-image', 'web', 'idle', 'db', 'jvm', 'random', 'volatile'];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HISTORY = 480; // samples kept for the dashboard's charts (2 minutes at 4 per second)
const LOG_LINES = 200;

/** A request the host refuses: the message a client prints (and the errno, when the kernel refused). */
export class ControlError extends Error {
  readonly reply: ReplyError;
  constructor(reply: ReplyError) {
    super(reply.message);
    this.reply = reply;
  }
}

interface LiveGuest {
  readonly name: string;
  readonly program: string;
  readonly args: readonly string[];
  readonly handle: GuestHandle;
  readonly node: number;
  readonly started: number;
  /** Set before the host asks the thread to end: from then on nothing reads its VMA table (see residentBytes). */
  stopping: boolean;
  /** The host ended it (destroy, host stop) while it ran: its "killed" outcome is not a failure. */
  killed: boolean;
  report?: GuestReport;
}

export interface LiveHostOptions extends HostOptions {
  readonly socket: string;
  /** Called for every guest log line and host notice (after it is kept for the dashboard). */
  readonly print?: (line: string) => void;
}

export class LiveHost {
  readonly host: Host;
  readonly socket: string;
  /** What the status and dashboard show, and which knobs control commands set: the engine's. */
  readonly view: EngineView;
  dashboard: string | undefined;
  private readonly guests = new Map<string, LiveGuest>();
  private readonly history: Sample[] = [];
  private readonly logLines: string[] = [];
  private readonly startedAt = performance.now();
  private readonly sampler: NodeJS.Timeout;
  private stopped: Promise<StopResult> | undefined;
  /** The RHEL services (ksm, ksmtuned) run against this host; libvirt's retune cue is each guest's start and end. */
  private readonly tuned: EmulatedTunedHost;
  private readonly services: ServiceManager;

  private constructor(host: Host, socket: string) {
    this.host = host;
    this.socket = socket;
    this.view = engineView(host.engine.name);
    this.tuned = new EmulatedTunedHost(host);
    // ksmtuned's decisions go to the host's log (the dashboard shows it), as its DEBUG lines would.
    this.services = new ServiceManager(this.tuned, {
      stdout: (line) => this.keepLog(`ksmtuned: ${line}`),
      onDecision: (d) => this.keepLog(`ksmtuned: ${d.trigger}: committed ${d.committed_kb} kB, free ${d.free_kb} kB, thres ${d.thres_kb} kB: ${d.decision}, npages ${d.npages}, sleep ${d.sleep_millisecs} ms`),
    });
    this.sampler = setInterval(() => this.takeSample(), 250);
    this.sampler.unref();
  }

  static async start(options: LiveHostOptions): Promise<LiveHost> {
    let live: LiveHost | undefined;
    const print = options.print ?? (() => {});
    const early: string[] = [];
    const host = await Host.start({
      ...options,
      onLog: (line) => {
        if (live) live.keepLog(line);
        else early.push(line);
        print(line);
      },
    });
    live = new LiveHost(host, options.socket);
    for (const line of early) live.keepLog(line);
    live.takeSample();
    return live;
  }

  get isStopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Carry out one request; throws ControlError with the message for the client. */
  async dispatch(op: Op, args: Record<string, unknown> = {}): Promise<unknown> {
    if (!(OPS as readonly string[]).includes(op)) throw new ControlError({ message: `unknown request ${JSON.stringify(op)}` });
    if (this.stopped && op !== 'hello') throw new ControlError({ message: 'the host is shutting down' });
    switch (op) {
      case 'hello': return this.hello();
      case 'start': return this.startGuest(str(args, 'name'), str(args, 'program'), strList(args, 'args'), optInt(args, 'node'));
      case 'destroy': return this.destroy(str(args, 'name'));
      case 'list': return this.list();
      case 'sysfs': return this.sysfs(optStr(args, 'file'), optStr(args, 'value'));
      case 'meminfo': return this.meminfo();
      case 'node-memory-tune': return this.nodeMemoryTune(args);
      case 'service': return this.service(str(args, 'service'), str(args, 'action'), optStr(args, 'file'));
      case 'state': return this.state();
      case 'stop': return this.stop();
    }
    throw new ControlError({ message: `unknown request ${JSON.stringify(op)}` });
  }

  hello(): HelloInfo {
    const swap = this.host.swapUsage();
    return { pid: process.pid, engine: this.view.engine, socket: this.socket, dashboard: this.dashboard, memoryBytes: this.host.memory.bytes, numaNodes: this.host.memory.nodes.length, swapBytes: swap?.totalBytes ?? 0 };
  }

  startGuest(name: string, program: string, args: readonly string[], node: number | undefined): GuestInfo {
    if (!NAME_RE.test(name)) throw new ControlError({ message: `invalid guest name ${JSON.stringify(name)} (letters, digits, '.', '_' and '-', at most 64)` });
    const old = this.guests.get(name);
    if (old && !old.report) throw new ControlError({ message: `guest '${name}' already exists (id ${old.handle.pid})` });
    const path = isWorkloadName(program) ? workloadPath(program) : program;
    if (!isAbsolute(path)) throw new ControlError({ message: `program path must be absolute or a workload (${WORKLOADS.join(', ')}): ${program}` });
    if (!existsSync(path)) throw new ControlError({ message: `program not found: ${program} (workloads: ${WORKLOADS.join(', ')})` });
    let handle: GuestHandle;
    try {
      // Compiles the program first (cached): a syntax error is refused here and no guest starts.
      handle = this.tuned.track(this.host.launch(path, { name, args, node, root: false }));
    } catch (e) {
      throw new ControlError({ message: (e as Error).message });
    }
    const entry: LiveGuest = { name, program, args: [...args], handle, node: handle.handles.homeNode, started: performance.now(), stopping: false, killed: false };
    this.guests.set(name, entry);
    void handle.done.then((report) => {
      entry.report = report;
      if (report.status !== 'exited' && !entry.killed) this.keepLog(`host: guest ${name} (id ${report.pid}) ${report.status}: ${report.error ?? ''}`);
    });
    return this.info(entry);
  }

  async destroy(name: string): Promise<GuestInfo> {
    const g = this.guests.get(name);
    if (!g) {
      const names = [...this.guests.keys()].sort();
      throw new ControlError({ message: `no guest named '${name}' (${names.length ? `guests: ${names.join(', ')}` : 'the host has no guests'})` });
    }
    if (!g.report) {
      g.stopping = true;
      g.killed = true;
      await g.handle.kill();
      await g.handle.done;
    }
    this.guests.delete(name);
    return { ...this.info(g), state: 'destroyed' };
  }

  /** `service ksm|ksmtuned start|stop|status|retune [FILE]`: the service's own output and exit status. */
  async service(service: string, action: string, file: string | undefined): Promise<ServiceReply> {
    if (this.view.engine !== 'ksm') {
      throw new ControlError({ message: `the ${service} service drives ksmd through ${KSM_DIR}; this host runs the ${this.view.engine} engine, which has no ksmd (its knobs are in ${this.view.dir})` });
    }
    try {
      return await this.services.command(service, action, file);
    } catch (e) {
      // A conf or sysconfig file the service cannot read: the error names the file and line.
      throw new ControlError({ message: (e as Error).message });
    }
  }

  list(): GuestInfo[] {
    return [...this.guests.values()].sort((a, b) => a.handle.pid - b.handle.pid).map((g) => this.info(g));
  }

  /**
   * No file: every file of the engine's directory (/sys/kernel/mm/ksm, dksm or uksm); a file (a name
   * in that directory, or a path): its value; a file and a value: a root write. Another engine's
   * files are refused with a message saying whose they are and where this engine's knobs are.
   */
  async sysfs(file: string | undefined, value: string | undefined): Promise<{ dir: string; files: Record<string, string> } | { file: string; value: string }> {
    if (file === undefined) return { dir: this.view.dir, files: engineFiles(this.host) };
    const path = file.startsWith('/') ? file : this.view.dir + file;
    const problem = otherEngineProblem(this.view.engine, path, file.startsWith('/') ? undefined : file, value !== undefined);
    if (problem) throw new ControlError({ message: `${path}: ${problem}`, ...(this.exists(path) ? {} : { errno: 'ENOENT' }) });
    try {
      if (value !== undefined) await this.host.writeFile(path, value.endsWith('\n') ? value : value + '\n');
      return { file: path, value: this.host.readFile(path).trimEnd() };
    } catch (e) {
      if (e instanceof ErrnoError) {
        const what = value === undefined ? 'open' : 'write error';
        throw new ControlError({ message: `${path}: ${what}: ${strerror(e.code)}`, errno: e.code });
      }
      throw e;
    }
  }

  /** /proc/meminfo's lines for this host, in kB. All guest memory is anonymous: no page cache. */
  meminfo(): Record<string, number> {
    const kb = (bytes: number) => Math.floor(bytes / 1024);
    const total = this.host.memory.bytes;
    const free = this.host.memory.freeFrames() * PAGE_SIZE;
    const swap = this.host.swapUsage();
    return {
      MemTotal: kb(total), MemFree: kb(free), MemAvailable: kb(free), Buffers: 0, Cached: 0, SwapCached: 0,
      SwapTotal: kb(swap?.totalBytes ?? 0), SwapFree: kb((swap?.totalBytes ?? 0) - (swap?.usedBytes ?? 0)),
      AnonPages: kb(total - free),
      // UKSM's zero pages are counted here (its /proc/meminfo line), as the kernel's KsmZeroPages.
      ...(this.view.engine === 'uksm' ? { KsmZeroPages: kb(this.host.ksm.get('ksm_zero_pages') * PAGE_SIZE) } : {}),
    };
  }

  /** virsh node-memory-tune: set the given shm_* values in order, then report all eight. */
  async nodeMemoryTune(args: Record<string, unknown>): Promise<Record<string, number>> {
    for (const key of SHM_SETTABLE) {
      const v = args[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ControlError({ message: `invalid shm_${key} ${JSON.stringify(v)}` });
      try {
        await this.host.writeFile(KSM_DIR + key, `${v}\n`);
      } catch (e) {
        if (!(e instanceof ErrnoError)) throw e;
        // virHostMemSetParameterValue: virReportSystemError(-rc, "failed to set %s", field); virsh leads with its own line.
        throw new ControlError({ lead: 'Unable to change memory parameters', message: `failed to set shm_${key}: ${strerror(e.code)}`, errno: e.code });
      }
    }
    const out: Record<string, number> = {};
    // virHostMemGetParameters leaves out a parameter whose file is missing (a UKSM kernel has no /sys/kernel/mm/ksm).
    for (const p of SHM_PARAMS) if (this.exists(KSM_DIR + p)) out[`shm_${p}`] = Number(this.host.readFile(KSM_DIR + p).trim());
    return out;
  }

  state(): HostState {
    return {
      hello: this.hello(),
      nodes: this.nodes(),
      ksm: this.ksmFiles(),
      dir: this.view.dir,
      files: engineFiles(this.host),
      guests: this.list(),
      sample: this.history[this.history.length - 1] ?? this.takeSample(),
      log: this.logLines.slice(-40),
    };
  }

  samples(): readonly Sample[] {
    return this.history;
  }

  /** Stop every guest (as by a signal whose default action ends it), then ksmd; idempotent. */
  stop(): Promise<StopResult> {
    this.stopped ??= (async () => {
      clearInterval(this.sampler);
      await this.services.shutdown();
      const ksm = this.ksmFiles();
      const files = engineFiles(this.host);
      const guests = [...this.guests.values()];
      for (const g of guests) {
        g.stopping = true;
        g.killed = !g.report;
      }
      await Promise.all(guests.map((g) => (g.killed ? g.handle.kill() : undefined)));
      await Promise.allSettled(guests.map((g) => g.handle.done));
      const final = guests.map((g) => this.info(g));
      await this.host.shutdown();
      return { ksm, engine: this.view.engine, dir: this.view.dir, files, guests: final, nodes: this.nodes() };
    })();
    return this.stopped;
  }

  /** /sys/kernel/mm/ksm's files, where the engine has them (not under UKSM). */
  private ksmFiles(): Record<string, string> {
    return this.view.engine === 'uksm' ? {} : this.host.files.snapshot();
  }

  private exists(path: string): boolean {
    try {
      this.host.readFile(path);
      return true;
    } catch (e) {
      if (e instanceof ErrnoError) return false;
      throw e;
    }
  }

  private nodes(): NodeMemoryInfo[] {
    return this.host.nodeMemory();
  }

  private info(g: LiveGuest): GuestInfo {
    const r = g.report;
    const base = { id: g.handle.pid, name: g.name, program: g.program, args: g.args, node: g.node };
    if (r) {
      const m = r.memoryAtExit;
      // A guest the host stopped was destroyed, not failed: its "killed" outcome is the host's doing.
      const destroyed = g.killed && r.status !== 'exited';
      return { ...base, state: destroyed ? 'destroyed' : r.status, error: destroyed ? undefined : r.error, residentBytes: (m.privatePages + m.ksmPages) * PAGE_SIZE, ksmStat: r.ksmStatAtExit, seconds: Math.round(r.seconds * 1000) / 1000 };
    }
    return { ...base, state: 'running', residentBytes: this.residentBytes(g), ksmStat: parseKsmStat(formatKsmStat(new Int32Array(g.handle.handles.control))), seconds: Math.round(performance.now() - g.started) / 1000 };
  }

  /**
   * RSS of a running guest, read from its page table. summarizeSpace waits out the guest's VMA
   * seqlock, and a thread terminated inside a VMA write leaves it odd until the host repairs it on
   * this same thread (Host.supervise) — waiting here would hang the host. Threads end mid-write only
   * when the host terminates them, and it marks `stopping` before it asks, so a stopping guest is
   * never read; an odd sequence (a write under way) skips this reading rather than wait.
   */
  private residentBytes(g: LiveGuest): number {
    if (g.stopping) return 0;
    const ctl = new Int32Array(g.handle.handles.control);
    if (Atomics.load(ctl, CTL_VMA_SEQ) & 1) return 0;
    const s = summarizeSpace(g.handle.handles, this.host.memory);
    return (s.privatePages + s.ksmPages) * PAGE_SIZE;
  }

  private takeSample(): Sample {
    const s: Sample = {
      t: Math.round(performance.now() - this.startedAt) / 1000,
      counters: engineCounters(this.host),
      usedBytes: this.host.nodeMemory().map((n) => n.usedBytes),
    };
    this.history.push(s);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    return s;
  }

  private keepLog(line: string): void {
    this.logLines.push(line);
    if (this.logLines.length > LOG_LINES) this.logLines.splice(0, this.logLines.length - LOG_LINES);
  }
}

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string' || v === '') throw new ControlError({ message: `missing ${key}` });
  return v;
}

function optStr(args: Record<string, unknown>, key: string): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ControlError({ message: `${key} must be a string` });
  return v;
}

function optInt(args: Record<string, unknown>, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ControlError({ message: `${key} must be a whole number, got ${JSON.stringify(v)}` });
  return v;
}

function strList(args: Record<string, unknown>, key: string): string[] {
  const v = args[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ControlError({ message: `${key} must be a list of strings` });
  return v as string[];
}
