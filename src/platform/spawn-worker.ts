// spawn-worker.ts — owns launching a long-lived worker with a comlink endpoint: the worker runs plain
// JavaScript (see worker-module.ts) with no loader inherited from the parent's command line.

import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { CompiledModule } from './module-compiler.ts';
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

/** Start module `entry` (a module of ksmsim, or one compiled already) in a worker; `data` arrives as workerData with `port` added. */
export function spawnWorker<Api>(entry: URL | CompiledModule, data: object, transfer: TransferListItem[] = [], resourceLimits?: WorkerLimits): SpawnedWorker<Api> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(entry instanceof URL ? workerModule(entry) : entry.url, {
    workerData: { ...data, port: port2 },
    transferList: [port2, ...transfer],
    resourceLimits,
    // A parent started with `--import tsx` (the test runner) would hand its loader to every worker.
    execArgv: [],
    stdout: false,
    stderr: false,
  });
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
