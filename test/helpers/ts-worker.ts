// ts-worker.ts — start a fixture worker (compiled to plain JavaScript by the host's module compiler,
// like every worker of ksmsim) and collect its result.

import { Worker } from 'node:worker_threads';
import { workerModule } from '../../src/platform/worker-module.ts';

/** Start `entry` (a .ts module URL) in a real worker thread; `data` arrives as workerData. */
export function startTsWorker(entry: URL, data: object): Worker {
  return new Worker(workerModule(entry), { workerData: data, execArgv: [] });
}
/** The first message the worker posts; rejects if it errors or exits first, or after `timeoutMs`. */
export function firstMessage<T>(w: Worker, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker posted nothing within ${timeoutMs} ms`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: T): void => {
      done();
      resolve(m);
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`worker exited with ${code} before posting`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}
