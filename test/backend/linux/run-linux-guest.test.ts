// run-linux-guest.test.ts — guest programs in real child processes: the real ksmd merges their
// pages, logs and failures come back, and the knobs are as before afterwards.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { readKnobs } from '../../../src/backend/linux/knob-guard.ts';
import { runLinuxGuest, runLinuxGuests } from '../../../src/backend/linux/run-linux-guest.ts';
import { skipUnlessLinuxBackend } from './skip-unless-available.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('linux backend: guests in real processes', function () {
  this.timeout(30_000);
  beforeEach(function () {
    skipUnlessLinuxBackend(this);
  });

  it('64 equal mergeable pages give ksm_merging_pages 64 after two full scans, knobs restored', async function () {
    const before = readKnobs();
    const r = await runLinuxGuest({ program: fixture('merge-pages.ts'), root: true, args: ['64'] }, { timeoutMs: 25_000, waitMs: 10_000 });
    expect(r.error, r.logs.join('\n')).to.equal(undefined);
    const { stat } = JSON.parse(r.logs[0]) as { stat: Record<string, string> };
    expect(stat).to.include({ ksm_merging_pages: '64', ksm_rmap_items: '64', ksm_process_profit: String(64 * 4096 - 64 * 64), ksm_mergeable: 'yes', ksm_merge_any: 'no' });
    expect(r.exitCode).to.equal(0);
    expect(readKnobs()).to.deep.equal(before);
  });

  it('several guests share one snapshot: a non-root guest fails EACCES, a root one returns its code', async function () {
    const before = readKnobs();
    const lines: string[] = [];
    const [user, root] = await runLinuxGuests(
      [{ program: fixture('fail-eacces.ts'), name: 'user' }, { program: fixture('fail-eacces.ts'), name: 'root', root: true }],
      { timeoutMs: 25_000, waitMs: 10_000, onLog: (l) => lines.push(l) },
    );
    expect(user.exitCode).to.equal(1);
    expect(user.error).to.match(/EACCES/);
    expect(user.logs).to.deep.equal(['backend linux']);
    expect(root.exitCode).to.equal(3);
    expect(root.error).to.equal('exit status 3');
    expect(root.pid).to.not.equal(user.pid);
    expect(lines).to.have.members(['[user] backend linux', '[root] backend linux']);
    expect(readKnobs()).to.deep.equal(before);
  });

  it('reports a program without a default export, and a missing program', async function () {
    const r = await runLinuxGuest({ program: fixture('no-default.ts') }, { timeoutMs: 25_000, waitMs: 10_000 });
    expect(r.exitCode).to.equal(1);
    expect(r.error).to.match(/no default export/);
    const missing = await runLinuxGuest({ program: fixture('no-such-guest.ts') }, { timeoutMs: 25_000, waitMs: 10_000 });
    expect(missing.exitCode).to.equal(1);
    expect(missing.error).to.match(/program not found: .*no-such-guest\.ts/);
  });

  it('kills a guest that runs past its time limit', async function () {
    const r = await runLinuxGuest({ program: fixture('sleep-forever.ts') }, { timeoutMs: 1_000, waitMs: 10_000 });
    expect(r.exitCode).to.equal(137);
    expect(r.error).to.equal('timed out after 1000 ms');
    expect(r.logs).to.deep.equal(['sleeping']);
  });
});
