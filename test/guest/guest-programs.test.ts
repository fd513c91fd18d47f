// guest-programs.test.ts — a guest program is any .ts/.mts/.js/.mjs file on disk, compiled once by the
// host into plain JavaScript (no worker runs a TypeScript loader), importing ksmsim by package name.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModuleCompileError, compileModule } from '../../src/platform/module-compiler.ts';
import { GUEST_RUNTIME, Host } from '../../src/host/host.ts';
import { codeCacheKind, forgetCompiledScripts } from '../../src/platform/script-thread.ts';
import { runCli } from '../helpers/run-cli.ts';

/** A fresh folder outside the repository, with no package.json above it (tmpdir has none). */
function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'ksmsim-guest-'));
}

const run = runCli;

describe('guest programs: compiled once, loaded as plain JavaScript', () => {
  it('runs a TypeScript program with type aliases and a relative import, from a folder without package.json', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'helper.ts'), 'export type Bytes = Uint8Array;\nexport const greeting = (pid: number): string => `hello ${pid}`;\n');
    writeFileSync(join(dir, 'my-guest.ts'), [
      "import { greeting, type Bytes } from './helper.ts';",
      'type S = any;',
      'export default async function main(sys: S): Promise<number> {',
      '  const addr: number = sys.mmap(4096);',
      '  const text = greeting(sys.pid);',
      '  sys.write(addr, new TextEncoder().encode(text));',
      '  const back: Bytes = sys.read(addr, text.length);',
      '  sys.log(new TextDecoder().decode(back));',
      '  return 0;',
      '}',
    ].join('\n'));
    const r = await run(['run', join(dir, 'my-guest.ts'), '--memory', '16MiB', '--guests', '2']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.lines.filter((l) => /^\[my-guest\.\d\] hello 10\d$/.test(l))).to.have.length(2);
  });

  it("imports the public API by package name: import { PROT_READ, ErrnoError, type GuestSys } from 'ksmsim'", async () => {
    const dir = scratch();
    const prog = join(dir, 'pkg-import.mts');
    writeFileSync(prog, [
      "import { PROT_READ, ErrnoError, type GuestSys } from 'ksmsim';",
      'export default function main(sys: GuestSys): number {',
      '  const addr = sys.mmap(4096, PROT_READ);',
      '  try { sys.write(addr, new Uint8Array([1])); } catch (e) {',
      // One copy of the project in the thread: the program's ErrnoError is the one the kernel side throws.
      "    sys.log(e instanceof ErrnoError ? `caught ${(e as ErrnoError).code}` : 'foreign error class');",
      '  }',
      '  return 0;',
      '}',
    ].join('\n'));
    const r = await run(['run', prog, '--memory', '16MiB']);
    expect(r.code).to.equal(0);
    expect(r.lines).to.include('[pkg-import] caught EFAULT');
  });

  it('runs a JavaScript program in a CommonJS package scope (.js) and an ES module (.mjs)', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'package.json'), '{ "name": "user-scripts" }\n');
    writeFileSync(join(dir, 'plain.js'), 'export default function main(sys) { sys.log(`js ${sys.pageSize}`); }\n');
    writeFileSync(join(dir, 'plain.mjs'), 'export default async function main(sys) { await sys.sleep(1); sys.log("mjs"); }\n');
    const r = await run(['run', join(dir, 'plain.js'), join(dir, 'plain.mjs'), '--memory', '16MiB']);
    expect(r.code).to.equal(0);
    expect(r.lines).to.include.members(['[plain] js 4096', '[plain] mjs']);
  });

  it('reports a syntax error with the file, line and column, before any guest starts', async () => {
    const dir = scratch();
    const good = join(dir, 'good.ts');
    const bad = join(dir, 'broken.ts');
    writeFileSync(good, "export default function main(sys: any) { sys.log('started'); }\n");
    writeFileSync(bad, 'export default function main() {\n  const x = ;\n}\n');
    const r = await run(['run', good, bad, '--memory', '16MiB']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`${bad}:2:13:`);
    expect(r.lines.some((l) => l.includes('started'))).to.equal(false);
  });

  it('reports a syntax error in a helper the program imports at the helper’s own line', () => {
    const dir = scratch();
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'util.ts'), 'export const a = 1;\nexport const b = (;\n');
    writeFileSync(join(dir, 'uses-util.ts'), "import { a } from './lib/util.ts';\nexport default () => a;\n");
    let err: unknown;
    try {
      compileModule(join(dir, 'uses-util.ts'));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ModuleCompileError);
    expect((err as ModuleCompileError).file).to.equal(join(dir, 'lib', 'util.ts'));
    expect((err as ModuleCompileError).line).to.equal(2);
  });

  it('compiles a program once: a second launch reuses the compiled file, an edit compiles it again', async () => {
    const dir = scratch();
    const prog = join(dir, 'edited.ts');
    writeFileSync(prog, 'export default () => 0;\n');
    const first = compileModule(prog);
    expect(compileModule(prog).url.href).to.equal(first.url.href);
    writeFileSync(prog, 'export default () => 1;\n');
    // The memo re-checks its inputs' mtimes at most every 500 ms (a fleet launches in a burst).
    await new Promise((r) => setTimeout(r, 600));
    expect(compileModule(prog).url.href).to.not.equal(first.url.href);
  });

  it('runs guest threads without a TypeScript loader on their command line', async () => {
    const dir = scratch();
    const prog = join(dir, 'argv.ts');
    writeFileSync(prog, 'export default function main(sys: { log(s: string): void }) { sys.log(`execArgv=${JSON.stringify(process.execArgv)}`); }\n');
    const host = await Host.start({ memoryBytes: 16 * 2 ** 20, ksmd: false, onLog: (l) => lines.push(l) });
    const lines: string[] = [];
    try {
      const [report] = await host.runAll([prog]);
      expect(report!.status).to.equal('exited');
    } finally {
      await host.shutdown();
    }
    expect(lines).to.deep.equal(['[argv] execArgv=[]']);
  });

  it('loads a guest thread from the code V8 compiled once in the host (the cache is accepted)', async () => {
    const dir = scratch();
    const prog = join(dir, 'cached.ts');
    writeFileSync(prog, "export default function main(sys: { log(s: string): void }) { sys.log(`rejected=${String((globalThis as Record<symbol, unknown>)[Symbol.for('ksmsim.codeCacheRejected')])}`); }\n");
    expect(compileModule(prog, { runtime: GUEST_RUNTIME }).format).to.equal('cjs');
    const r = await run(['run', prog, '--memory', '16MiB', '--guests', '2']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.lines.filter((l) => l.endsWith('rejected=false'))).to.have.length(2);
  });

  it('runs a guest program in strict mode, as an ES module runs', async () => {
    const dir = scratch();
    const prog = join(dir, 'sloppy.js');
    writeFileSync(prog, 'export default function main(sys) { try { undeclared = 1; sys.log("sloppy"); } catch (e) { sys.log(e.name); } }\n');
    const r = await run(['run', prog, '--memory', '16MiB']);
    expect(r.lines).to.include('[sloppy] ReferenceError');
  });

  it('runs a program with top-level await (as an ES module), with its own import.meta.url', async () => {
    const dir = scratch();
    const prog = join(dir, 'tla.mts');
    writeFileSync(prog, "const url = await Promise.resolve(import.meta.url);\nexport default function main(sys: { log(s: string): void }) { sys.log(url.endsWith('/tla.mts') ? 'own url' : url); }\n");
    expect(compileModule(prog, { runtime: GUEST_RUNTIME }).format).to.equal('esm');
    const r = await run(['run', prog, '--memory', '16MiB']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.lines).to.include('[tla] own url');
  });

  it('fails a guest whose program throws while it loads, with the thrown message', async () => {
    const dir = scratch();
    const prog = join(dir, 'throws.ts');
    writeFileSync(prog, "throw new Error('bad configuration');\nexport default () => 0;\n");
    const host = await Host.start({ memoryBytes: 16 * 2 ** 20, ksmd: false, onLog: () => {} });
    try {
      const [report] = await host.runAll([prog]);
      expect(report!.status).to.equal('failed');
      expect(report!.error).to.contain('bad configuration');
    } finally {
      await host.shutdown();
    }
  });

  it('writes a warm code cache once a guest has run, and a later host starts its threads from it', async () => {
    const dir = scratch();
    const prog = join(dir, 'warm.ts');
    writeFileSync(prog, "export default function main(sys: { log(s: string): void }) { sys.log(`rejected=${String((globalThis as Record<symbol, unknown>)[Symbol.for('ksmsim.codeCacheRejected')])}`); }\n");
    const bundle = fileURLToPath(compileModule(prog, { runtime: GUEST_RUNTIME }).url);
    const runOnce = async (): Promise<string[]> => {
      forgetCompiledScripts(); // as a new process starts
      const lines: string[] = [];
      const host = await Host.start({ memoryBytes: 16 * 2 ** 20, ksmd: false, onLog: (l) => lines.push(l) });
      try {
        await host.runAll([prog]);
      } finally {
        await host.shutdown();
      }
      return lines;
    };
    expect(await runOnce()).to.deep.equal(['[warm] rejected=false']);
    expect(codeCacheKind(bundle)).to.equal('cold');
    expect(existsSync(`${bundle}.${process.version}.v8cache`)).to.equal(true);
    expect(await runOnce()).to.deep.equal(['[warm] rejected=false']);
    expect(codeCacheKind(bundle)).to.equal('warm');
  });
});
