// isolation.test.ts — a guest program reaches the host's memory only through GuestSys
// (docs/security.md#isolation): nothing reachable from its `sys`, its arguments or workerData is
// shared memory, `sys` cannot be altered, and a non-root guest's knob write is EACCES.
import { expect } from 'chai';
import { Host } from '../../src/host/host.ts';
import { sealGuestSys } from '../../src/guest/sealed-sys.ts';
import { bareSpace } from '../helpers/bare-space.ts';
import { EmulatedSys } from '../../src/guest/emulated-sys.ts';
import { KsmFiles } from '../../src/ksm/sysfs.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';

const PROBE = new URL('../fixtures/isolation-probe.ts', import.meta.url).pathname;

describe('isolation of a guest program', function () {
  this.timeout(30_000);
  let lines: string[] = [];

  before(async () => {
    const host = await Host.start({ memoryBytes: 16 * 2 ** 20, onLog: (l) => lines.push(l) });
    try {
      const r = await host.launch(PROBE, { name: 'hostile', args: ['x'] }).done;
      expect(r.status, r.error).to.equal('exited');
    } finally {
      await host.shutdown();
    }
    lines = lines.map((l) => l.replace(/^\[hostile\] /, ''));
  });

  it('finds no SharedArrayBuffer or WebAssembly.Memory reachable from sys, its arguments or workerData', () => {
    expect(lines.filter((l) => l.startsWith('FOUND '))).to.deep.equal([]);
    const walked = Number(lines.find((l) => l.startsWith('WALKED '))?.slice(7));
    expect(walked, 'the walk saw the objects it searched').to.be.above(10);
  });

  it('cannot replace a method of sys: the object is frozen', () => {
    expect(lines).to.include('FROZEN sys');
  });

  it('a guest not launched as root gets EACCES writing a knob', () => {
    expect(lines).to.include('KNOB EACCES');
  });

  it('the sealed sys holds functions and plain values only, not the GuestSys behind it', () => {
    const { space } = bareSpace();
    const sealed = sealGuestSys(new EmulatedSys(space, new KsmFiles(KsmState.create()), false, () => {}));
    expect(Object.getPrototypeOf(sealed)).to.equal(null);
    for (const v of Object.values(sealed)) expect(['function', 'number', 'string']).to.include(typeof v);
    const addr = sealed.mmap(4096);
    sealed.memset(addr, 7, 10);
    expect([...sealed.read(addr, 2)]).to.deep.equal([7, 7]);
  });
});
