// ksmtuned.test.ts — ksmtuned's decisions on a scripted meminfo curve, step by step against the
// script's arithmetic: start, boost, clamp at KSM_NPAGES_MAX, decay, clamp at KSM_NPAGES_MIN, stop
// (run=0, never 2: merged pages stay merged), retune at once on a guest start; and its debug log.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ksmtunedAdjust, ksmtunedBoot } from '../../src/tuning/ksmtuned-algorithm.ts';
import { KSMTUNED_DEFAULTS, parseKsmtunedConf } from '../../src/tuning/ksmtuned-conf.ts';
import { KsmtunedDaemon } from '../../src/tuning/ksmtuned-daemon.ts';
import { cDate } from '../../src/tuning/ksmtuned-log.ts';
import { ManualClock, ScriptedHost } from './scripted-host.ts';

const GIB_KB = 1048576;
// For 1 GiB: sleep = 10 × 16777216 / 1048576 = 160 ms; thres = 1048576 × 20 / 100 = 209715 kB.
const THRES = 209715;
const SLEEP = 160;
const MINUTE = 60_000;

/** One interval on the scripted host: set meminfo, let the timer fire, wait for the knob writes. */
async function step(clock: ManualClock, host: ScriptedHost, daemon: KsmtunedDaemon, free: number, committed: number): Promise<void> {
  host.set(free, committed);
  clock.advance(MINUTE);
  await daemon.idle();
}

