// kernel-defaults.test.ts — the kernel's default KSM knobs and the writes that put a machine back to
// them: run=2 before the EBUSY knobs, advisor_mode before pages_to_scan, run=0 last; the emulator
// starts where a fresh kernel does; this kernel has no writable knob the table lacks.
import { expect } from 'chai';
import { readdirSync, statSync } from 'node:fs';
import { KERNEL_KNOB_DEFAULTS, defaultsResetWrites } from '../../../src/backend/linux/kernel-defaults.ts';
import { emulatorDefaultMismatches } from '../../../src/fidelity/backends.ts';
import { Host } from '../../../src/host/host.ts';
import { KNOBS } from '../../../src/ksm/ksm-state.ts';
import { KSM_DIR } from '../../../src/ksm/sysfs.ts';
import { skipUnlessLinuxBackend } from './skip-unless-available.ts';

const ALL = new Set(Object.keys(KERNEL_KNOB_DEFAULTS));

describe('kernel default knobs', () => {
  it('are those of Documentation/admin-guide/mm/ksm.rst', () => {
    expect(KERNEL_KNOB_DEFAULTS).to.deep.equal({
      run: '0', pages_to_scan: '100', sleep_millisecs: '20', merge_across_nodes: '1', use_zero_pages: '0',
      max_page_sharing: '256', stable_node_chains_prune_millisecs: '2000', smart_scan: '1', advisor_mode: 'none',
      advisor_max_cpu: '70', advisor_min_pages_to_scan: '500', advisor_max_pages_to_scan: '30000', advisor_target_scan_time: '200',
    });
  });

  it('name every knob the emulator has', () => {
    expect([...ALL].sort()).to.deep.equal([...KNOBS].sort());
  });

  it('are reached by unmerging first (run=2), so max_page_sharing and merge_across_nodes are not EBUSY', () => {
    const w = defaultsResetWrites(ALL);
    expect(w[0]).to.deep.equal({ name: 'run', value: '2' });
    const at = (name: string): number => w.findIndex((x) => x.name === name);
    expect(at('max_page_sharing')).to.be.above(0);
    expect(at('merge_across_nodes')).to.be.above(0);
  });

  it('set advisor_mode none before pages_to_scan (EINVAL under the scan-time advisor)', () => {
    const w = defaultsResetWrites(ALL);
    expect(w.findIndex((x) => x.name === 'advisor_mode')).to.be.below(w.findIndex((x) => x.name === 'pages_to_scan'));
  });

  it('end with run=0 and write every other knob once', () => {
    const w = defaultsResetWrites(ALL);
    expect(w.at(-1)).to.deep.equal({ name: 'run', value: '0' });
    const others = w.slice(1, -1);
    expect(others.map((x) => x.name).sort()).to.deep.equal([...ALL].filter((n) => n !== 'run').sort());
    for (const x of others) expect(x.value, x.name).to.equal(KERNEL_KNOB_DEFAULTS[x.name]);
  });

  it('leave out knobs this kernel lacks (no CONFIG_NUMA, no advisor)', () => {
    const present = new Set([...ALL].filter((n) => n !== 'merge_across_nodes' && !n.startsWith('advisor_')));
    const names = defaultsResetWrites(present).map((x) => x.name);
    expect(names).to.not.include('merge_across_nodes');
    expect(names.some((n) => n.startsWith('advisor_'))).to.equal(false);
    expect(names).to.include('pages_to_scan');
  });

  it('are what a fresh emulated host shows', async function () {
    this.timeout(20_000);
    const host = await Host.start({ memoryBytes: 16 * 2 ** 20 });
    try {
      expect(emulatorDefaultMismatches(host)).to.deep.equal([]);
      await host.writeFile(KSM_DIR + 'use_zero_pages', '1');
      expect(emulatorDefaultMismatches(host)).to.deep.equal(['use_zero_pages 1, not 0']);
    } finally {
      await host.shutdown();
    }
  });

  it('cover every writable knob of this machine\'s kernel', function () {
    skipUnlessLinuxBackend(this);
    const writable = readdirSync(KSM_DIR).filter((n) => statSync(KSM_DIR + n).mode & 0o200);
    expect(writable.filter((n) => !ALL.has(n)), 'writable knobs with no known default').to.deep.equal([]);
  });
});
