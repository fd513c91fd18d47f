// build.mjs — owns compiling the project's TypeScript (src/) into plain JavaScript (dist/src/), once,
// so that no worker ever runs a TypeScript loader. Plain JavaScript itself, so `npm ci` (postinstall),
// bin/ksmsim and the test harness can run it with no loader either.
//
// esbuild transpiles each file on its own (no type checking: `npm run typecheck` does that) and the
// relative `.ts` specifiers are rewritten to `.js`. A stamp records the sources it was built from; a
// checkout whose src/ changed since is "stale", and bin/ksmsim and the worker launcher rebuild it
// (saying so on stderr) instead of running old code.

import { buildSync } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const stampOf = (root) => join(root, 'dist', 'build-stamp.json');

/** Every .ts file under src/, relative to the root, sorted; with the newest mtime among them. */
function listSources(root) {
  const files = [];
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        files.push(relative(root, p));
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  walk(join(root, 'src'));
  files.sort();
  return { files, newest };
}

/** Why dist/ does not match src/ (a file added, removed or edited since the last build), or undefined. */
export function staleReason(root = ROOT) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampOf(root), 'utf8'));
  } catch {
    return 'dist/ has not been built';
  }
  const { files, newest } = listSources(root);
  if (stamp.files.join('\n') !== files.join('\n')) return 'files were added to or removed from src/';
  // mtimes, not hashes: a check on every command must cost well under a millisecond per file.
  if (newest > stamp.newest) return 'src/ was edited';
  return undefined;
}

// `from "./x.ts"`, `import "./x.ts"`, `import("./x.ts")` as esbuild prints them (always double quotes).
const RELATIVE_TS = /((?:\bfrom|\bimport)\s*\(?\s*)"(\.\.?\/[^"]*?)\.([mc]?)ts"/g;

/** Compile src/ to dist/src/ (about 0.3 s); returns the number of files written. */
export function build(root = ROOT) {
  const { files, newest } = listSources(root);
  rmSync(join(root, 'dist', 'src'), { recursive: true, force: true });
  const result = buildSync({
    entryPoints: files.map((f) => join(root, f)),
    outbase: root,
    outdir: join(root, 'dist'),
    bundle: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  for (const out of result.outputFiles) {
    mkdirSync(dirname(out.path), { recursive: true });
    writeFileSync(out.path, out.text.replace(RELATIVE_TS, (_, lead, spec, m) => `${lead}"${spec}.${m}js"`));
  }
  writeFileSync(stampOf(root), JSON.stringify({ files, newest, builtAt: new Date().toISOString() }, null, 1));
  return result.outputFiles.length;
}

/** Build if dist/ is missing or stale, telling stderr why (a stale build is never used silently). */
export function ensureBuilt(root = ROOT) {
  const why = staleReason(root);
  if (!why) return false;
  const t0 = performance.now();
  const n = build(root);
  process.stderr.write(`ksmsim: ${why}: rebuilt dist/ (${n} files, ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const n = build();
  console.log(`ksmsim: built dist/ (${n} files, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
