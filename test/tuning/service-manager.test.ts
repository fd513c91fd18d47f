// service-manager.test.ts — the `service` verbs a live host answers: ksm start|stop|status and
// ksmtuned start|stop|status|retune, with LSB status codes (0 running, 3 stopped).
import { expect } from 'chai';
import { ServiceManager } from '../../src/tuning/service-manager.ts';
import { ManualClock, ScriptedHost } from './scripted-host.ts';

describe('service verbs (ServiceManager)', () => {
  it('ksm start/status/stop: max_kernel_pages and run, status 0 when started and 3 when stopped', async () => {
    const host = new ScriptedHost(1048576, true);
    const m = new ServiceManager(host, { scheduler: new ManualClock() });
    expect((await m.command('ksm', 'status')).code).to.equal(3);
    expect((await m.command('ksm', 'start')).code).to.equal(0);
    const st = await m.command('ksm', 'status');
    expect(st.code).to.equal(0);
    expect(st.lines).to.deep.equal(['ksm.service - Kernel Samepage Merging: active (exited)', '  run 1', '  max_kernel_pages 131072']);
    await m.command('ksm', 'stop');
    expect(host.knobs.get('run')).to.equal('0');
    expect((await m.command('ksm', 'status')).code).to.equal(3);
    expect(await m.command('ksm', 'reload')).to.deep.equal({ code: 1, lines: ['Usage: ksmctl {start|stop}'] });
  });

  it('ksmtuned retune adjusts at once while running, and fails with 7 when it is not', async () => {
    const host = new ScriptedHost(1048576);
    const m = new ServiceManager(host, { scheduler: new ManualClock() });
    expect((await m.command('ksmtuned', 'retune')).code).to.equal(7);
    await m.command('ksmtuned', 'start');
    host.set(100_000, 950_000);
    expect((await m.command('ksmtuned', 'retune')).code).to.equal(0);
    expect(host.writes).to.deep.equal(['pages_to_scan=300', 'sleep_millisecs=160', 'run=1']);
    const st = await m.command('ksmtuned', 'status');
    expect(st.code).to.equal(0);
    expect(st.lines[1]).to.equal('  total 1048576 kB, sleep 160 ms, thres 209715 kB, npages 300, 1 adjusts');
    await m.command('ksmtuned', 'stop');
    expect((await m.command('ksmtuned', 'status')).code).to.equal(3);
  });
});
