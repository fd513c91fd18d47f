// run-linux-guest.ts — owns running guest programs against the real kernel: each guest is a child
// Node process running the compiled linux-guest-entry (plain JavaScript, no loader) and the program
// compiled once by the parent; the guests of one run share one knob guard (lock + snapshot of
// /sys/kernel/mm/ksm) held here in the parent.

import { fork, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileModule, type CompiledModule } from '../../platform/module-compiler.ts';
import { workerModule } from '../../platform/worker-module.ts';
import { isGuestMessage, type GuestOutcomeMessage, type LinuxGuestConfig } from './guest-messages.ts';
import { withKnobGuard, type KnobGuardOptions } from './knob-guard.ts';

const ENTRY = new URL('./linux-guest-entry.ts', import.meta.url);

export interface LinuxGuestSpec {
  /** A .ts or .js guest program (default export main(sys, args)). */
  readonly program: string;
  readonly name?: string;
  readonly args?: readonly string[];
  /** May write sysfs knobs (default false, like a non-root process). */
  readonly root?: boolean;
  /** Reported as sys.node (default 0). */
  readonly node?: number;
}

export interface LinuxGuestOptions {
  /** Kill the guest (SIGKILL) after this long (default: no limit). */
  readonly timeoutMs?: number;
  /** Each log line as `[name] text`, as it arrives. */
  readonly onLog?: (line: string) => void;
  /** The guest's own mappings ([start, end) bytes) each time they change, in order with its log lines. */
  readonly onMaps?: (ranges: ReadonlyArray<readonly [number, number]>) => void;
}

export interface LinuxRunOptions extends LinuxGuestOptions, KnobGuardOptions {
  /** Runs inside the knob guard before the first guest starts (e.g. to write knobs the run sets). */
  readonly beforeStart?: () => void | Promise<void>;
}

export interface LinuxGuestResult {
  readonly name: string;
  readonly program: string;
  /** The child's real pid. */
  readonly pid: number;
  /** The program's return value (0 for undefined), 1 for a thrown error, 128+n when killed by signal n. */
  readonly exitCode: number;
  readonly logs: readonly string[];
  readonly error?: string;
  readonly seconds: number;
}

export interface LinuxGuestProcess {
  readonly name: string;
  readonly pid: number;
  readonly done: Promise<LinuxGuestResult>;
  /** SIGKILL the guest now (synchronous, usable from signal handlers). */
  kill(): void;
}

/** Start one guest; the caller is responsible for the knobs (see runLinuxGuests). */
export function startLinuxGuest(spec: LinuxGuestSpec, options: LinuxGuestOptions = {}): LinuxGuestProcess {
  const program = resolve(spec.program);
  const name = spec.name ?? basename(program).replace(/\.[cm]?[jt]s$/, '');
  const started = performance.now();
  let compiled: CompiledModule;
  try {
    compiled = compileModule(program);
  } catch (e) {
    // No process to start: the run reports the program's error as this guest's outcome.
    const error = (e as Error).message;
    return { name, pid: -1, done: Promise.resolve({ name, program, pid: -1, exitCode: 1, logs: [], error, seconds: 0 }), kill: () => {} };
  }
  const config: LinuxGuestConfig = { program, programUrl: compiled.url.href, args: [...(spec.args ?? [])], root: spec.root ?? false, node: spec.node ?? 0 };
  const child = fork(fileURLToPath(workerModule(ENTRY)), [JSON.stringify(config)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const done = supervise(child, name, program, started, options);
  return { name, pid: child.pid ?? -1, done, kill: () => void child.kill('SIGKILL') };
}

/** Run guests together under one knob guard: the real KSM knobs are restored when all have ended. */
export async function runLinuxGuests(specs: readonly LinuxGuestSpec[], options: LinuxRunOptions = {}): Promise<LinuxGuestResult[]> {
  const running: LinuxGuestProcess[] = [];
  const beforeRestore = (): void => {
    for (const g of running) g.kill();
    options.beforeRestore?.();
  };
  return withKnobGuard(async () => {
    await options.beforeStart?.();
    for (const spec of specs) running.push(startLinuxGuest(spec, options));
    return Promise.all(running.map((g) => g.done));
  }, { ...options, beforeRestore });
}

export async function runLinuxGuest(spec: LinuxGuestSpec, options: LinuxRunOptions = {}): Promise<LinuxGuestResult> {
  const [result] = await runLinuxGuests([spec], options);
  return result;
}

function supervise(child: ChildProcess, name: string, program: string, started: number, options: LinuxGuestOptions): Promise<LinuxGuestResult> {
  const logs: string[] = [];
  let outcome: GuestOutcomeMessage | undefined;
  let timedOut = false;
  child.on('message', (m: unknown) => {
    if (!isGuestMessage(m)) return;
    if (m.type === 'log') {
      logs.push(m.line);
      options.onLog?.(`[${name}] ${m.line}`);
    } else if (m.type === 'maps') {
      options.onMaps?.(m.ranges);
    } else {
      outcome = m;
    }
  });
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  return new Promise((resolveDone) => {
    const end = (exitCode: number, error?: string): void => {
      clearTimeout(timer);
      resolveDone({ name, program, pid: child.pid ?? -1, exitCode, logs, error, seconds: (performance.now() - started) / 1000 });
    };
    child.once('error', (e) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      end(1, `could not run the guest process: ${e.message}`);
    });
    // 'close' comes after the last IPC message, so the outcome is known by then.
    child.once('close', (code, signal) => {
      if (timedOut) return end(128 + 9, `timed out after ${options.timeoutMs} ms`);
      if (outcome?.type === 'exit') return end(outcome.code, outcome.code === 0 ? undefined : `exit status ${outcome.code}`);
      if (outcome?.type === 'error') return end(1, outcome.message);
      if (signal) return end(128 + signalNumber(signal), `killed by ${signal}`);
      end(code ?? 1, `the guest process exited with ${code} before reporting`);
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
