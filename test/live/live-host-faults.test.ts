// live-host-faults.test.ts — where a command finds its host (flag, environment, runtime directory),
// and the faults around it: no host, a host killed with SIGKILL, a second host on one socket.
import { expect } from 'chai';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSocketPath, runtimeDir } from '../../src/live/socket-path.ts';
import { killHost, ksmsim } from './live-cli.ts';

describe('live host socket resolution', () => {
  it('takes --socket first, then KSMSIM_SOCKET, then the user runtime directory', () => {
    expect(resolveSocketPath('/x/flag.sock', { KSMSIM_SOCKET: '/x/env.sock', XDG_RUNTIME_DIR: '/run/user/7' })).to.equal('/x/flag.sock');
    expect(resolveSocketPath(undefined, { KSMSIM_SOCKET: '/x/env.sock', XDG_RUNTIME_DIR: '/run/user/7' })).to.equal('/x/env.sock');
    expect(resolveSocketPath(undefined, { XDG_RUNTIME_DIR: '/run/user/7' })).to.equal('/run/user/7/ksmsim/host.sock');
  });

  it('falls back to /tmp/ksmsim-$UID without XDG_RUNTIME_DIR', () => {
    expect(runtimeDir({})).to.equal(`/tmp/ksmsim-${process.getuid!()}`);
    expect(resolveSocketPath(undefined, {})).to.equal(`/tmp/ksmsim-${process.getuid!()}/host.sock`);
  });
});

describe('live host faults', function () {
  this.timeout(120_000);
  let dir: string;
  const pids: number[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-live-faults-'));
  });

  after(() => {
    for (const pid of pids) killHost(pid);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says there is no host at the socket, and how to start one, with exit status 1', async () => {
    const socket = join(dir, 'nobody.sock');
    for (const cmd of [['list'], ['sysfs'], ['destroy', 'x'], ['host', 'stop']]) {
      const r = await ksmsim([...cmd, '--socket', socket]);
      expect(r.code, cmd.join(' ')).to.equal(1);
      expect(r.stderr).to.equal(`ksmsim: no ksmsim host at ${socket} (start one with \`ksmsim host start\`)\n`);
    }
  });

  it('starts a new host on the socket of a host killed with SIGKILL (the stale socket is removed)', async () => {
    const socket = join(dir, 'killed.sock');
    const first = await ksmsim(['host', 'start', '--detach', '--json', '--socket', socket, '--memory', '16MiB']);
    expect(first.code, first.stderr).to.equal(0);
    const pid = (JSON.parse(first.stdout) as { pid: number }).pid;
    pids.push(pid);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
    expect(lstatSync(socket).isSocket(), 'the dead host left its socket').to.equal(true);
    expect((await ksmsim(['list', '--socket', socket])).code).to.equal(1);
    const second = await ksmsim(['host', 'start', '--detach', '--json', '--socket', socket, '--memory', '16MiB']);
    expect(second.code, second.stderr).to.equal(0);
    const pid2 = (JSON.parse(second.stdout) as { pid: number }).pid;
    pids.push(pid2);
    expect(pid2).to.not.equal(pid);
    expect((await ksmsim(['list', '--socket', socket])).code).to.equal(0);
    expect((await ksmsim(['host', 'stop', '--socket', socket])).code).to.equal(0);
    expect(existsSync(socket)).to.equal(false);
  });

  it('refuses to start a host on a path that is not a socket', async () => {
    const r = await ksmsim(['host', 'start', '--socket', dir, '--memory', '16MiB']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(`${dir} exists and is not a socket`);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
