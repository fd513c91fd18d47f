// spawn-worker.ts — owns launching a long-lived TypeScript worker with a comlink endpoint.

import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import * as Comlink from 'comlink';

const BOOT = new URL('./worker-boot.mjs', import.meta.url);

export interface SpawnedWorker<Api> {
  readonly worker: Worker;
  readonly api: Comlink.Remote<Api>;
  readonly port: MessagePort;
  /** Ends the thread and closes the channel; safe to call twice. */
  close(): Promise<void>;
}

/** Start `entry` (a .ts module URL) in a worker; `data` arrives as workerData with `port` added. */
export function spawnWorker<Api>(entry: URL, data: object, transfer: TransferListItem[] = [], resourceLimits?: { maxOldGenerationSizeMb?: number }): SpawnedWorker<Api> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(BOOT, {
    workerData: { ...data, __entry: entry.href, port: port2 },
    transferList: [port2, ...transfer],
    resourceLimits,
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

/** The worker side: expose `api` on the port the host passed in workerData. */
export function exposeApi(api: object, port: MessagePort): void {
  Comlink.expose(api, port as unknown as Comlink.Endpoint);
}
