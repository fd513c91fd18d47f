// ksm-service.test.ts — ksmctl as ksm.service runs it: start lifts max_kernel_pages where the kernel
// has the file (KSM_MAX_KERNEL_PAGES, else half of physical pages) and sets run=1; stop sets run=0.
import { expect } from 'chai';
import { KsmService, ksmctlMaxKernelPages, ksmctlMaxKernelPagesVar } from '../../src/tuning/ksm-service.ts';
import { ScriptedHost } from './scripted-host.ts';

describe('the ksm service (ksmctl)', () => {
  it('start writes half of physical pages to max_kernel_pages, then run=1, where the file exists', async () => {
    const host = new ScriptedHost(1048576, true); // 262144 pages
    const s = new KsmService(host);
    await s.start();
    expect(host.writes).to.deep.equal(['max_kernel_pages=131072', 'run=1']);
    expect(s.status()).to.deep.equal({ active: true, run: '1', max_kernel_pages: '131072' });
  });

  it('start writes KSM_MAX_KERNEL_PAGES from /etc/sysconfig/ksm when it is a number', async () => {
    const host = new ScriptedHost(1048576, true);
    await new KsmService(host, { KSM_MAX_KERNEL_PAGES: '0x1000' }).start();
    expect(host.writes).to.deep.equal(['max_kernel_pages=4096', 'run=1']);
  });

  it('start only sets run=1 on a kernel without max_kernel_pages (2.6.33 and later)', async () => {
    const host = new ScriptedHost(1048576, false);
    const s = new KsmService(host, { KSM_MAX_KERNEL_PAGES: '5000' });
    await s.start();
    expect(host.writes).to.deep.equal(['run=1']);
    expect(s.status()).to.deep.equal({ active: true, run: '1' });
  });

  it('stop writes run=0 (ksmd stops, merged pages stay merged)', async () => {
    const host = new ScriptedHost(1048576, true);
    const s = new KsmService(host);
    await s.start();
    host.writes.length = 0;
    await s.stop();
    expect(host.writes).to.deep.equal(['run=0']);
    expect(s.status().active).to.equal(false);
  });

  it('falls back to half of memory for an empty, junk, negative or overflowing KSM_MAX_KERNEL_PAGES (strtoll base 0)', () => {
    for (const v of ['', '12abc', 'many', '-5', '9223372036854775807', '99999999999999999999']) {
      expect(ksmctlMaxKernelPagesVar(v), v).to.equal(undefined);
      expect(ksmctlMaxKernelPages({ KSM_MAX_KERNEL_PAGES: v }, 1000), v).to.equal(500n);
    }
    expect(ksmctlMaxKernelPagesVar('  010')).to.equal(8n);
    expect(ksmctlMaxKernelPagesVar('0')).to.equal(0n);
  });
});
