// batch-services.test.ts — the services on an emulated host: ksmtuned is retuned when a guest starts,
// reads the guests' RSS as committed memory, and its stop (run=0) leaves merged pages merged.
import { expect } from 'chai';
import { Host } from '../../src/host/host.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';
import { projectPath } from '../../src/platform/project-root.ts';
import { EmulatedTunedHost } from '../../src/tuning/emulated-tuned-host.ts';
import { startServices } from '../../src/tuning/host-services.ts';
import { KSMTUNED_DEFAULTS } from '../../src/tuning/ksmtuned-conf.ts';
import { KsmtunedDaemon } from '../../src/tuning/ksmtuned-daemon.ts';

const IMAGE = projectPath('guests', 'shared-image.ts');
const HELLO = projectPath('guests', 'hello.ts');

describe('ksm services on a batch host', function () {
  this.timeout(120_000);

  it('retunes ksmtuned when a guest starts, and its stop (run=0) keeps the merged pages merged', async () => {
    let logged = 0;
    const host = await Host.start({ memoryBytes: 32 * 2 ** 20, onLog: (l) => { if (/ksm_merging_pages/.test(l)) logged++; } });
    const tuned = new EmulatedTunedHost(host);
    try {
      // smart_scan off: a guest scanned alone for a while would otherwise be skipped for up to 8 passes.
      for (const [k, v] of [['sleep_millisecs', '0'], ['pages_to_scan', '10000'], ['smart_scan', '0']]) await host.writeFile(KSM_DIR + k, v!);
      const ksm = await startServices(tuned, [{ name: 'ksm' }]);
      expect(host.readFile(KSM_DIR + 'run')).to.equal('1\n');
      for (let i = 0; i < 2; i++) tuned.track(host.launch(IMAGE, { name: `img.${i}`, args: ['3000', '0', '7', '60000'] }));
      while (logged < 2) await new Promise((r) => setTimeout(r, 20));
      const from = host.files.counters().full_scans;
      while (host.files.counters().full_scans < from + 3) await new Promise((r) => setTimeout(r, 10));
      const merged = host.files.counters();
      expect(merged.pages_sharing).to.equal(3000);

      // ksmtuned starts (first interval a minute away); a guest start retunes it at once.
      const daemon = new KsmtunedDaemon(tuned, KSMTUNED_DEFAULTS);
      daemon.start();
      tuned.track(host.launch(HELLO, { name: 'hello' }));
      await daemon.idle();
      const d = daemon.decisions[0]!;
      expect(d.trigger).to.equal('retune');
      // Each guest's RSS counts the KSM pages it maps: 2 × 3000 pages of 4 kB.
      expect(d.committed_kb).to.be.at.least(2 * 3000 * 4);
      // 24000 + 6553 < 32768 kB and free > thres: stop.
      expect(d.decision).to.equal('stop');
      expect(host.readFile(KSM_DIR + 'run')).to.equal('0\n');
      const after = host.files.counters();
      expect(after.pages_shared).to.equal(merged.pages_shared);
      expect(after.pages_sharing).to.equal(merged.pages_sharing);
      await daemon.stop();
      await ksm.stop();
    } finally {
      await host.shutdown();
    }
  });
});
