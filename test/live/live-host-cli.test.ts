// live-host-cli.test.ts — a live host driven through the command line, as a user (or ksmtuned) would:
// host start --detach, start/list/destroy guests, sysfs, meminfo, node-memory-tune, host stop.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killHost, ksmsim, type CliRun } from './live-cli.ts';

describe('a live host through the command line', function () {
  this.timeout(120_000);
  let dir: string;
  let socket: string;
  let pid: number | undefined;
  // The socket from the environment, as KSMSIM_SOCKET gives it (host start above names it with --socket).
  const on = (...args: string[]): Promise<CliRun> => ksmsim(args, { KSMSIM_SOCKET: socket });

  async function counters(): Promise<Record<string, string>> {
    const r = await on('sysfs', '--json');
    return (JSON.parse(r.stdout) as { files: Record<string, string> }).files;
  }

  /** Wait (no time limit but the test's) until ksmd has merged something. */
  async function untilShared(): Promise<Record<string, string>> {
    for (;;) {
      const c = await counters();
      if (Number(c.pages_sharing) > 0) return c;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-live-'));
    socket = join(dir, 'host.sock');
    const r = await ksmsim(['host', 'start', '--detach', '--json', '--socket', socket, '--memory', '64MiB', '--numa-nodes', '2',
      '--ksm', 'run=1', '--ksm', 'sleep_millisecs=5', '--ksm', 'pages_to_scan=1000', '--ksm', 'smart_scan=0']); // why smart_scan=0: dashboard-browser.test.ts
    expect(r.code, r.stderr).to.equal(0);
    pid = (JSON.parse(r.stdout) as { pid: number }).pid;
  });

  after(() => {
    killHost(pid);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('host start --detach returns once the host answers, with its pid and socket', async () => {
    const r = await on('list', '--json');
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal([]);
    expect(() => process.kill(pid!, 0)).to.not.throw();
  });

  it('refuses a second host start on a live socket, naming the owner pid', async () => {
    const r = await on('host', 'start', '--memory', '16MiB');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`pid ${pid}`).and.contain(socket);
  });

  it('lists guests like virsh list, with the KSM columns', async () => {
    const r = await on('list');
    expect(r.stdout.split('\n')[0]).to.match(/^ Id\s+Name\s+State\s+Node\s+RSS \(KiB\)\s+ksm_merging_pages\s+ksm_process_profit$/);
    expect(r.stdout.split('\n')[1]).to.match(/^-+$/);
  });

  it('starts workloads by name on a chosen node, and two identical guests merge', async () => {
    const a = await on('start', 'web1', 'web', '--node', '1', '--', 'size=1MiB', 'seed=7', 'rate=0');
    const b = await on('start', 'web2', 'web', '--node', '1', '--', 'size=1MiB', 'seed=7', 'rate=0');
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    expect(a.stdout).to.match(/^Guest web1 started \(id \d+, node 1\)/);
    await untilShared();
    const list = await on('list');
    const row = list.stdout.split('\n').find((l) => / web1 /.test(l))!;
    expect(row).to.match(/^ \d+\s+web1\s+running\s+1\s+\d+\s+[1-9]\d*\s+-?\d+$/);
  });

  it('reads every KSM file as grep . /sys/kernel/mm/ksm/* prints them', async () => {
    const r = await on('sysfs');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).to.include('/sys/kernel/mm/ksm/run:1');
    expect(lines).to.include('/sys/kernel/mm/ksm/pages_to_scan:1000');
    expect(lines.every((l) => /^\/sys\/kernel\/mm\/ksm\/[a-z_]+:.+$/.test(l))).to.equal(true);
    expect([...lines].sort()).to.deep.equal(lines);
  });

  it('writes a knob as root, and a bad value fails with the kernel\'s EINVAL', async () => {
    expect((await on('sysfs', 'pages_to_scan', '2000')).code).to.equal(0);
    expect((await on('sysfs', 'pages_to_scan')).stdout).to.equal('2000\n');
    const bad = await on('sysfs', 'run', '3');
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.equal('error: /sys/kernel/mm/ksm/run: write error: Invalid argument\n');
    const json = await on('sysfs', 'run', '3', '--json');
    expect(JSON.parse(json.stdout)).to.deep.include({ error: { message: '/sys/kernel/mm/ksm/run: write error: Invalid argument', errno: 'EINVAL' } });
    expect((await on('sysfs', 'run')).stdout).to.equal('1\n');
  });

  it('prints node-memory-tune exactly as virsh does', async () => {
    const r = await on('node-memory-tune');
    expect(r.code).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.equal('Shared memory:');
    expect(lines.slice(1).map((l) => l.replace(/\d+$/, 'N'))).to.deep.equal([
      '\tshm_pages_to_scan N', '\tshm_sleep_millisecs N', '\tshm_pages_shared N', '\tshm_pages_sharing N',
      '\tshm_pages_unshared N', '\tshm_pages_volatile N', '\tshm_full_scans  N', '\tshm_merge_across_nodes N',
    ]);
  });

  it('sets shm_* values with node-memory-tune, printing nothing', async () => {
    const r = await on('node-memory-tune', '--shm-pages-to-scan', '1500', '--shm-sleep-millisecs', '5');
    expect([r.code, r.stdout]).to.deep.equal([0, '']);
    expect((await on('sysfs', 'pages_to_scan')).stdout).to.equal('1500\n');
  });

  it('refuses shm_merge_across_nodes while pages are shared, in libvirt\'s words (EBUSY)', async () => {
    await untilShared();
    const r = await on('node-memory-tune', '--shm-merge-across-nodes', '0');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('error: Unable to change memory parameters\nerror: failed to set shm_merge_across_nodes: Device or resource busy\n');
    expect((await on('sysfs', 'merge_across_nodes')).stdout).to.equal('1\n');
  });

  it('prints /proc/meminfo lines in the kernel\'s format', async () => {
    const r = await on('meminfo');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.equal('MemTotal:          65536 kB');
    for (const l of lines) expect(l).to.match(/^[A-Za-z()]+:\s+\d+ kB$/).and.have.length(27);
    expect(lines.map((l) => l.split(':')[0])).to.include.members(['MemFree', 'MemAvailable', 'Buffers', 'Cached', 'AnonPages']);
  });

  it('shows a failing guest program\'s error in list, and the host keeps running', async () => {
    const r = await on('start', 'broken', 'web', '--', 'rate=fast');
    expect(r.code).to.equal(0);
    let g: { state: string; error?: string } | undefined;
    do {
      g = (JSON.parse((await on('list', '--json')).stdout) as Array<{ name: string; state: string; error?: string }>).find((x) => x.name === 'broken');
    } while (g?.state === 'running');
    expect(g).to.deep.include({ state: 'failed' });
    expect(g!.error).to.contain('web: bad value for rate: "fast"');
    expect((await on('list')).stdout).to.match(/ broken\s+failed .*web: bad value for rate/);
    expect((await on('sysfs', 'run')).code).to.equal(0);
  });

  it('refuses a program that does not exist, naming the workloads', async () => {
    const r = await on('start', 'x', join(dir, 'missing.ts'));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('program not found').and.contain('os-image, web, idle');
  });

  it('answers destroy of an unknown guest with the names it has', async () => {
    const r = await on('destroy', 'nosuch');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal("error: no guest named 'nosuch' (guests: broken, web1, web2)\n");
  });

  it('is not disturbed by a client that disconnects mid-request', async () => {
    await new Promise<void>((resolve, reject) => {
      const c = createConnection({ path: socket }, () => {
        c.write(JSON.stringify({ id: 1, op: 'start', args: { name: 'hasty', program: 'idle', args: ['size=256KiB'] } }) + '\n');
        c.write('{"id": 2, "op": "li'); // half a request, then gone
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });
    let names: string[] = [];
    while (!names.includes('hasty')) names = (JSON.parse((await on('list', '--json')).stdout) as Array<{ name: string }>).map((g) => g.name);
    expect((await on('destroy', 'hasty')).code).to.equal(0);
  });

  it('destroys a guest: it leaves the list and its memory is freed', async () => {
    const before = JSON.parse((await on('list', '--json')).stdout) as Array<{ name: string; residentBytes: number }>;
    expect(before.find((g) => g.name === 'web2')!.residentBytes).to.be.greaterThan(0);
    const r = await on('destroy', 'web2', '--json');
    expect(JSON.parse(r.stdout)).to.deep.include({ name: 'web2', state: 'destroyed' });
    const after = JSON.parse((await on('list', '--json')).stdout) as Array<{ name: string }>;
    expect(after.map((g) => g.name)).to.not.include('web2');
  });

  it('gives JSON for every control command', async () => {
    for (const cmd of [['list'], ['sysfs'], ['sysfs', 'run'], ['meminfo'], ['node-memory-tune']]) {
      const r = await on(...cmd, '--json');
      expect(r.code, cmd.join(' ')).to.equal(0);
      expect(() => JSON.parse(r.stdout), cmd.join(' ')).to.not.throw();
    }
    expect(JSON.parse((await on('node-memory-tune', '--json')).stdout)).to.have.all.keys(
      'shm_pages_to_scan', 'shm_sleep_millisecs', 'shm_pages_shared', 'shm_pages_sharing', 'shm_pages_unshared', 'shm_pages_volatile', 'shm_full_scans', 'shm_merge_across_nodes');
  });

  it('host stop destroys the guests, prints the final counters and removes the socket', async () => {
    const r = await on('host', 'stop');
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.equal('ksmsim host stopped: 1 guest destroyed');
    expect(lines).to.include('  guest web1 (id 100): destroyed');
    expect(lines.some((l) => /^  guest broken \(id \d+\): failed: web: bad value/.test(l))).to.equal(true);
    expect(lines).to.include('final counters:');
    expect(lines.some((l) => /^\/sys\/kernel\/mm\/ksm\/full_scans:[1-9]\d*$/.test(l))).to.equal(true);
    expect(lines.some((l) => /^\/sys\/kernel\/mm\/ksm\/pages_sharing:\d+$/.test(l))).to.equal(true);
    expect(lines.some((l) => l.startsWith('/sys/kernel/mm/ksm/run:'))).to.equal(false);
    while (existsSync(socket)) await new Promise((res) => setTimeout(res, 50));
    const gone = await on('list');
    expect(gone.code).to.equal(1);
  });
});
