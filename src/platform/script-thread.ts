// script-thread.ts — owns starting a worker thread on a CommonJS bundle from V8's code cache: this
// process compiles the bundle once (node:vm) and every thread deserialises that code instead of parsing
// the whole bundle again. For a guest (~100 KB of runtime and program) that is ~1.5 ms of CPU per
// thread, measured in instructions: 118 M for a bare worker, +14.8 M with the bundle parsed, +6.5 M
// with it from the cache (issue 10).

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Script } from 'node:vm';
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';

/** What a worker started here finds in workerData beside the caller's data. */
const SCRIPT_KEY = '__ksmsimScript';

// The same wrapper as Node's CommonJS loader, so that the bundle sees require/module/exports. The
// cache is only accepted for exactly the source it was made from: producer and loader must agree.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n})';

// Runs in the new thread as an eval'd CommonJS script (no file to resolve, no ES module loader). It
// takes the source from workerData rather than reading the file, and lends the bundle its own
// require (a bundle requires only Node's built-in modules): each saved step is a few hundred µs of a
// thread's boot. A rejected cache (another V8 or other flags) only costs the parse it would have saved.
const LOADER = `'use strict';
const { workerData } = require('node:worker_threads');
const { Script, constants } = require('node:vm');
const { file, dir, source, cache } = workerData[${JSON.stringify(SCRIPT_KEY)}];
const script = new Script(source, { filename: file, cachedData: new Uint8Array(cache), importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
// Tests ask whether the cache was taken (a guest program may read it too; it is no secret).
globalThis[Symbol.for('ksmsim.codeCacheRejected')] = script.cachedDataRejected;
const module = { exports: {} };
script.runInThisContext()(module.exports, require, module, file, dir);
`;

interface CompiledScript {
  readonly file: string;
  readonly dir: string;
  /** The bundle inside the CommonJS wrapper: exactly the text the cache was made from. */
  readonly source: string;
  /** V8's code cache for `source`, shared by every thread (none copies it). */
  readonly cache: SharedArrayBuffer;
}

// One compilation per bundle per process.
const scripts = new Map<string, CompiledScript>();

function compiledScript(file: string): CompiledScript {
  let known = scripts.get(file);
  if (!known) {
    const source = WRAP_HEAD + readFileSync(file, 'utf8') + WRAP_TAIL;
    const data = new Script(source, { filename: file }).createCachedData();
    const cache = new SharedArrayBuffer(data.byteLength);
    new Uint8Array(cache).set(data);
    known = { file, dir: dirname(file), source, cache };
    scripts.set(file, known);
  }
  return known;
}

export interface ScriptThreadOptions {
  readonly transferList?: TransferListItem[];
  readonly resourceLimits?: ResourceLimits;
}

/** Start a worker running the CommonJS bundle `file`, `data` as its workerData. */
export function startScriptThread(file: string, data: object, options: ScriptThreadOptions = {}): Worker {
  return new Worker(LOADER, {
    eval: true,
    workerData: { ...data, [SCRIPT_KEY]: compiledScript(file) },
    transferList: options.transferList,
    resourceLimits: options.resourceLimits,
    // A parent started with `--import tsx` (the test runner) would hand its loader to every worker.
    execArgv: [],
    stdout: false,
    stderr: false,
  });
}
