// guest-worker.ts — owns the guest VM thread: attaches to shared memory, builds the guest's
// GuestSys, runs the guest program, and reports how it ended. The host compiles this module and the
// program into one file (platform/module-compiler.ts) whose entry calls startWith(program).

import { workerData, type MessagePort } from 'node:worker_threads';
import { AddressSpace } from '../mem/address-space.ts';
import { OutOfMemoryKill, isErrnoError } from '../mem/errno.ts';
import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import { PhysicalMemory, type PhysicalMemoryHandles } from '../mem/physical-memory.ts';
import { KsmState, type KsmStateHandles } from '../ksm/ksm-state.ts';
import { MITIGATION_VUSION } from '../ksm/merge-policy.ts';
import { exposeApi } from '../platform/expose-api.ts';
import { EmulatedSys } from './emulated-sys.ts';
import { sealGuestSys } from './sealed-sys.ts';
import { attachGuestEngine } from '../engines/engine-runtime.ts';
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

export type GuestOutcome =
  | { kind: 'exit'; code: number }
  | { kind: 'oom'; message: string }
  | { kind: 'error'; message: string; stack?: string; code?: string };

function guestApi(program: Partial<GuestProgramModule>, data: GuestWorkerData) {
  const memory = PhysicalMemory.attach(data.memory);
  const ksm = KsmState.attach(data.ksm);
  const engine = attachGuestEngine(data.engine, memory, ksm, data.space.pid);
  const space = new AddressSpace(data.space, memory, {
    addKsmZeroPages: (d) => ksm.add('ksm_zero_pages', d), ksmEntered: () => ksm.wake(), engineAdvice: engine.advice, mergeableAtMmap: engine.mergeableAtMmap,
    // The host fixes its mitigation before any guest starts (merge-policy.ts).
    copyOnKsmdWriteProtect: (ksm.get('mitigation') & MITIGATION_VUSION) !== 0,
  });
  return {
    async run(log: (line: string) => void): Promise<GuestOutcome> {
      const sys = sealGuestSys(new EmulatedSys(space, engine.files, data.root, (line) => void log(line)));
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
    },
  };
}

export type GuestWorkerApi = ReturnType<typeof guestApi>;

/** The thread's entry (called by the compiled bundle with the program's module namespace). */
export function startWith(program: Partial<GuestProgramModule>): void {
  const data = workerData as GuestWorkerData & { port: MessagePort };
  // guestApi keeps its own copy of the fields: hideSharedMemory empties the shared object.
  exposeApi(guestApi(program, { ...data }), data.port);
  hideSharedMemory(data as unknown as Record<string, unknown>);
}

/**
 * Once attached, take the shared memory handles (and the host's port) out of workerData, the one
 * place a program could otherwise import them from (import { workerData } from 'node:worker_threads').
 * Only the pid stays: requestOwner() identifies this guest by it (ksm-state.ts).
 */
function hideSharedMemory(data: Record<string, unknown>): void {
  const pid = (data.space as GuestWorkerData['space']).pid;
  for (const key of Object.keys(data)) delete data[key];
  data.space = { pid };
}
