// max-kernel-pages.test.ts — --kernel-compat 2.6.32: /sys/kernel/mm/ksm/max_kernel_pages exists
// (default 2000, "%lu\n", strict_strtoul or EINVAL) and ksmd stops creating KSM pages at the limit
// (pages_shared stops growing; merges into existing KSM pages go on); the ksm service lifts it to
// half of memory. Without the option the file does not exist.
import { expect } from 'chai';
import { Host } from '../../src/host/host.ts';
import { ErrnoError } from '../../src/mem/errno.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';
import { projectPath } from '../../src/platform/project-root.ts';
import { EmulatedTunedHost } from '../../src/tuning/emulated-tuned-host.ts';
import { KsmService } from '../../src/tuning/ksm-service.ts';

const MKP = KSM_DIR + 'max_kernel_pages';
const IMAGE = projectPath('guests', 'shared-image.ts');
const IMAGE_PAGES = 3000;

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ErrnoError);
    return (e as ErrnoError).code;
  }
  return 'no error';
}

async function errnoOfAsync(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).to.be.instanceOf(ErrnoError);
    return (e as ErrnoError).code;
  }
  return 'no error';
}

/**
 * A host whose guests share one 3000-page image; `merged` resolves with the counters once `guests`
 * guests have logged their ksm_stat (each waits for 3 full scans after its madvise), and ksmd has made 3 more.
 */
async function imageHost(memoryBytes: number, guests: number, kernelCompat?: '2.6.32'): Promise<{ host: Host; merged: () => Promise<Record<string, number>> }> {
  let logged = 0;
  let wake = () => {};
  const host = await Host.start({
    memoryBytes, kernelCompat,
    onLog: (line) => {
      if (/ksm_merging_pages \d+/.test(line)) { logged++; wake(); }
    },
  });
  const merged = async () => {
    // smart_scan off: a guest scanned alone for a while would otherwise be skipped for up to 8 passes.
    for (const [k, v] of [['sleep_millisecs', '0'], ['pages_to_scan', '10000'], ['smart_scan', '0']] as const) await host.writeFile(KSM_DIR + k, v);
    host.prepare(IMAGE);
    for (let i = 0; i < guests; i++) host.launch(IMAGE, { name: `img.${i}`, args: [String(IMAGE_PAGES), '0', '7', '60000'] });
    while (logged < guests) await new Promise<void>((r) => { wake = r; });
    // Every guest is merged as far as it can be once ksmd made 3 more full passes over all of them.
    const from = host.files.counters().full_scans;
    while (host.files.counters().full_scans < from + 3) await new Promise((r) => setTimeout(r, 10));
    return host.files.counters();
  };
  return { host, merged };
}

describe('max_kernel_pages (--kernel-compat 2.6.32)', function () {
  this.timeout(120_000);

  it('does not exist on a current kernel (ENOENT for read and write)', async () => {
    const host = await Host.start({ memoryBytes: 8 * 2 ** 20, ksmd: false, onLog: () => {} });
    try {
      expect(errnoOf(() => host.readFile(MKP))).to.equal('ENOENT');
      expect(await errnoOfAsync(() => host.writeFile(MKP, '5000'))).to.equal('ENOENT');
      expect(host.files.snapshot()).to.not.have.property('max_kernel_pages');
    } finally {
      await host.shutdown();
    }
  });

  it('reads 2000 by default on 2.6.32, and takes a decimal with an optional newline', async () => {
    const host = await Host.start({ memoryBytes: 8 * 2 ** 20, ksmd: false, kernelCompat: '2.6.32', onLog: () => {} });
    try {
      expect(host.readFile(MKP)).to.equal('2000\n');
      expect(host.files.snapshot().max_kernel_pages).to.equal('2000');
      await host.writeFile(MKP, '4096\n');
      expect(host.readFile(MKP)).to.equal('4096\n');
      await host.writeFile(MKP, '0');
      expect(host.readFile(MKP)).to.equal('0\n');
    } finally {
      await host.shutdown();
    }
  });

  it('refuses a sign, spaces, junk or an empty number with EINVAL, and a non-root writer with EACCES', async () => {
    const host = await Host.start({ memoryBytes: 8 * 2 ** 20, ksmd: false, kernelCompat: '2.6.32', onLog: () => {} });
    try {
      for (const bad of ['+5', ' 5', '5 ', '5\n\n', 'abc', '-1', '\n', '99999999999999999999']) {
        expect(await errnoOfAsync(() => host.writeFile(MKP, bad)), JSON.stringify(bad)).to.equal('EINVAL');
      }
      expect(await errnoOfAsync(() => host.writeFile(MKP, '10', { root: false }))).to.equal('EACCES');
      expect(host.readFile(MKP)).to.equal('2000\n');
    } finally {
      await host.shutdown();
    }
  });

  it('stops creating KSM pages at 2000 without the ksm service: pages_shared stops there, pages_sharing still grows', async () => {
    // 3 guests × 3000 identical pages: 3000 KSM pages would be needed, only 2000 may be created; the
    // third guest's copies of those 2000 still merge into them (pages_sharing = 2 × 2000).
    const { host, merged } = await imageHost(48 * 2 ** 20, 3, '2.6.32');
    try {
      await host.writeFile(KSM_DIR + 'run', '1');
      const c = await merged();
      expect(c.pages_shared).to.equal(2000);
      expect(c.pages_sharing).to.equal(4000);
    } finally {
      await host.shutdown();
    }
  });

  it('shares every duplicate once the ksm service raised the limit to half of memory', async () => {
    const { host, merged } = await imageHost(32 * 2 ** 20, 2, '2.6.32');
    try {
      const svc = new KsmService(new EmulatedTunedHost(host));
      await svc.start();
      expect(host.readFile(MKP)).to.equal(`${(32 * 2 ** 20) / 4096 / 2}\n`); // 4096 of 8192 pages
      expect(host.readFile(KSM_DIR + 'run')).to.equal('1\n');
      const c = await merged();
      expect(c.pages_shared).to.equal(IMAGE_PAGES);
      expect(c.pages_sharing).to.equal(IMAGE_PAGES);
    } finally {
      await host.shutdown();
    }
  });

  it('stops at KSM_MAX_KERNEL_PAGES when /etc/sysconfig/ksm sets it', async () => {
    const { host, merged } = await imageHost(32 * 2 ** 20, 2, '2.6.32');
    try {
      await new KsmService(new EmulatedTunedHost(host), { KSM_MAX_KERNEL_PAGES: '2500' }).start();
      const c = await merged();
      expect(c.pages_shared).to.equal(2500);
      expect(c.pages_sharing).to.equal(2500);
    } finally {
      await host.shutdown();
    }
  });

  it('does not limit sharing on a current kernel', async () => {
    const { host, merged } = await imageHost(32 * 2 ** 20, 2);
    try {
      await new KsmService(new EmulatedTunedHost(host)).start();
      const c = await merged();
      expect(c.pages_shared).to.equal(IMAGE_PAGES);
    } finally {
      await host.shutdown();
    }
  });
});
