// build.test.ts — the project is compiled once (src/ → dist/src/, relative .ts imports → .js), and a
// build whose sources changed since is stale: it is rebuilt, never run silently.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { DIST_SOURCE_DIR, isInside } from '../../src/platform/project-root.ts';
// @ts-expect-error plain JavaScript without declarations (it must run before anything is compiled)
import { build, staleReason } from '../../scripts/build.mjs';

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'ksmsim-build-'));
  mkdirSync(join(root, 'src', 'mem'), { recursive: true });
  writeFileSync(join(root, 'src', 'mem', 'a.ts'), "import { b } from './b.ts';\nexport const a: number = b + 1;\n");
  writeFileSync(join(root, 'src', 'mem', 'b.ts'), 'export const b: number = 1;\n');
  return root;
}

describe('the project build (scripts/build.mjs)', () => {
  it('compiles src/ to dist/src/ with relative .ts imports rewritten to .js', async () => {
    const root = project();
    expect(build(root)).to.equal(2);
    const out = readFileSync(join(root, 'dist', 'src', 'mem', 'a.js'), 'utf8');
    expect(out).to.contain('from "./b.js"');
    expect(out).to.not.contain(': number');
    const mod = (await import(join(root, 'dist', 'src', 'mem', 'a.js'))) as { a: number };
    expect(mod.a).to.equal(2);
  });

  it('is stale before the first build, fresh after it', () => {
    const root = project();
    expect(staleReason(root)).to.equal('dist/ has not been built');
    build(root);
    expect(staleReason(root)).to.equal(undefined);
  });

  it('is stale once a source file is edited', () => {
    const root = project();
    build(root);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(root, 'src', 'mem', 'b.ts'), later, later);
    expect(staleReason(root)).to.equal('src/ was edited');
  });

  it('is stale once a source file is added', () => {
    const root = project();
    build(root);
    writeFileSync(join(root, 'src', 'mem', 'c.ts'), 'export const c = 3;\n');
    expect(staleReason(root)).to.equal('files were added to or removed from src/');
  });

  it('the checkout itself is built and fresh when the tests run (npm test builds first)', () => {
    expect(staleReason()).to.equal(undefined);
  });

  it('every relative import of the compiled project names a file inside dist/src (src/ never imports guests/)', () => {
    const bad: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.js')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"(\.\.?\/[^"]+)"/g)) {
            const target = resolve(dirname(p), m[1]!);
            if (!isInside(target, DIST_SOURCE_DIR) || !existsSync(target)) bad.push(`${relative(DIST_SOURCE_DIR, p)} → ${m[1]}`);
          }
        }
      }
    };
    walk(DIST_SOURCE_DIR);
    expect(bad).to.deep.equal([]);
  });
});
