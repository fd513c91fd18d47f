// collect-garbage.ts — owns asking V8 for a full collection, for the one place it matters: the
// frames of a host that was shut down are returned to the OS only when its banks are collected.
//
// A bank is a shared WebAssembly.Memory of up to gigabytes, held by a handful of JS objects: nothing
// on the JS heap tells V8 to hurry, so a density run's second host (KSM on) used to start while the
// first one's frames were still resident, doubling the run's peak RSS.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** Run a full garbage collection now (exposes V8's gc() once, without a command-line flag). */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
