// guest-concurrency.test.ts — eight real guest workers write and verify seeded page patterns while
// they map, unmap and drop memory around each other: no guest ever reads another's bytes, nothing
// leaks, and reading untouched memory allocates nothing.
import { expect } from 'chai';
import { Host, type GuestReport } from '../../src/host/host.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';

const CHURN = new URL('../fixtures/pattern-churn.ts', import.meta.url).pathname;
const ZERO_READER = new URL('../fixtures/zero-reader.ts', import.meta.url).pathname;
const MiB = 2 ** 20;
const GUESTS = 8;

function explain(reports: GuestReport[], logs: string[]): string {
  const bad = reports.filter((r) => r.status !== 'exited');
  return bad.map((r) => `${r.name}: ${r.status} ${r.error ?? ''}`).join('; ') + '\n' + logs.filter((l) => l.includes('MISMATCH')).join('\n');
}

describe('guests running concurrently', function () {
  this.timeout(30_000);
  let host: Host | undefined;
  let logs: string[] = [];

  afterEach(async () => {
    await host?.shutdown();
    host = undefined;
    logs = [];
  });

  describe('without ksmd', () => {
    let reports: GuestReport[];
    let zero: GuestReport;
    let freeBefore: number;
    let freeAfter: number;
    let quiet: Host | undefined;
    const quietLogs: string[] = [];

    before(async function () {
      this.timeout(30_000);
      const h = (quiet = await Host.start({ memoryBytes: 64 * MiB, ksmd: false, onLog: (l) => quietLogs.push(l) }));
      freeBefore = h.memory.freeFrames();
      const churn = Array.from({ length: GUESTS }, (_, i) => h.launch(CHURN, { name: `churn${i}`, args: [String(1000 + i), '128', '240'] }));
      const reader = h.launch(ZERO_READER, { name: 'zero-reader', args: ['2048'] });
      reports = await Promise.all(churn.map((g) => g.done));
      zero = await reader.done;
      freeAfter = h.memory.freeFrames();
    });

    after(async () => {
      await quiet?.shutdown();
    });

    it('every guest reads back exactly what it wrote, never another guest\'s bytes', () => {
      expect(reports.every((r) => r.status === 'exited'), explain(reports, quietLogs)).to.equal(true);
      expect(quietLogs.filter((l) => l.includes('MISMATCH'))).to.deep.equal([]);
      expect(quietLogs.filter((l) => /checked \d+ pages, 0 mismatches/.test(l))).to.have.length(GUESTS);
    });

    it('the free-frame count returns exactly to its start once all guests have exited', () => {
      expect(freeAfter).to.equal(freeBefore);
    });

    it('reading untouched memory maps the zero page and allocates nothing', () => {
      expect(zero.status).to.equal('exited');
      expect(zero.memoryAtExit.zeroPages).to.equal(2048);
      expect(zero.memoryAtExit.privatePages).to.equal(0);
    });
  });

  describe('with ksmd merging the same memory', () => {
    it('merges, copy-on-write and unmapping never let a guest read another\'s bytes, and nothing leaks', async () => {
      host = await Host.start({ memoryBytes: 64 * MiB, onLog: (l) => logs.push(l) });
      const h = host;
      await h.writeFile(KSM_DIR + 'pages_to_scan', '5000');
      await h.writeFile(KSM_DIR + 'sleep_millisecs', '2');
      await h.writeFile(KSM_DIR + 'run', '1');
      const freeBefore = h.memory.freeFrames();
      const churn = Array.from({ length: GUESTS }, (_, i) => h.launch(CHURN, { name: `merge${i}`, args: [String(2000 + i), '128', '160', 'merge'] }));
      const reports = await Promise.all(churn.map((g) => g.done));
      expect(reports.every((r) => r.status === 'exited'), explain(reports, logs)).to.equal(true);
      const { events } = await h.ksmd!.stats();
      expect(events.merges, 'ksmd merged pages meanwhile').to.be.greaterThan(0);
      expect(logs.filter((l) => /merging [1-9]/.test(l)).length, 'guests that saw their pages merged').to.be.greaterThan(0);
      // Frames ksmd replaced while a guest was on the page may be freed only at its next pass.
      const deadline = Date.now() + 3_000;
      while (h.memory.freeFrames() !== freeBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(h.memory.freeFrames(), `pending frees in ksmd: ${(await h.ksmd!.stats()).pendingFrees}`).to.equal(freeBefore);
    });
  });
});
