// guest-worker.ts — owns the guest VM thread: attaches to shared memory, builds the guest's
// GuestSys, runs the guest program, and reports how it ended. The host compiles this module and the
// program into one file (platform/module-compiler.ts) whose entry calls startWith(program).
//
// The thread talks to the host in one direction only (log lines, then one outcome), so it posts plain
// messages on its parentPort: no RPC proxy, no extra channel. A comlink channel and its run() call cost
// ~2 ms of CPU per guest, a tenth of what a guest may cost to boot (issue 10).

import { parentPort, workerData } from 'node:worker_threads';
import { AddressSpace } from '../mem/address-space.ts';
import { OutOfMemoryKill, isErrnoError } from '../mem/errno.ts';
import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import { PhysicalMemory, type PhysicalMemoryHandles } from '../mem/physical-memory.ts';
import { KsmState, memoryHooks, type KsmStateHandles } from '../ksm/ksm-state.ts';
import { EmulatedSys } from './emulated-sys.ts';
import { attachGuestEngine } from '../engines/engine-runtime.ts';
import { SAVE_CODE_CACHE } from '../platform/script-thread.ts';
import type { EngineHandles } from '../engines/engine.ts';
import type { GuestProgramModule } from './guest-sys.ts';

export interface GuestWorkerData {
  readonly memory: PhysicalMemoryHandles;
  readonly ksm: KsmStateHandles;
  readonly space: GuestSpaceHandles;
  /** The program's path, for messages (the code itself is already in this thread's bundle). */
  readonly program: string;
  readonly args: readonly string[];
  readonly root: boolean;
  /** The host's merge engine (absent: ksm). */
  readonly engine?: EngineHandles;
}

/** What a guest thread posts to the host: any number of log lines, then exactly one `end`. */
export type GuestMessage = { kind: 'log'; line: string } | { kind: 'end'; outcome: GuestOutcome };

export type GuestOutcome =
  | { kind: 'exit'; code: number }
  | { kind: 'oom'; message: string }
  | { kind: 'error'; message: string; stack?: string; code?: string };

async function runGuest(program: Partial<GuestProgramModule>, data: GuestWorkerData, log: (line: string) => void): Promise<GuestOutcome> {
  const memory = PhysicalMemory.attach(data.memory);
  const ksm = KsmState.attach(data.ksm);
  const engine = attachGuestEngine(data.engine, memory, ksm, data.space.pid);
  const space = new AddressSpace(data.space, memory, {
    ...memoryHooks(ksm), ksmEntered: () => ksm.wake(), engineAdvice: engine.advice, mergeableAtMmap: engine.mergeableAtMmap,
    // ksmd's loop reclaims (KsmEngine.reclaim): wake it, if there is one.
    memoryPressure: () => {
      if (!ksm.ksmdAlive()) return false;
      ksm.wake();
      return true;
    },
  });
  const sys = new EmulatedSys(space, engine.files, data.root, (line) => void log(line));
  try {
    if (typeof program.default !== 'function') {
      return { kind: 'error', message: `${data.program} has no default export main(sys, args)` };
    }
    const ret = await program.default(sys, [...data.args]);
    const code = typeof ret === 'number' ? ret : 0;
    return { kind: 'exit', code };
  } catch (e) {
    if (e instanceof OutOfMemoryKill) return { kind: 'oom', message: e.message };
    const err = e as Error;
    return { kind: 'error', message: err?.message ?? String(e), stack: err?.stack, code: isErrnoError(e) ? e.code : undefined };
  }
}

/** The thread's entry (called by the compiled bundle with the program's module namespace). */
export function startWith(program: Partial<GuestProgramModule>): void {
  const data = workerData as GuestWorkerData;
  const post = (m: GuestMessage): void => parentPort!.postMessage(m);
  runGuest(program, data, (line) => post({ kind: 'log', line }))
    .catch((e: unknown): GuestOutcome => ({ kind: 'error', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack }))
    .then((outcome) => {
      // A thread asked to write the warm code cache does it before it can be ended (script-thread.ts).
      (globalThis as { [SAVE_CODE_CACHE]?: () => void })[SAVE_CODE_CACHE]?.();
      post({ kind: 'end', outcome });
    });
}
