// oom-kill.test.ts — a guest that exhausts host memory is killed the way the OOM killer kills a
// process; the other guests keep their memory, carry on and finish, and the host gets every frame back.
import { expect } from 'chai';
import { Host, type GuestReport } from '../../src/host/host.ts';
import { raiseSignal, waitForLine } from '../helpers/guest-signal.ts';

const HOLDER = new URL('../fixtures/steady-holder.ts', import.meta.url).pathname;
const HOG = new URL('../fixtures/memory-hog.ts', import.meta.url).pathname;
const MiB = 2 ** 20;

describe('out-of-memory kill', function () {
  this.timeout(30_000);
  let host: Host;
  const lines: string[] = [];
  let freeAtStart: number;
  let freeBeforeHog: number;
  let freeAfterKill: number;
  let hog: GuestReport;
  let holders: GuestReport[];

  before(async function () {
    this.timeout(30_000);
    host = await Host.start({ memoryBytes: 64 * MiB, ksmd: false, onLog: (l) => lines.push(l) });
    await raiseSignal(host, 0);
    freeAtStart = host.memory.freeFrames();
    const names = ['holder0', 'holder1', 'holder2'];
    const running = names.map((name, i) => host.launch(HOLDER, { name, args: [String(77 + i), '512', '256'] }));
    for (const name of names) await waitForLine(lines, new RegExp(`^\\[${name}\\] ready$`));
    freeBeforeHog = host.memory.freeFrames();
    hog = await host.launch(HOG, { name: 'hog', args: ['128'] }).done;
    freeAfterKill = host.memory.freeFrames();
    await raiseSignal(host, 1);
    holders = await Promise.all(running.map((g) => g.done));
  });

  after(async () => {
    await host?.shutdown();
  });

  it('kills the guest that exhausts host memory and reports it oom-killed under its name', () => {
    expect(hog.status, hog.error).to.equal('oom-killed');
    expect(hog.name).to.equal('hog');
    expect(hog.exitCode).to.equal(137);
    expect(hog.error).to.match(/out of memory/);
  });

  it('says on the host log which guest the OOM killer killed', () => {
    expect(lines.some((l) => /guest hog \(pid \d+\) was killed by the OOM killer/.test(l)), lines.join('\n')).to.equal(true);
  });

  it('the killed guest had taken every free frame before it died', () => {
    expect(hog.memoryAtExit.privatePages).to.equal(freeBeforeHog);
  });

  it('frees every frame of the killed guest', () => {
    expect(freeAfterKill).to.equal(freeBeforeHog);
  });

  it('the other guests keep their memory intact, allocate again and finish', () => {
    for (const r of holders) expect(r.status, `${r.name}: ${r.error ?? ''}\n${lines.join('\n')}`).to.equal('exited');
    expect(lines.filter((l) => / done$/.test(l))).to.have.length(3);
  });

  it('the free-frame count is back at its start once every guest has exited', () => {
    expect(host.memory.freeFrames()).to.equal(freeAtStart);
  });
});
