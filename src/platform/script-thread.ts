// script-thread.ts — owns what a worker thread needs to run a CommonJS bundle from V8's code cache, so that
// no thread parses the bundle (~100 KB of guest runtime and program) or compiles its boot path again.
//
// Two caches, per bundle:
// - cold: made by this process from the source alone (top-level code only), at the bundle's first
//   thread. Measured in instructions: a bare worker 118 M; the bundle parsed +14.8 M; cold +6.5 M.
// - warm: made by one thread after its program has run a while (or ended), so it also holds every
//   function the runtime and the program compiled on the way (mmap, faults, the syscall surface):
//   ~2 ms of CPU less per guest thread than cold (thread CPU at the program's first READY: 24.2–26.2
//   ms cold, 21.8–22.3 ms warm, a bare worker's first statement 20–22 ms). It is written beside the
//   bundle in the compile cache, named for the Node version, and used by later hosts — like Node 22's
//   module compile cache. V8 checks a cache against its version, flags and the source; a rejected
//   one only costs the parse it would have saved, and the next thread writes a fresh one.

import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** What a worker started here finds in workerData beside the caller's data. */
const SCRIPT_KEY = '__ksmsimScript';

// The same wrapper as Node's CommonJS loader, so that the bundle sees require/module/exports. The
// cache is only accepted for exactly the source it was made from: producer and loader must agree.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n})';

// Runs in the new thread as an eval'd CommonJS script (no file to resolve, no ES module loader). It
// takes the source from workerData rather than reading the file, and lends the bundle its own
// require (a bundle requires only Node's built-in modules): each saved step is a few hundred µs of a
// thread's boot. The thread asked to write the warm cache does it once: 250 ms after it starts, or
// when its program ends (the runtime calls the hook), whichever is first; a write that fails (a
// read-only cache folder) is only a cache not written.
const LOADER = `'use strict';
const { workerData } = require('node:worker_threads');
const { Script, constants } = require('node:vm');
const { file, dir, source, cache, warmOut } = workerData[${JSON.stringify(SCRIPT_KEY)}];
const script = new Script(source, { filename: file, cachedData: new Uint8Array(cache), importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
// Tests ask whether the cache was taken (a guest program may read it too; it is no secret).
globalThis[Symbol.for('ksmsim.codeCacheRejected')] = script.cachedDataRejected;
if (warmOut) {
  let saved = false;
  const save = () => {
    if (saved) return;
    saved = true;
    const fs = require('node:fs');
    const tmp = warmOut + '.' + process.pid + '.' + require('node:worker_threads').threadId;
    try { fs.writeFileSync(tmp, script.createCachedData()); fs.renameSync(tmp, warmOut); } catch { try { fs.unlinkSync(tmp); } catch {} }
  };
  globalThis[Symbol.for('ksmsim.saveCodeCache')] = save;
  setTimeout(save, 250).unref();
}
const module = { exports: {} };
script.runInThisContext()(module.exports, require, module, file, dir);
`;

/** Called by a runtime when its program has ended: the thread writes the warm cache now, if it was asked to. */
export const SAVE_CODE_CACHE = Symbol.for('ksmsim.saveCodeCache');

interface CompiledScript {
  readonly file: string;
  readonly dir: string;
  /** The bundle inside the CommonJS wrapper: exactly the text the cache was made from. */
  readonly source: string;
  /** V8's code cache for `source`, shared by every thread (none copies it). */
  readonly cache: SharedArrayBuffer;
  readonly kind: 'warm' | 'cold';
  /** Where the first thread writes a warm cache (cold only; cleared once a thread was asked). */
  warmOut?: string;
}

// One compilation per bundle per process.
const scripts = new Map<string, CompiledScript>();

/** `<bundle>.<node version>.v8cache`: a Node upgrade starts a new file instead of fighting over one. */
function warmCachePath(file: string): string {
  return `${file}.${process.version}.v8cache`;
}

function acceptedWarmCache(file: string, source: string): Buffer | undefined {
  const path = warmCachePath(file);
  if (!existsSync(path)) return undefined;
  try {
    const data = readFileSync(path);
    return new Script(source, { filename: file, cachedData: data }).cachedDataRejected ? undefined : data;
  } catch {
    return undefined; // unreadable: as if absent
  }
}

function compiledScript(file: string): CompiledScript {
  let known = scripts.get(file);
  if (!known) {
    const source = WRAP_HEAD + readFileSync(file, 'utf8') + WRAP_TAIL;
    const warm = acceptedWarmCache(file, source);
    const data = warm ?? new Script(source, { filename: file }).createCachedData();
    const cache = new SharedArrayBuffer(data.byteLength);
    new Uint8Array(cache).set(data);
    known = { file, dir: dirname(file), source, cache, kind: warm ? 'warm' : 'cold', warmOut: warm ? undefined : warmCachePath(file) };
    scripts.set(file, known);
  }
  return known;
}

/** Which cache this process's threads of bundle `file` start from (undefined: none started yet). */
export function codeCacheKind(file: string): 'warm' | 'cold' | undefined {
  return scripts.get(file)?.kind;
}

/** Forget every compiled bundle, as a new process would start (tests). */
export function forgetCompiledScripts(): void {
  scripts.clear();
}

/** What one thread is handed: the first thread of a cold bundle also gets the warm cache to write. */
function scriptFor(file: string): Omit<CompiledScript, 'kind'> {
  const known = compiledScript(file);
  const { warmOut, ...shared } = known;
  if (!warmOut) return shared;
  known.warmOut = undefined;
  return { ...shared, warmOut };
}

/**
 * How to start a worker on the CommonJS bundle `file`: the eval'd loader as its code, and `data` with
 * the compiled script beside it as its workerData (spawn-worker.ts starts the thread).
 */
export function scriptThreadInput(file: string, data: object): { readonly code: string; readonly workerData: object } {
  return { code: LOADER, workerData: { ...data, [SCRIPT_KEY]: scriptFor(file) } };
}
