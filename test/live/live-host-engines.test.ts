// live-host-engines.test.ts — a live host under --engine dksm and --engine uksm: the guests merge under
// the chosen engine; status, samples and the dashboard show its own sysfs directory instead of ksmd's;
// the sysfs command sets its knobs; another engine's files, ksmd's services and virsh's parameters
// fail with messages that say why.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRefused, request } from '../../src/live/control-client.ts';
import { runHost } from '../../src/live/host-runner.ts';
import type { EngineName } from '../../src/engines/engine.ts';
import type { HelloInfo, HostState, StopResult } from '../../src/live/protocol.ts';
import { killHost, ksmsim } from './live-cli.ts';

interface Running {
  hello: HelloInfo;
  socket: string;
  done: Promise<StopResult>;
  dir: string;
}

async function startHost(engine: EngineName, knobs: Array<[string, string]>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), `ksmsim-live-${engine}-`));
  const socket = join(dir, 'host.sock');
  let done!: Promise<StopResult>;
  const hello = await new Promise<HelloInfo>((resolve, reject) => {
    done = runHost({ socket, memoryBytes: 64 * 2 ** 20, numaNodes: 1, engine, knobs, dashboardPort: 0, print: () => {}, onReady: resolve });
    done.catch(reject);
  });
  return { hello, socket, done, dir };
}

