// engine-host.test.ts — the engine choice on a real host: Host.start({ engine }), guest threads
// merging through DKSM's madvise, the files each engine shows, and `ksmsim run --engine`.
import { expect } from 'chai';
import { Host } from '../../src/host/host.ts';
import { main } from '../../src/cli/main.ts';
import { parseEngine, parseEngineList } from '../../src/engines/engine.ts';
import { runCli } from '../helpers/run-cli.ts';

const IMAGE = new URL('../fixtures/dksm-image.ts', import.meta.url).pathname;
const MiB = 2 ** 20;

describe('merge engines on the host', function () {
  this.timeout(60_000);

  describe('the --engine value', () => {
    it('accepts ksm, dksm and uksm', () => {
      expect(['ksm', 'dksm', 'uksm'].map((e) => parseEngine(e))).to.deep.equal(['ksm', 'dksm', 'uksm']);
    });

    it('rejects an unknown engine with a message naming it', () => {
      expect(() => parseEngine('pksm')).to.throw(/--engine "pksm": expected one of ksm, dksm, uksm/);
    });

    it('parses a comma-separated list and rejects repeats and empty names', () => {
      expect(parseEngineList('ksm,dksm,uksm')).to.deep.equal(['ksm', 'dksm', 'uksm']);
      expect(() => parseEngineList('ksm,ksm')).to.throw(/ksm is listed twice/);
      expect(() => parseEngineList('ksm,')).to.throw(/empty engine name/);
    });
  });

  describe('ksm (the default)', () => {
    it('starts ksmd and has no /sys/kernel/mm/dksm', async () => {
      const host = await Host.start({ memoryBytes: 32 * MiB, onLog: () => {} });
      try {
        expect(host.engine.name).to.equal('ksm');
        expect(host.ksmd).to.not.equal(undefined);
        expect(() => host.readFile('/sys/kernel/mm/dksm/run')).to.throw(/ENOENT/);
      } finally {
        await host.shutdown();
      }
    });
  });

  describe('dksm', () => {
    it('runs no ksmd, and warns at start when THP is not never', async () => {
      const lines: string[] = [];
      const host = await Host.start({ memoryBytes: 32 * MiB, engine: 'dksm', onLog: (l) => lines.push(l) });
      try {
        expect(host.ksmd).to.equal(undefined);
        expect(lines.join('\n')).to.match(/warning: transparent_hugepage\/enabled is madvise, not never/);
      } finally {
        await host.shutdown();
      }
    });

    it('reads the emulated host\'s THP setting for that warning: always warns, never does not', async () => {
      for (const thp of ['always', 'never'] as const) {
        const lines: string[] = [];
        const host = await Host.start({ memoryBytes: 32 * MiB, engine: 'dksm', thp, onLog: (l) => lines.push(l) });
        await host.shutdown();
        expect(lines.some((l) => l.includes(`transparent_hugepage/enabled is ${thp}`))).to.equal(thp === 'always');
        expect(lines.some((l) => l.includes('warning: transparent_hugepage'))).to.equal(thp === 'always');
      }
    });

    it('merges a guest\'s read-only image into a live guest\'s identical one inside its madvise, ksmd off', async () => {
      const lines: string[] = [];
      const host = await Host.start({ memoryBytes: 32 * MiB, engine: 'dksm', onLog: (l) => lines.push(l) });
      try {
        await host.writeFile('/sys/kernel/mm/dksm/run', '1');
        const a = host.launch(IMAGE, { args: ['16', '5', '1'], name: 'a' });
        while (!lines.some((l) => l.startsWith('[a] advised'))) await new Promise((r) => setTimeout(r, 10));
        const b = await host.launch(IMAGE, { args: ['16', '5', '0'], name: 'b' }).done;
        expect(b.status).to.equal('exited');
        expect(lines).to.include('[b] advised 16');
        expect((await a.done).status).to.equal('exited');
        expect(host.readFile('/sys/kernel/mm/dksm/pages_merged')).to.equal('16\n');
        expect(host.readFile('/sys/kernel/mm/dksm/pages_scanned')).to.equal('32\n');
        expect(host.readFile('/sys/kernel/mm/ksm/pages_sharing')).to.equal('0\n');
      } finally {
        await host.shutdown();
      }
    });
  });

  describe('ksmsim run --engine', () => {
    it('runs guests under dksm and reports the DKSM counters', async () => {
      const out: string[] = [];
      const code = await main(['run', '--engine', 'dksm', '--memory', '32MiB', '--ksm', 'run=1', IMAGE, '--', '8', '3', '0'], (s) => out.push(s));
      expect(code).to.equal(0);
      expect(out.join('\n')).to.match(/DKSM: hashtable_entries 8, hashtable_size 4096, merging_failed 0, pages_merged 0, pages_scanned 8/);
    });

    it('refuses an unknown engine, naming it', async () => {
      const r = await runCli(['run', '--engine', 'zksm', IMAGE]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/zksm/);
    });
  });
});
