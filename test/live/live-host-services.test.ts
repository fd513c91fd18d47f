// live-host-services.test.ts — the RHEL services on a live host, as `service ksm|ksmtuned ACTION` runs
// them: ksmctl starts and stops ksmd, ksmtuned tunes it and is retuned when a guest starts (libvirt's cue).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killHost, ksmsim, type CliRun } from './live-cli.ts';

describe('RHEL services on a live host', function () {
  this.timeout(120_000);
  let dir: string;
  let socket: string;
  let pid: number | undefined;
  const on = (...args: string[]): Promise<CliRun> => ksmsim(args, { KSMSIM_SOCKET: socket });
  const knob = async (name: string): Promise<string> => (await on('sysfs', name)).stdout.trim().replace(/^.*:/, '');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-services-'));
    socket = join(dir, 'host.sock');
    const r = await ksmsim(['host', 'start', '--detach', '--json', '--socket', socket, '--memory', '64MiB']);
    expect(r.code, r.stderr).to.equal(0);
    pid = (JSON.parse(r.stdout) as { pid: number }).pid;
  });

  after(() => {
    killHost(pid);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('service ksm start sets run=1; status is 0 while active; stop sets run=0 and status is 3', async () => {
    expect((await on('service', 'ksm', 'start')).code).to.equal(0);
    expect(await knob('run')).to.equal('1');
    const active = await on('service', 'ksm', 'status');
    expect(active.code).to.equal(0);
    expect(active.stdout).to.contain('active');
    expect((await on('service', 'ksm', 'stop')).code).to.equal(0);
    expect(await knob('run')).to.equal('0');
    expect((await on('service', 'ksm', 'status')).code).to.equal(3);
  });

  it('service ksmtuned start tunes ksmd, and a guest started on the host retunes it', async () => {
    // A threshold above this 64 MiB host's memory: committed + thres >= total and free < thres, so the
    // first adjust turns KSM on and boosts npages by KSM_NPAGES_BOOST (ksmtuned's algorithm).
    const conf = join(dir, 'ksmtuned.conf');
    writeFileSync(conf, '# test conf\nKSM_MONITOR_INTERVAL=3600\nKSM_THRES_CONST=1048576\nKSM_NPAGES_BOOST=300\nKSM_NPAGES_MAX=1250\n');
    expect((await on('service', 'ksmtuned', 'start', '--conf', conf)).code).to.equal(0);
    const until = async (name: string, value: string): Promise<boolean> => {
      for (let i = 0; i < 100; i++) {
        if ((await knob(name)) === value) return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    };
    // ksmtuned sleeps one interval (an hour here) before its first adjust: nothing changes yet.
    expect((await on('service', 'ksmtuned', 'status')).code).to.equal(0);
    expect(await knob('run')).to.equal('0');
    // libvirt's cue: each guest start retunes at once. KSM on, npages 0 + 300, then 300 + 300.
    expect((await on('start', 'idle1', 'idle', '--', 'size=4MiB')).code).to.equal(0);
    expect(await until('run', '1'), 'run=1 after the first guest started').to.equal(true);
    expect(await until('pages_to_scan', '300'), 'pages_to_scan 300 after the first guest started').to.equal(true);
    expect((await on('start', 'idle2', 'idle', '--', 'size=4MiB')).code).to.equal(0);
    expect(await until('pages_to_scan', '600'), 'pages_to_scan 600 after the second guest started').to.equal(true);
    expect((await on('service', 'ksmtuned', 'stop')).code).to.equal(0);
    expect((await on('service', 'ksmtuned', 'status')).code).to.equal(3);
  });

  it('a conf file with a bad value is refused, naming the line, and the host keeps running', async () => {
    await on('service', 'ksmtuned', 'stop');
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, 'KSM_MONITOR_INTERVAL=60\nKSM_NPAGES_BOOST=fast\n');
    const r = await on('service', 'ksmtuned', 'start', '--conf', conf);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`${conf}:2`);
    expect((await on('list')).code).to.equal(0);
  });

  it('an unknown service is refused with the names of the known ones', async () => {
    const r = await on('service', 'tuned', 'start');
    expect(r.code).to.not.equal(0);
    expect(r.stdout + r.stderr).to.contain('ksm, ksmtuned');
  });
});
