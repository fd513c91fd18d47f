// spawn-worker.ts — owns launching a long-lived worker, bare or with a comlink endpoint: the worker runs plain
// JavaScript (see worker-module.ts) with no loader inherited from the parent's command line.

import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import type { CompiledModule } from './module-compiler.ts';
import { scriptThreadInput } from './script-thread.ts';
import { workerModule } from './worker-module.ts';

export interface SpawnedWorker<Api> {
  readonly worker: Worker;
  readonly api: Comlink.Remote<Api>;
  readonly port: MessagePort;
  /** Ends the thread and closes the channel; safe to call twice. */
  close(): Promise<void>;
}

export interface WorkerLimits {
  readonly maxOldGenerationSizeMb?: number;
  readonly maxYoungGenerationSizeMb?: number;
  readonly stackSizeMb?: number;
}

/** Start module `entry` (a module of ksmsim, or one compiled already) in a bare worker thread, `data` as its workerData. */
export function startThread(entry: URL | CompiledModule, data: object, transfer: TransferListItem[] = [], resourceLimits?: WorkerLimits): Worker {
  // A guest bundle (CommonJS) runs through script-thread.ts's loader, from V8's code cache.
  const script = !(entry instanceof URL) && entry.format === 'cjs' ? scriptThreadInput(fileURLToPath(entry.url), data) : undefined;
  return new Worker(script?.code ?? (entry instanceof URL ? workerModule(entry) : entry.url), {
    eval: script !== undefined,
    workerData: script?.workerData ?? data,
    transferList: transfer,
    resourceLimits,
    // A parent started with `--import tsx` (the test runner) would hand its loader to every worker.
    execArgv: [],
    stdout: false,
    stderr: false,
  });
}

/** Start module `entry` in a worker serving a comlink API; `data` arrives as workerData with `port` added. */
export function spawnWorker<Api>(entry: URL | CompiledModule, data: object, transfer: TransferListItem[] = [], resourceLimits?: WorkerLimits): SpawnedWorker<Api> {
  const { port1, port2 } = new MessageChannel();
  const worker = startThread(entry, { ...data, port: port2 }, [port2, ...transfer], resourceLimits);
  const api = Comlink.wrap<Api>(port1 as unknown as Comlink.Endpoint);
  let closed = false;
  return {
    worker,
    api,
    port: port1,
    async close() {
      if (closed) return;
      closed = true;
      port1.close();
      await worker.terminate();
    },
  };
}
