// worker-boot.mjs — owns starting a TypeScript worker: registers tsx's loader in the new thread,
// then imports the real entry. (new Worker('x.ts') fails under --import tsx; see notes/node-workers.md.)
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.__entry);
