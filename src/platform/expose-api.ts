// expose-api.ts — owns the worker side of spawn-worker.ts's channel: serve an API on the port the parent
// passed in workerData. Kept apart so a worker never loads the launcher (and its compiler) itself.

import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';

/** Expose `api` on the port the host passed in workerData. */
export function exposeApi(api: object, port: MessagePort): void {
  Comlink.expose(api, port as unknown as Comlink.Endpoint);
}
