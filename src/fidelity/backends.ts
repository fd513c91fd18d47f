// backends.ts — owns running one fidelity scenario on one backend: the emulator (a fresh Host, the
// scenario's knobs written as root before launch) or the real kernel (child processes under the
// knob guard, the knobs written inside it), with the guests' log lines collected per guest. Both
// start from the kernel's default knobs: the kernel's are reset to them inside the guard, and a
// fresh emulated host is checked to show them.

import { KERNEL_KNOB_DEFAULTS } from '../backend/linux/kernel-defaults.ts';
import type { KnobGuard } from '../backend/linux/knob-guard.ts';
import { disableSwapFile, enableSwapFile, type SwapFile } from '../backend/linux/swap-file.ts';
import { selectedChoice, writeRealFile } from '../backend/linux/real-files.ts';
import { runLinuxGuests } from '../backend/linux/run-linux-guest.ts';
import { Host } from '../host/host.ts';
import { KSM_DIR } from '../ksm/sysfs.ts';
import type { Scenario } from './scenarios.ts';

export type BackendName = 'emulator' | 'linux';

export interface GuestRun {
  readonly name: string;
  readonly exitCode: number;
  readonly error?: string;
  readonly logs: readonly string[];
}

export interface BackendRun {
  readonly backend: BackendName;
  readonly guests: readonly GuestRun[];
  readonly seconds: number;
}

/** Memory of the emulated host for a scenario: enough for every scenario, cheap to create. */
const EMULATOR_MEMORY = 512 * 2 ** 20;

export interface RunOptions {
  /** Appended to each guest's [index, count] arguments. */
  readonly args?: readonly string[];
  /** Physical memory of the emulated host (default 512 MiB). */
  readonly memoryBytes?: number;
  /** The kernel side nests in this guard (which holds the run lock) instead of taking the lock. */
  readonly guard?: KnobGuard;
}

/**
 * The knobs of a fresh emulated host that differ from the kernel's defaults, as "name: value, not
 * default" (empty when it starts where a freshly booted kernel does).
 */
export function emulatorDefaultMismatches(host: Host): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(KERNEL_KNOB_DEFAULTS)) {
    const now = selectedChoice(host.readFile(KSM_DIR + name));
    if (now !== value) out.push(`${name} ${now}, not ${value}`);
  }
  return out;
}

export function guestName(index: number): string {
  return `g${index}`;
}

export async function runOnEmulator(s: Scenario, options: RunOptions = {}): Promise<BackendRun> {
  const started = performance.now();
  const logs = new Map<string, string[]>();
  const host = await Host.start({
    memoryBytes: options.memoryBytes ?? EMULATOR_MEMORY,
    swapBytes: s.meta.swapBytes || undefined,
    onLog: (line) => {
      const m = /^\[([^\]]+)\] (.*)$/s.exec(line);
      if (m && logs.has(m[1]!)) logs.get(m[1]!)!.push(m[2]!);
    },
  });
  try {
    const mismatches = emulatorDefaultMismatches(host);
    if (mismatches.length) throw new Error(`${s.name}: a fresh emulated host does not start from the kernel's default knobs: ${mismatches.join('; ')}`);
    for (const [key, value] of Object.entries(s.meta.knobs)) {
      try {
        await host.writeFile(KSM_DIR + key, value);
      } catch (e) {
        throw new Error(`${s.name}: knob ${key}=${value} on the emulator: ${(e as Error).message}`);
      }
    }
    const n = s.meta.guests;
    const handles = Array.from({ length: n }, (_, i) => {
      logs.set(guestName(i), []);
      return host.launch(s.path, { name: guestName(i), args: [String(i), String(n), ...(options.args ?? [])], root: s.meta.root });
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => {
      timer = setTimeout(() => res('timeout'), s.meta.timeoutMs);
    });
    const all = Promise.all(handles.map((h) => h.done));
    const first = await Promise.race([all, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') await Promise.all(handles.map((h) => h.kill()));
    const reports = await all;
    const guests = reports.map((r) => ({
      name: r.name,
      exitCode: r.exitCode,
      error: first === 'timeout' && r.status !== 'exited' ? `timed out after ${s.meta.timeoutMs} ms` : r.error,
      logs: logs.get(r.name) ?? [],
    }));
    return { backend: 'emulator', guests, seconds: (performance.now() - started) / 1000 };
  } finally {
    await host.shutdown();
  }
}

/** The caller must have checked linuxBackendAvailable(). Waits up to `lockWaitMs` for another run's lock. */
export async function runOnLinux(s: Scenario, lockWaitMs = 60_000, options: RunOptions = {}): Promise<BackendRun> {
  const started = performance.now();
  const n = s.meta.guests;
  const specs = Array.from({ length: n }, (_, i) => ({ program: s.path, name: guestName(i), args: [String(i), String(n), ...(options.args ?? [])], root: s.meta.root }));
  let swap: SwapFile | undefined;
  const results = await runLinuxGuests(specs, {
    timeoutMs: s.meta.timeoutMs,
    waitMs: lockWaitMs,
    // The machine's knobs are whatever its last user left; the scenario starts where a fresh kernel does.
    startFromDefaults: true,
    ...(options.guard ? { within: options.guard } : {}),
    // Inside the guard (the run lock is held): swap off and the file gone before the lock is released.
    beforeRestore: () => {
      if (swap) disableSwapFile(swap);
      swap = undefined;
    },
    beforeStart: () => {
      if (s.meta.swapBytes) swap = enableSwapFile(s.meta.swapBytes);
      for (const [key, value] of Object.entries(s.meta.knobs)) {
        try {
          writeRealFile(KSM_DIR + key, value);
        } catch (e) {
          throw new Error(`${s.name}: knob ${key}=${value} on the kernel: ${(e as Error).message}`);
        }
      }
    },
  });
  const guests = results.map((r) => ({ name: r.name, exitCode: r.exitCode, error: r.error, logs: r.logs }));
  return { backend: 'linux', guests, seconds: (performance.now() - started) / 1000 };
}
