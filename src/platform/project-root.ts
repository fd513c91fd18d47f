// project-root.ts — owns where ksmsim lives on disk: its root, its sources (src/) and their compiled
// copy (dist/src/), the same whether this module runs from src/ (under the test runner's loader) or dist/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ksmsim') return dir;
    if (dirname(dir) === dir) throw new Error(`ksmsim's package.json not found above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const SOURCE_DIR = join(PROJECT_ROOT, 'src');
export const DIST_DIR = join(PROJECT_ROOT, 'dist');
export const DIST_SOURCE_DIR = join(DIST_DIR, 'src');

/** True when `path` lies inside `dir` (both absolute). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
}

/** src/a/b.ts (or dist/src/a/b.ts, as a compiled module names its sibling) → dist/src/a/b.js. */
export function compiledSourcePath(path: string): string {
  const base = isInside(path, DIST_SOURCE_DIR) ? DIST_SOURCE_DIR : SOURCE_DIR;
  if (!isInside(path, base)) throw new Error(`${path} is not a source file of ksmsim`);
  return join(DIST_SOURCE_DIR, relative(base, path)).replace(/\.([mc]?)[jt]s$/, '.$1js');
}

/** The source of a project module named by its src/ or dist/src/ path (the compiled twin's source). */
export function sourceOfModule(path: string): string {
  if (!isInside(path, DIST_SOURCE_DIR)) return path;
  return join(SOURCE_DIR, relative(DIST_SOURCE_DIR, path)).replace(/\.([mc]?)[jt]s$/, '.$1ts');
}

/** A path inside the project (guests/, native/…): the same from src/ and from dist/src/. */
export function projectPath(...segments: string[]): string {
  return join(PROJECT_ROOT, ...segments);
}