async function refusal(socket: string, op: Parameters<typeof request>[1], args: Record<string, unknown>): Promise<HostRefused> {
  try {
    await request(socket, op, args);
  } catch (e) {
    if (e instanceof HostRefused) return e;
    throw e;
  }
  throw new Error(`${op} ${JSON.stringify(args)} was not refused`);
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(body));
    }).on('error', reject).end();
  });
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await what();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a live host under another merge engine', function () {
  this.timeout(90_000);

  describe('--engine dksm', () => {
    let h: Running;
    before(async () => {
      h = await startHost('dksm', [['run', '1']]);
    });
    after(async () => {
      await request(h.socket, 'stop').catch(() => {});
      await h.done.catch(() => {});
      rmSync(h.dir, { recursive: true, force: true });
    });

    it('says which engine it runs, and set the --ksm knobs in /sys/kernel/mm/dksm', async () => {
      expect(h.hello.engine).to.equal('dksm');
      const all = (await request(h.socket, 'sysfs', {})) as { dir: string; files: Record<string, string> };
      expect(all.dir).to.equal('/sys/kernel/mm/dksm/');
      expect(all.files).to.include({ run: '1', hashtable_size: '4096' });
      expect(Object.keys(all.files)).to.not.include('pages_to_scan');
    });

    it('merges the guests\' read-only images inside their madvise and shows DKSM\'s counters in its status and samples', async () => {
      for (const name of ['a', 'b']) await request(h.socket, 'start', { name, program: 'os-image', args: ['size=2MiB', 'readonly=1', 'seed=3'] });
      const st = await until(() => request(h.socket, 'state', {}) as Promise<HostState>, (s) => Number(s.files.pages_merged) > 0);
      expect(st.dir).to.equal('/sys/kernel/mm/dksm/');
      expect(Number(st.files.pages_scanned)).to.be.greaterThan(0);
      // ksmd does not run: its counters stay at zero.
      expect(st.ksm.pages_sharing).to.equal('0');
      const later = await until(() => request(h.socket, 'state', {}) as Promise<HostState>, (s) => (s.sample.counters.pages_merged ?? 0) > 0);
      expect(later.sample.counters).to.have.property('merging_failed');
    });

    it('sets DKSM\'s run through the sysfs command, by name', async () => {
      expect(await request(h.socket, 'sysfs', { file: 'run', value: '0' })).to.deep.equal({ file: '/sys/kernel/mm/dksm/run', value: '0' });
      expect(await request(h.socket, 'sysfs', { file: 'run', value: '1' })).to.deep.equal({ file: '/sys/kernel/mm/dksm/run', value: '1' });
    });

    it('refuses a write to ksmd\'s knobs, which no ksmd would read, saying where DKSM\'s are', async () => {
      const e = await refusal(h.socket, 'sysfs', { file: '/sys/kernel/mm/ksm/run', value: '1' });
      expect(e.reply.message).to.contain('this host runs the dksm engine: ksmd does not run');
      expect(e.reply.message).to.contain('/sys/kernel/mm/dksm/: run');
      // Reading them is fine: the patched kernel keeps KSM's files.
      expect(await request(h.socket, 'sysfs', { file: '/sys/kernel/mm/ksm/run' })).to.deep.equal({ file: '/sys/kernel/mm/ksm/run', value: '0' });
    });

    it('names the owner of a knob given by a name DKSM does not have', async () => {
      const e = await refusal(h.socket, 'sysfs', { file: 'pages_to_scan', value: '100' });
      expect(e.reply.message).to.equal('/sys/kernel/mm/dksm/pages_to_scan: pages_to_scan is a file of ksm (/sys/kernel/mm/ksm/), and this host runs the dksm engine; dksm\'s knobs are in /sys/kernel/mm/dksm/: run');
      expect(e.reply.errno).to.equal('ENOENT');
    });

    it('refuses ksmtuned, which drives ksmd', async () => {
      const e = await refusal(h.socket, 'service', { service: 'ksmtuned', action: 'start' });
      expect(e.reply.message).to.contain('this host runs the dksm engine, which has no ksmd');
    });

    it('serves a dashboard of /sys/kernel/mm/dksm with DKSM\'s one knob', async () => {
      const page = await get(h.hello.dashboard!);
      expect(page).to.contain('/sys/kernel/mm/dksm counters');
      expect(page).to.contain('data-knob="run"');
      expect(page).to.not.contain('data-knob="pages_to_scan"');
    });

    it('prints DKSM\'s final counters when it stops', async () => {
      const r = (await request(h.socket, 'stop', {})) as StopResult;
      expect(r.engine).to.equal('dksm');
      expect(r.dir).to.equal('/sys/kernel/mm/dksm/');
      // (run went 1 → 0 above, which zeroed the counters: DKSM's files are all there, with their values.)
      expect(Object.keys(r.files).sort()).to.deep.equal(['hashtable_entries', 'hashtable_size', 'merging_failed', 'pages_merged', 'pages_scanned', 'run']);
      expect(r.files.run).to.equal('1');
    });
  });

  describe('--engine uksm', () => {
    let h: Running;
    before(async () => {
      // Every rung at full share: the test need not wait for areas to climb the ladder.
      h = await startHost('uksm', [['sleep_millisecs', '10'], ['cpu_ratios', 'MAX/1 MAX/1 MAX/1 MAX/1']]);
    });
    after(async () => {
      await request(h.socket, 'stop').catch(() => {});
      await h.done.catch(() => {});
      rmSync(h.dir, { recursive: true, force: true });
    });

    it('shows /sys/kernel/mm/uksm, with the --ksm knobs set there', async () => {
      expect(h.hello.engine).to.equal('uksm');
      const all = (await request(h.socket, 'sysfs', {})) as { dir: string; files: Record<string, string> };
      expect(all.dir).to.equal('/sys/kernel/mm/uksm/');
      expect(all.files).to.include({ sleep_millisecs: '10', cpu_ratios: 'MAX/1 MAX/1 MAX/1 MAX/1', cpu_governor: '[full] medium low quiet' });
    });

    it('merges guests that never advised anything, and its status and samples show UKSM\'s counters', async () => {
      for (const name of ['a', 'b']) await request(h.socket, 'start', { name, program: 'os-image', args: ['size=2MiB', 'mergeable=0', 'seed=4'] });
      const st = await until(() => request(h.socket, 'state', {}) as Promise<HostState>, (s) => Number(s.files.pages_sharing) > 0);
      expect(st.dir).to.equal('/sys/kernel/mm/uksm/');
      expect(st.ksm).to.deep.equal({});
      expect(st.sample.counters).to.have.property('pages_sharing');
      expect(st.sample.counters).to.have.property('ksm_zero_pages');
    });

    it('sets UKSM\'s knobs through the sysfs command, by name', async () => {
      expect(await request(h.socket, 'sysfs', { file: 'cpu_governor', value: 'quiet' })).to.deep.equal({ file: '/sys/kernel/mm/uksm/cpu_governor', value: 'full medium low [quiet]' });
      const e = await refusal(h.socket, 'sysfs', { file: 'sleep_millisecs', value: '5000' });
      expect(e.reply.errno).to.equal('EINVAL');
    });

    it('answers for /sys/kernel/mm/ksm that it does not exist under UKSM, and where the knobs are', async () => {
      const e = await refusal(h.socket, 'sysfs', { file: '/sys/kernel/mm/ksm/pages_to_scan' });
      expect(e.reply.errno).to.equal('ENOENT');
      expect(e.reply.message).to.contain('this host runs the uksm engine: /sys/kernel/mm/ksm/ belongs to ksm and does not exist here');
      const named = await refusal(h.socket, 'sysfs', { file: 'pages_to_scan', value: '100' });
      expect(named.reply.message).to.contain('pages_to_scan is a file of ksm');
    });

    it('gives virsh node-memory-tune no parameters (their files are missing) and fails its sets with ENOENT', async () => {
      expect(await request(h.socket, 'node-memory-tune', {})).to.deep.equal({});
      const e = await refusal(h.socket, 'node-memory-tune', { pages_to_scan: 100 });
      expect(e.reply.message).to.equal('failed to set shm_pages_to_scan: No such file or directory');
    });

    it('reports its zero pages in /proc/meminfo as KsmZeroPages', async () => {
      expect(await request(h.socket, 'meminfo', {})).to.have.property('KsmZeroPages');
    });
  });

  describe('--engine ksm (the default)', () => {
    it('answers for another engine\'s directory that it belongs to that engine', async () => {
      const h = await startHost('ksm', []);
      try {
        const e = await refusal(h.socket, 'sysfs', { file: '/sys/kernel/mm/dksm/run', value: '1' });
        expect(e.reply.message).to.contain('this host runs the ksm engine: /sys/kernel/mm/dksm/ belongs to dksm and does not exist here');
        const all = (await request(h.socket, 'sysfs', {})) as { dir: string; files: Record<string, string> };
        expect(all.dir).to.equal('/sys/kernel/mm/ksm/');
        expect(all.files).to.have.property('pages_to_scan');
      } finally {
        await request(h.socket, 'stop').catch(() => {});
        await h.done.catch(() => {});
        rmSync(h.dir, { recursive: true, force: true });
      }
    });
  });

  describe('through the command line', () => {
    it('host start --engine dksm --detach: sysfs lists /sys/kernel/mm/dksm, refuses ksm\'s run, host stop prints DKSM\'s counters', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ksmsim-live-cli-dksm-'));
      const env = { KSMSIM_SOCKET: join(dir, 'host.sock') };
      let pid: number | undefined;
      try {
        const up = await ksmsim(['host', 'start', '--detach', '--json', '--engine', 'dksm', '--ksm', 'run=1', '--memory', '32MiB'], env);
        expect(up.code, up.stderr).to.equal(0);
        const hello = JSON.parse(up.stdout) as HelloInfo;
        pid = hello.pid;
        expect(hello.engine).to.equal('dksm');
        const all = await ksmsim(['sysfs'], env);
        expect(all.stdout.split('\n')).to.include('/sys/kernel/mm/dksm/run:1');
        const bad = await ksmsim(['sysfs', '/sys/kernel/mm/ksm/run', '1'], env);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.contain('error: /sys/kernel/mm/ksm/run: this host runs the dksm engine: ksmd does not run');
        const down = await ksmsim(['host', 'stop'], env);
        expect(down.code, down.stderr).to.equal(0);
        expect(down.stdout).to.match(/^\/sys\/kernel\/mm\/dksm\/pages_merged:0$/m);
        expect(down.stdout).to.not.contain('/sys/kernel/mm/dksm/run:');
        pid = undefined;
      } finally {
        killHost(pid);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