describe('ksmtuned', () => {
  describe('at start', () => {
    it('computes sleep as KSM_SLEEP_MSEC × 16 GiB / MemTotal and thres as MemTotal × KSM_THRES_COEF %', () => {
      const b = ksmtunedBoot(KSMTUNED_DEFAULTS, GIB_KB);
      expect([b.total, b.sleep, b.thres]).to.deep.equal([GIB_KB, SLEEP, THRES]);
      expect(b.lines).to.deep.equal([`total ${GIB_KB}`, `sleep ${SLEEP}`, `thres ${THRES}`]);
    });

    it('never sleeps less than 10 ms, and never lets thres fall below KSM_THRES_CONST', () => {
      const big = ksmtunedBoot(KSMTUNED_DEFAULTS, 64 * GIB_KB);
      expect(big.sleep).to.equal(10); // 10 × 16 GiB / 64 GiB = 2, raised to 10
      const tiny = ksmtunedBoot(KSMTUNED_DEFAULTS, 8192);
      expect(tiny.thres).to.equal(2048); // 8192 × 20 % = 1638 < 2048
    });

    it('writes no knob until the first interval has passed', () => {
      const clock = new ManualClock();
      const host = new ScriptedHost(GIB_KB);
      const d = new KsmtunedDaemon(host, KSMTUNED_DEFAULTS, { scheduler: clock });
      d.start();
      clock.advance(MINUTE - 1);
      expect(host.writes).to.deep.equal([]);
      expect(clock.pending()).to.deep.equal([1]);
    });
  });

  describe('adjust on a scripted meminfo curve', () => {
    it('follows the script step by step: stop, start with boost, clamp at MAX, decay, clamp at MIN, stop', async () => {
      const clock = new ManualClock();
      const host = new ScriptedHost(GIB_KB);
      const d = new KsmtunedDaemon(host, KSMTUNED_DEFAULTS, { scheduler: clock });
      d.start();

      // 1. Little committed, plenty free: committed + thres < total and free > thres → run=0.
      await step(clock, host, d, 900_000, 100_000);
      expect(host.writes).to.deep.equal(['run=0']);
      expect(d.decisions[0]!.lines).to.deep.equal(['committed 100000 free 900000', `${100_000 + THRES} < ${GIB_KB} and free > ${THRES}, stop ksm`]);

      // 2. Guests commit 900000 kB and free falls below thres: start, npages 0 + 300.
      host.writes.length = 0;
      await step(clock, host, d, 150_000, 900_000);
      expect(host.writes).to.deep.equal(['pages_to_scan=300', `sleep_millisecs=${SLEEP}`, 'run=1']);
      expect(d.decisions[1]!.lines).to.deep.equal([
        'committed 900000 free 150000', `${900_000 + THRES} > ${GIB_KB}, start ksm`, `150000 < ${THRES}, boost`, `KSMCTL start 300 ${SLEEP}`,
      ]);

      // 3. Still short of free memory: boost by 300 each interval, clamped at KSM_NPAGES_MAX = 1250.
      const boosted: number[] = [];
      for (let i = 0; i < 5; i++) {
        await step(clock, host, d, 150_000, 900_000);
        boosted.push(Number(host.knobs.get('pages_to_scan')));
      }
      expect(boosted).to.deep.equal([600, 900, 1200, 1250, 1250]);

      // 4. Merging freed memory (free > thres) while committed stays high: decay by 50 …
      const decayed: number[] = [];
      for (let i = 0; i < 26; i++) {
        await step(clock, host, d, 300_000, 900_000);
        decayed.push(Number(host.knobs.get('pages_to_scan')));
      }
      // … 1200, 1150, …, 100 and then KSM_NPAGES_MIN = 64, where it stays.
      const expected = Array.from({ length: 26 }, (_, i) => Math.max(64, 1250 - 50 * (i + 1)));
      expect(decayed).to.deep.equal(expected);
      expect(decayed.slice(-3)).to.deep.equal([64, 64, 64]);
      expect(d.decisions.at(-1)!.lines[2]).to.equal(`300000 > ${THRES}, decay`);
      expect(host.knobs.get('run')).to.equal('1');

      // 5. Guests gone: stop with run=0 (not 2, which would unmerge); npages is kept for a later start.
      host.writes.length = 0;
      await step(clock, host, d, 950_000, 10_000);
      expect(host.writes).to.deep.equal(['run=0']);
      expect(d.status().npages).to.equal(64);
      host.writes.length = 0;
      await step(clock, host, d, 100_000, 950_000);
      expect(host.writes[0]).to.equal('pages_to_scan=364');
      await d.stop();
    });

    it('starts ksm when committed + thres reaches total even with free memory above thres (and decays)', () => {
      const b = ksmtunedBoot(KSMTUNED_DEFAULTS, GIB_KB);
      const s = ksmtunedAdjust(KSMTUNED_DEFAULTS, b, 0, 500_000, GIB_KB - THRES);
      expect(s.decision).to.equal('decay');
      expect(s.npages).to.equal(64); // 0 − 50 clamps to MIN
    });

    it('starts ksm when free memory is at or below thres even with little committed, printing "> total" as the script does', () => {
      const b = ksmtunedBoot(KSMTUNED_DEFAULTS, GIB_KB);
      const s = ksmtunedAdjust(KSMTUNED_DEFAULTS, b, 0, THRES, 0);
      expect(s.decision).to.equal('decay'); // free == thres: not < thres
      expect(s.lines[1]).to.equal(`${THRES} > ${GIB_KB}, start ksm`);
    });
  });

  describe('retune', () => {
    it('adjusts at once when a guest starts, and the next interval counts from then', async () => {
      const clock = new ManualClock();
      const host = new ScriptedHost(GIB_KB);
      const d = new KsmtunedDaemon(host, KSMTUNED_DEFAULTS, { scheduler: clock });
      d.start();
      clock.advance(20_000);
      host.set(150_000, 900_000);
      host.guestStarted();
      await d.idle();
      expect(host.writes).to.deep.equal(['pages_to_scan=300', `sleep_millisecs=${SLEEP}`, 'run=1']);
      expect(d.decisions[0]!.trigger).to.equal('retune');
      expect(d.decisions[0]!.t).to.equal(20);
      expect(clock.pending()).to.deep.equal([MINUTE]);
      await d.stop();
    });

    it('drops a retune that arrives while an adjust is writing knobs (the trap only interrupts the sleep)', async () => {
      const clock = new ManualClock();
      const host = new ScriptedHost(GIB_KB);
      const d = new KsmtunedDaemon(host, KSMTUNED_DEFAULTS, { scheduler: clock });
      d.start();
      host.set(150_000, 900_000);
      expect(d.retune()).to.equal(true);
      expect(d.retune()).to.equal(false);
      await d.idle();
      expect(d.decisions).to.have.length(1);
      await d.stop();
    });

    it('stops retuning once stopped, leaving the knobs as it last wrote them', async () => {
      const clock = new ManualClock();
      const host = new ScriptedHost(GIB_KB);
      const d = new KsmtunedDaemon(host, KSMTUNED_DEFAULTS, { scheduler: clock });
      d.start();
      host.set(150_000, 900_000);
      d.retune();
      await d.stop();
      host.guestStarted();
      clock.advance(10 * MINUTE);
      expect(d.decisions).to.have.length(1);
      expect(host.knobs.get('run')).to.equal('1');
    });
  });

  describe('debug log', () => {
    it('formats the date as /bin/date does in the C locale', () => {
      expect(cDate(Date.UTC(2026, 11, 6, 1, 36, 27))).to.equal('Sun Dec  6 01:36:27 UTC 2026');
      expect(cDate(Date.UTC(2026, 10, 23, 14, 5, 9))).to.equal('Mon Nov 23 14:05:09 UTC 2026');
    });

    it('appends "<date>: <message>" lines to LOGFILE when DEBUG is set, in the script\'s order', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ksmtuned-'));
      try {
        const log = join(dir, 'ksmtuned.log');
        const conf = parseKsmtunedConf(`DEBUG=1\nLOGFILE=${log}\n`);
        const clock = new ManualClock();
        const host = new ScriptedHost(GIB_KB);
        const d = new KsmtunedDaemon(host, conf, { scheduler: clock });
        d.start();
        await step(clock, host, d, 150_000, 900_000);
        await d.stop();
        expect(readFileSync(log, 'utf8').split('\n')).to.deep.equal([
          `Sun Dec  6 01:36:27 UTC 2026: total ${GIB_KB}`,
          `Sun Dec  6 01:36:27 UTC 2026: sleep ${SLEEP}`,
          `Sun Dec  6 01:36:27 UTC 2026: thres ${THRES}`,
          'Sun Dec  6 01:37:27 UTC 2026: committed 900000 free 150000',
          `Sun Dec  6 01:37:27 UTC 2026: ${900_000 + THRES} > ${GIB_KB}, start ksm`,
          `Sun Dec  6 01:37:27 UTC 2026: 150000 < ${THRES}, boost`,
          `Sun Dec  6 01:37:27 UTC 2026: KSMCTL start 300 ${SLEEP}`,
          '',
        ]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('prints to stdout when LOGFILE is empty, and nothing without DEBUG', async () => {
      const printed: string[] = [];
      const clock = new ManualClock();
      new KsmtunedDaemon(new ScriptedHost(GIB_KB), parseKsmtunedConf('DEBUG=yes\n'), { scheduler: clock, stdout: (l) => printed.push(l) }).start();
      new KsmtunedDaemon(new ScriptedHost(GIB_KB), KSMTUNED_DEFAULTS, { scheduler: clock, stdout: (l) => printed.push(`quiet ${l}`) }).start();
      expect(printed).to.deep.equal([
        `Sun Dec  6 01:36:27 UTC 2026: total ${GIB_KB}`, `Sun Dec  6 01:36:27 UTC 2026: sleep ${SLEEP}`, `Sun Dec  6 01:36:27 UTC 2026: thres ${THRES}`,
      ]);
    });
  });
});
