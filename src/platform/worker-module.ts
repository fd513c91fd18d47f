// worker-module.ts — owns which file a worker thread or child process actually runs: always plain
// JavaScript, never a TypeScript loader. A module of ksmsim (src/x.ts, or its dist/ twin) runs from
// dist/src/x.js; any other module (a test fixture, a bench worker) is compiled by module-compiler.ts.

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileModule } from './module-compiler.ts';
import { DIST_SOURCE_DIR, PROJECT_ROOT, SOURCE_DIR, compiledSourcePath, isInside } from './project-root.ts';

interface BuildScript {
  ensureBuilt(): boolean;
}

let checked = false;

/**
 * Under the test runner the host runs from src/ while its workers run dist/: a src/ edited since the
 * last build must not run stale in the workers, so the first worker of a process rebuilds it if needed
 * (scripts/build.mjs says so on stderr). From dist/ itself, bin/ksmsim made the same check at start.
 */
function ensureFreshBuild(): void {
  if (checked) return;
  checked = true;
  const build = createRequire(import.meta.url)(join(PROJECT_ROOT, 'scripts', 'build.mjs')) as BuildScript;
  build.ensureBuilt();
}

/** The URL a worker should load for module `entry` (a URL or path of a .ts/.js module). */
export function workerModule(entry: URL | string): URL {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry;
  if (isInside(path, DIST_SOURCE_DIR)) return pathToFileURL(compiledSourcePath(path));
  if (isInside(path, SOURCE_DIR)) {
    ensureFreshBuild();
    return pathToFileURL(compiledSourcePath(path));
  }
  ensureFreshBuild();
  return compileModule(path).url;
}
