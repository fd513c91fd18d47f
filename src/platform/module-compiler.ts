// module-compiler.ts — owns turning a program (a guest, or any module a worker runs) into one plain
// JavaScript file, once: TypeScript or JavaScript, anywhere on disk, in any package scope, with its own
// relative imports bundled in. Either way the program and the code running it share one copy of every
// ksmsim module (one ErrnoError class, one set of constants):
// - with a `runtime` (a guest): the runtime and the program are bundled into ONE file that is the
//   worker's entry, so a guest thread loads one module instead of twenty (what a guest costs to boot),
//   as CommonJS where the program allows (see buildPreferringCommonJs);
// - without (a fixture, a linux-backend guest): imports of ksmsim itself (`'ksmsim'`, or a path into
//   src/) stay imports of the compiled project in dist/, where the code running it lives too.
//
// Compiled files are cached by content under node_modules/.cache/ksmsim (or the temp folder), and
// memoised per process by entry path, revalidated by the mtimes of every input esbuild read.

import { buildSync, type BuildFailure, type Message } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT, SOURCE_DIR, compiledSourcePath } from './project-root.ts';

/** A program that could not be compiled: `file:line:col: message`, for the user to go and fix. */
export class ModuleCompileError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, text: string) {
    super(`${file}:${line}:${column}: ${text}`);
    this.name = 'ModuleCompileError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

export interface CompileOptions {
  /**
   * A module of src/ exporting `startWith(program)`: the output then runs it with the program's
   * namespace, all in one bundle (the project's modules included).
   */
  readonly runtime?: string;
}

export interface CompiledModule {
  /** The program as given (absolute). */
  readonly source: string;
  /** The compiled file's URL, for `import()` or `new Worker()`. */
  readonly url: URL;
  /** `cjs`: a guest bundle, for script-thread.ts; `esm`: an ES module. */
  readonly format: 'cjs' | 'esm';
}

interface MemoEntry {
  readonly compiled: CompiledModule;
  readonly inputs: ReadonlyArray<readonly [string, number]>;
  checkedAt: number;
}

const memo = new Map<string, MemoEntry>();
let cacheDir: string | undefined;

function cacheDirectory(): string {
  if (cacheDir) return cacheDir;
  for (const dir of [join(PROJECT_ROOT, 'node_modules', '.cache', 'ksmsim'), join(tmpdir(), `ksmsim-cache-${process.getuid?.() ?? 'user'}`)]) {
    try {
      mkdirSync(dir, { recursive: true });
      return (cacheDir = dir);
    } catch {
      // not writable (a read-only install): try the next one
    }
  }
  throw new Error('no writable cache folder for compiled programs');
}

function mtime(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1;
}

// A fleet launches the same program hundreds of times in a burst: its inputs are stat'ed again only
// when the last check is older than this, not at every launch.
const REVALIDATE_MS = 500;

// An external import of the project as esbuild prints it: an absolute path into src/, or one relative
// to the working folder (the project root), always in double quotes after `from`, `import` or `import(`.
const PROJECT_IMPORT = /((?:\bfrom|\bimport)\s*\(?\s*)"((?:\.\/src\/|\/)[^"]*?\.[mc]?[jt]s)"/g;

function rewriteProjectImports(text: string): string {
  return text.replace(PROJECT_IMPORT, (whole, lead: string, spec: string) => {
    const abs = spec.startsWith('./') ? join(PROJECT_ROOT, spec) : spec;
    if (!abs.startsWith(SOURCE_DIR + '/')) return whole;
    return `${lead}"${pathToFileURL(compiledSourcePath(abs)).href}"`;
  });
}

function failure(e: unknown, source: string): Error {
  const errors = (e as Partial<BuildFailure>).errors;
  const first: Message | undefined = errors?.[0];
  if (!first) return e as Error;
  const loc = first.location;
  if (!loc) return new ModuleCompileError(source, 1, 1, first.text);
  const file = isAbsolute(loc.file) ? loc.file : resolve(PROJECT_ROOT, loc.file);
  // esbuild's columns count from 0; editors and compilers count from 1.
  return new ModuleCompileError(file, loc.line, loc.column + 1, first.text);
}

function build(source: string, runtime: string | undefined, format: 'cjs' | 'esm') {
  return buildSync({
    ...(runtime
      ? { stdin: { contents: `import * as program from ${JSON.stringify(source)};\nimport { startWith } from ${JSON.stringify(runtime)};\nstartWith(program);\n`, resolveDir: PROJECT_ROOT, sourcefile: 'ksmsim-entry.js', loader: 'js' as const } }
      : { entryPoints: [source] }),
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // The project stays outside the bundle (see the header); 'ksmsim' is its public entry.
    alias: { ksmsim: join(SOURCE_DIR, 'guest', 'index.ts') },
    external: runtime ? [] : [`${SOURCE_DIR}/*`],
    // One URL for the whole bundle: the entry's (a helper's own import.meta.url is not kept).
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(source).href) },
    // ES module semantics (strict mode) for a program bundled as CommonJS.
    banner: format === 'cjs' ? { js: '"use strict";' } : undefined,
  });
}

/**
 * A guest bundle is CommonJS: a worker loads a CommonJS file ~4 ms of CPU faster than the same code as
 * an ES module (measured at 128 workers: 25 against 30 ms each), a fifth of what a guest may cost to
 * boot. A program with top-level await cannot be CommonJS, so it keeps the ES module form; so does
 * every module run without a runtime (it imports the project's ES modules in dist/).
 */
function buildPreferringCommonJs(source: string, runtime: string | undefined) {
  if (runtime) {
    try {
      return { result: build(source, runtime, 'cjs'), format: 'cjs' as const };
    } catch (e) {
      if (!/top-level await/i.test(String((e as Partial<BuildFailure>).errors?.[0]?.text))) throw failure(e, source);
    }
  }
  try {
    return { result: build(source, runtime, 'esm'), format: 'esm' as const };
  } catch (e) {
    throw failure(e, source);
  }
}

/** Compile `path` (a .ts, .mts, .js or .mjs file) and return the compiled module; throws ModuleCompileError. */
export function compileModule(path: string, options: CompileOptions = {}): CompiledModule {
  const source = resolve(path);
  const key = `${source}\0${options.runtime ?? ''}`;
  const known = memo.get(key);
  if (known) {
    const now = performance.now();
    if (now - known.checkedAt < REVALIDATE_MS) return known.compiled;
    if (known.inputs.every(([f, t]) => mtime(f) === t)) {
      known.checkedAt = now;
      return known.compiled;
    }
  }
  if (!existsSync(source)) throw new Error(`program not found: ${path}`);
  const runtime = options.runtime;
  const { result, format } = buildPreferringCommonJs(source, runtime);
  const text = runtime ? result.outputFiles[0]!.text : rewriteProjectImports(result.outputFiles[0]!.text);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 20);
  const file = join(cacheDirectory(), `${hash}.${format === 'cjs' ? 'cjs' : 'mjs'}`);
  if (!existsSync(file)) {
    // Write then rename: two hosts compiling the same program never see half a file.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  const compiled: CompiledModule = { source, url: pathToFileURL(file), format };
  // '<stdin>' (the runtime's entry) is no file; every other input is, relative to the working folder.
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('<')).map((f) => {
    const abs = resolve(PROJECT_ROOT, f);
    return [abs, mtime(abs)] as const;
  });
  memo.set(key, { compiled, inputs, checkedAt: performance.now() });
  return compiled;
}
