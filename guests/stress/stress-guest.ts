// stress-guest.ts — the guest program of `ksmsim stress`: a seeded mix of reads, writes, memset,
// mmap/munmap, madvise (MERGEABLE, UNMERGEABLE, DONTNEED), mprotect and prctl on memory built to
// merge constantly (every page is drawn from a few contents shared by all guests), checking every
// byte it reads against its own shadow copy. It obeys the host through its control page
// (src/stress/control-page.ts): pause, quiesce, verify, exit.
//
// args: --seed N --regions N --pages N --contents N --content-seed N [--victim] [--readonly-advise] [--pageout]
//   --victim: a guest the host kills at a random moment (fault injection); it writes constantly
//   to merged pages so the kill lands in a write or a copy-on-write more often than not.
//   --readonly-advise: make a region read-only before advising it MERGEABLE (DKSM's intended use:
//   its first page of a merged frame is never write-protected otherwise).
//   --pageout: also madvise(MADV_PAGEOUT / MADV_COLD) ranges now and then (a host with swap).
//
// Under --engine dksm with writable regions, a write through the guest's own PRESENT|KSM|WRITABLE
// PTE (a DKSM first page: no other engine leaves a KSM page writable) is logged once per page and
// frame as `@inplace {"guest","vpage","frame"}`, and every violation names the frame its page
// mapped: the host classifies a violation on a frame another page wrote in place as DKSM's
// writable-region hazard. After a violation the guest takes the bytes it read as the page's new
// shadow (one finding per divergence, not one per later read). A shared page is checked before
// anything copies it (a write's copy-on-write, an unmerge), while a difference is still on the
// shared frame where it can be traced; the frame a page was copied from is remembered until the page
// is overwritten whole, and a violation names it too (`from`): another guest may write that frame in
// place between the check and the copy, or the page may be unreadable (PROT_NONE) when it is copied.
//
// Copy-on-write counting peeks at the guest's own page table (read-only, through workerData, which
// only the emulator backend has): a write to a page whose PTE maps a KSM page or a KSM zero page just
// before the write is counted as a copy-on-write.

import { workerData } from 'node:worker_threads';
import {
  MADV_COLD, MADV_DONTNEED, MADV_MERGEABLE, MADV_PAGEOUT, MADV_UNMERGEABLE, MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE,
  PR_SET_MEMORY_MERGE, isErrnoError, type GuestSys,
} from '../../src/guest/index.ts';
import {
  CMD_EXIT, CMD_PAUSE, CMD_RUN, CMD_VERIFY, CP_ACK_SEQ, CP_COUNTERS, CP_RESULT, CP_WORDS,
  STRESS_COUNTERS, type StressCounter,
} from '../../src/stress/control-page.ts';
import { Prng, mixSeed } from '../../src/platform/prng.ts';

const PAGE = 4096;
const PTE_PRESENT = 1;
const PTE_WRITABLE = 2;
const PTE_KSM = 4;
const PTE_KSM_ZERO = 16;
const PTE_FRAME_SHIFT = 9;
const INPLACE = PTE_PRESENT | PTE_KSM | PTE_WRITABLE;
/** Violations logged per guest (each also counted): enough for the host to classify every one. */
const LOGGED_VIOLATIONS = 1000;

interface Region {
  addr: number;
  pages: number;
  prot: number;
  shadow: Uint8Array;
}

interface Options {
  seed: number;
  regions: number;
  pages: number;
  contents: number;
  contentSeed: number;
  victim: boolean;
  readonlyAdvise: boolean;
  pageout: boolean;
}

function parse(args: string[]): Options {
  const o: Options = { seed: 1, regions: 4, pages: 32, contents: 4, contentSeed: 0x5eed, victim: false, readonlyAdvise: false, pageout: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = Number(args[i + 1]);
    if (a === '--victim') o.victim = true;
    else if (a === '--readonly-advise') o.readonlyAdvise = true;
    else if (a === '--pageout') o.pageout = true;
    else if (a === '--seed') (o.seed = v), i++;
    else if (a === '--regions') (o.regions = v), i++;
    else if (a === '--pages') (o.pages = v), i++;
    else if (a === '--contents') (o.contents = v), i++;
    else if (a === '--content-seed') (o.contentSeed = v), i++;
    else throw new Error(`stress-guest: unknown argument ${a}`);
  }
  return o;
}

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const o = parse(args);
  const g = new StressGuest(sys, o);
  return g.run();
}

class StressGuest {
  private readonly sys: GuestSys;
  private readonly o: Options;
  private readonly rng: Prng;
  private readonly ctlAddr: number;
  private readonly counts = new Int32Array(STRESS_COUNTERS.length);
  private readonly templates: Uint8Array[] = [];
  private readonly regions: Region[] = [];
  private readonly pt: Int32Array | undefined;
  private lastSeq = 0;
  private ackedSeq = 0;
  /** "vpage:frame" this guest wrote in place through a writable KSM PTE (logged once each). */
  private readonly inplace = new Set<string>();
  /** vpage → the shared frame its bytes were last copied from (a copy-on-write or an unmerge), until it is overwritten whole. */
  private readonly copiedFrom = new Map<number, number>();

  constructor(sys: GuestSys, o: Options) {
    this.sys = sys;
    this.o = o;
    this.rng = new Prng(mixSeed(o.seed, sys.pid));
    this.ctlAddr = sys.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    sys.write(this.ctlAddr + CP_WORDS * 4, new Uint8Array(4)); // a shared area gets its frame on first touch
    // Every guest builds the same templates from the content seed: pages merge across guests.
    this.templates.push(new Uint8Array(PAGE));
    for (let i = 1; i < o.contents; i++) new Prng(mixSeed(o.contentSeed, i)).fill(this.templates[this.templates.push(new Uint8Array(PAGE)) - 1]!);
    const wd = workerData as { space?: { pageTable?: SharedArrayBuffer } } | null;
    this.pt = wd?.space?.pageTable ? new Int32Array(wd.space.pageTable) : undefined;
  }

  async run(): Promise<number> {
    for (let i = 0; i < this.o.regions; i++) this.mapRegion();
    this.publish();
    let n = 0;
    for (;;) {
      if ((n & 15) === 0) {
        const cmd = this.command();
        if (cmd === CMD_PAUSE) await this.pause();
        else if (cmd !== CMD_RUN) break;
        else if (this.lastSeq !== this.ackedSeq) this.ack();
      }
      if ((n & 1023) === 1023) await this.sys.sleep(0);
      this.step();
      if ((n & 63) === 0) this.publish();
      n++;
    }
    // Quiesce: every area back to read-write so the final verification reads everything.
    for (const r of this.regions) if (r.prot !== (PROT_READ | PROT_WRITE)) this.sys.mprotect(r.addr, r.pages * PAGE, (r.prot = PROT_READ | PROT_WRITE));
    this.publish();
    this.ack();
    for (;;) {
      const cmd = this.command();
      if (cmd === CMD_VERIFY && this.lastSeq !== this.acknowledged()) {
        this.setWord(CP_RESULT, this.verifyAll());
        this.publish();
        this.ack();
      } else if (cmd === CMD_EXIT) {
        this.ack();
        return this.counts[STRESS_COUNTERS.indexOf('violations')]! > 0 ? 3 : 0;
      }
      await this.sys.sleep(2);
    }
  }

  // ───────────── control page ─────────────

  private word(i: number): number {
    const b = this.sys.read(this.ctlAddr + i * 4, 4);
    return b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
  }

  private setWord(i: number, v: number): void {
    this.sys.write(this.ctlAddr + i * 4, new Uint8Array(new Int32Array([v]).buffer));
  }

  /** The current command (remembering its sequence number for ack()). */
  private command(): number {
    const b = this.sys.read(this.ctlAddr, 8);
    const dv = new DataView(b.buffer);
    this.lastSeq = dv.getInt32(4, true);
    return dv.getInt32(0, true);
  }

  private acknowledged(): number {
    return this.word(CP_ACK_SEQ);
  }

  private ack(): void {
    this.setWord(CP_ACK_SEQ, this.lastSeq);
    this.ackedSeq = this.lastSeq;
  }

  private publish(): void {
    this.sys.write(this.ctlAddr + CP_COUNTERS * 4, new Uint8Array(this.counts.buffer));
  }

  private async pause(): Promise<void> {
    this.publish();
    this.ack();
    while (this.command() === CMD_PAUSE) await this.sys.sleep(1);
  }

  private count(c: StressCounter, n = 1): void {
    this.counts[STRESS_COUNTERS.indexOf(c)]! += n;
  }

  /** `source`: the frame the page's bytes were just copied from (else the frame it maps). */
  private violation(address: number, expected: number, actual: number, what: string, source?: number): void {
    this.count('violations');
    if (this.counts[STRESS_COUNTERS.indexOf('violations')]! <= LOGGED_VIOLATIONS) {
      const pte = this.pt ? Atomics.load(this.pt, Math.floor(address / PAGE)) : 0;
      const frame = source ?? (pte & PTE_PRESENT ? pte >>> PTE_FRAME_SHIFT : -1);
      this.sys.log(`@violation ${JSON.stringify({ guest: this.sys.pid, address, expected, actual, seed: this.o.seed, what, frame, from: this.copiedFrom.get(Math.floor(address / PAGE)) })}`);
    }
  }

  /** Log the frames of [p, p+n) this write will change in place through a writable KSM PTE (DKSM's first pages). */
  private noteInPlace(r: Region, p: number, n: number): void {
    const pt = this.pt;
    if (!pt) return;
    const v = r.addr / PAGE + p;
    for (let i = 0; i < n; i++) {
      const pte = Atomics.load(pt, v + i);
      if ((pte & INPLACE) !== INPLACE) continue;
      const frame = pte >>> PTE_FRAME_SHIFT;
      const key = `${v + i}:${frame}`;
      if (this.inplace.has(key)) continue;
      this.inplace.add(key);
      this.sys.log(`@inplace ${JSON.stringify({ guest: this.sys.pid, vpage: v + i, frame })}`);
    }
  }

  /**
   * Before something copies the KSM pages of [p, p+n): check them against the shadow (if readable) and
   * remember the frames they are copied from; returns [page, frame] of each.
   */
  private checkShared(r: Region, p: number, n: number): Array<[number, number]> {
    const pt = this.pt;
    const out: Array<[number, number]> = [];
    if (!pt) return out;
    const v = r.addr / PAGE + p;
    for (let i = 0; i < n; i++) {
      const pte = Atomics.load(pt, v + i);
      if ((pte & (PTE_PRESENT | PTE_KSM)) !== (PTE_PRESENT | PTE_KSM)) continue;
      if (r.prot !== PROT_NONE) this.readCheck(r, (p + i) * PAGE, PAGE);
      this.copiedFrom.set(v + i, pte >>> PTE_FRAME_SHIFT);
      out.push([p + i, pte >>> PTE_FRAME_SHIFT]);
    }
    return out;
  }

  /** Pages [p, p+n) were overwritten whole (or dropped): their bytes no longer come from a copy. */
  private forgetCopies(r: Region, p: number, n: number): void {
    const v = r.addr / PAGE + p;
    for (let i = 0; i < n; i++) this.copiedFrom.delete(v + i);
  }

  /** After a copy of shared pages: check them again, a difference naming the frame they were copied from. */
  private checkCopied(r: Region, copied: ReadonlyArray<[number, number]>): void {
    if (r.prot === PROT_NONE) return;
    for (const [p, frame] of copied) this.readCheck(r, p * PAGE, PAGE, frame);
  }

  // ───────────── operations ─────────────

  private mapRegion(): void {
    const pages = this.o.pages;
    let addr: number;
    try {
      addr = this.sys.mmap(pages * PAGE);
    } catch (e) {
      if (isErrnoError(e) && e.code === 'ENOMEM') {
        this.count('enomem');
        return;
      }
      throw e;
    }
    this.count('mmaps');
    const r: Region = { addr, pages, prot: PROT_READ | PROT_WRITE, shadow: new Uint8Array(pages * PAGE) };
    this.regions.push(r);
    for (let p = 0; p < pages; p++) this.writeTemplate(r, p, this.rng.below(this.templates.length));
    if (!this.rng.chance(0.1)) this.advise(r, 0, pages, MADV_MERGEABLE);
  }

  private step(): void {
    this.count('ops');
    const rng = this.rng;
    if (this.regions.length === 0) {
      this.mapRegion();
      return;
    }
    const r = rng.pick(this.regions);
    const p = rng.below(r.pages);
    const x = rng.below(1000);
    try {
      if (this.o.victim) {
        // Victims write merged contents back and forth: copy-on-write after copy-on-write.
        if (x < 700) this.writeTemplate(r, p, rng.below(this.templates.length));
        else this.readCheck(r, p * PAGE, PAGE);
        return;
      }
      // (Drawn only with --pageout, so runs without it replay the same choices as before.)
      if (this.o.pageout && rng.chance(0.03)) {
        this.sys.madvise(r.addr + p * PAGE, (1 + rng.below(r.pages - p)) * PAGE, rng.pick([MADV_PAGEOUT, MADV_PAGEOUT, MADV_COLD]));
        this.count('pageouts');
        return;
      }
      if (x < 380) this.readCheck(r, rng.below(r.pages * PAGE - 1), 1 + rng.below(2 * PAGE));
      else if (x < 600) this.writeTemplate(r, p, rng.below(this.templates.length));
      else if (x < 680) this.poke(r, p);
      else if (x < 760) this.memsetPages(r, p, 1 + rng.below(3), rng.pick([0, 0x11, 0xa5]));
      else if (x < 840) this.readCheck(r, p * PAGE, PAGE);
      else if (x < 880) this.advise(r, p, 1 + rng.below(r.pages - p), MADV_MERGEABLE);
      else if (x < 910) this.advise(r, p, 1 + rng.below(r.pages - p), MADV_UNMERGEABLE);
      else if (x < 940) this.advise(r, p, 1 + rng.below(Math.min(4, r.pages - p)), MADV_DONTNEED);
      else if (x < 965) this.protect(r);
      else if (x < 980) this.remap(r);
      else this.prctl();
    } catch (e) {
      if (e instanceof Error && e.name === 'OutOfMemoryKill') throw e;
      if (isErrnoError(e) && (e.code === 'EAGAIN' || e.code === 'ENOMEM')) {
        this.count(e.code === 'EAGAIN' ? 'eagain' : 'enomem');
        return;
      }
      this.count('unexpected_errors');
      if (this.counts[STRESS_COUNTERS.indexOf('unexpected_errors')]! <= 5) this.sys.log(`@error ${(e as Error).message}`);
    }
  }

  private writable(r: Region): boolean {
    return (r.prot & PROT_WRITE) !== 0;
  }

  /** Expect EFAULT from an access the protection forbids. */
  private expectFault(fn: () => void, addr: number): void {
    try {
      fn();
    } catch (e) {
      if (isErrnoError(e) && e.code === 'EFAULT') {
        this.count('efault_expected');
        return;
      }
      throw e;
    }
    this.violation(addr, -1, -1, 'access allowed by a protection that forbids it');
  }

  /** Pages of [p, p+n) whose PTE maps a KSM page or a KSM zero page right now (a write copies them). */
  private ksmPages(r: Region, p: number, n: number): number {
    const pt = this.pt;
    if (!pt) return 0;
    let cows = 0;
    const v = r.addr / PAGE + p;
    for (let i = 0; i < n; i++) {
      const pte = Atomics.load(pt, v + i);
      if ((pte & PTE_PRESENT) && (pte & (PTE_KSM | PTE_KSM_ZERO))) cows++;
    }
    return cows;
  }

  private writeTemplate(r: Region, p: number, k: number): void {
    const addr = r.addr + p * PAGE;
    const t = this.templates[k]!;
    if (!this.writable(r)) {
      this.expectFault(() => this.sys.write(addr, t), addr);
      return;
    }
    const cows = this.ksmPages(r, p, 1);
    this.checkShared(r, p, 1);
    this.noteInPlace(r, p, 1);
    this.sys.write(addr, t);
    r.shadow.set(t, p * PAGE);
    this.forgetCopies(r, p, 1);
    this.count('writes');
    this.count('cows', cows);
  }

  private poke(r: Region, p: number): void {
    const n = 1 + this.rng.below(16);
    const off = this.rng.below(PAGE - n);
    const bytes = this.rng.fill(new Uint8Array(n));
    const addr = r.addr + p * PAGE + off;
    if (!this.writable(r)) {
      this.expectFault(() => this.sys.write(addr, bytes), addr);
      return;
    }
    const cows = this.ksmPages(r, p, 1);
    const copied = this.checkShared(r, p, 1);
    this.noteInPlace(r, p, 1);
    this.sys.write(addr, bytes);
    r.shadow.set(bytes, p * PAGE + off);
    this.checkCopied(r, copied);
    this.count('writes');
    this.count('cows', cows);
  }

  private memsetPages(r: Region, p: number, n: number, byte: number): void {
    n = Math.min(n, r.pages - p);
    const addr = r.addr + p * PAGE;
    if (!this.writable(r)) {
      this.expectFault(() => this.sys.memset(addr, byte, n * PAGE), addr);
      return;
    }
    const cows = this.ksmPages(r, p, n);
    this.checkShared(r, p, n);
    this.noteInPlace(r, p, n);
    this.sys.memset(addr, byte, n * PAGE);
    r.shadow.fill(byte, p * PAGE, (p + n) * PAGE);
    this.forgetCopies(r, p, n);
    this.count('memsets');
    this.count('cows', cows);
  }

  private readCheck(r: Region, off: number, len: number, source?: number): void {
    len = Math.min(len, r.pages * PAGE - off);
    if (len <= 0) return;
    if (r.prot === PROT_NONE) {
      this.expectFault(() => this.sys.read(r.addr + off, len), r.addr + off);
      return;
    }
    const got = this.sys.read(r.addr + off, len);
    this.count('reads');
    const want = r.shadow;
    for (let i = 0; i < len; i++) {
      if (got[i] !== want[off + i]) {
        this.violation(r.addr + off + i, want[off + i]!, got[i]!, source === undefined ? 'read differs from the shadow copy' : 'a copy-on-write or unmerge copied bytes that differ from the shadow', source);
        want.set(got, off);
        return;
      }
    }
  }

  private advise(r: Region, p: number, n: number, advice: number): void {
    // DKSM's intended use: only read-only memory is advised (the region stays read-only until a later mprotect).
    if (advice === MADV_MERGEABLE && this.o.readonlyAdvise && this.writable(r)) {
      this.sys.mprotect(r.addr, r.pages * PAGE, PROT_READ);
      r.prot = PROT_READ;
      this.count('mprotects');
    }
    const copied = advice === MADV_UNMERGEABLE ? this.checkShared(r, p, n) : [];
    const ksm = advice === MADV_UNMERGEABLE ? this.ksmPages(r, p, n) : 0;
    this.sys.madvise(r.addr + p * PAGE, n * PAGE, advice);
    this.checkCopied(r, copied);
    if (advice === MADV_DONTNEED) {
      r.shadow.fill(0, p * PAGE, (p + n) * PAGE);
      this.forgetCopies(r, p, n);
      this.count('dontneeds');
    } else this.count('madvises');
    this.count('unmerges', ksm);
  }

  private protect(r: Region): void {
    const prot = this.rng.pick([PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ, PROT_NONE]);
    this.sys.mprotect(r.addr, r.pages * PAGE, prot);
    r.prot = prot;
    this.count('mprotects');
  }

  private remap(r: Region): void {
    this.sys.munmap(r.addr, r.pages * PAGE);
    this.forgetCopies(r, 0, r.pages);
    this.regions.splice(this.regions.indexOf(r), 1);
    this.count('munmaps');
    this.mapRegion();
  }

  private prctl(): void {
    const on = this.rng.chance(0.5) ? 1 : 0;
    const copied = on ? [] : this.regions.map((r) => this.checkShared(r, 0, r.pages));
    const ksm = on ? 0 : this.regions.reduce((n, r) => n + this.ksmPages(r, 0, r.pages), 0);
    this.sys.prctl(PR_SET_MEMORY_MERGE, on);
    copied.forEach((c, i) => this.checkCopied(this.regions[i]!, c));
    this.count('prctls');
    this.count('unmerges', ksm);
  }

  /** Read every page of every area and compare with the shadow; returns mismatching bytes (each page's first one logged). */
  private verifyAll(): number {
    let bad = 0;
    for (const r of this.regions) {
      const got = this.sys.read(r.addr, r.pages * PAGE);
      for (let p = 0; p < r.pages; p++) {
        let first = -1;
        for (let i = p * PAGE; i < (p + 1) * PAGE; i++) {
          if (got[i] === r.shadow[i]) continue;
          if (first < 0) first = i;
          bad++;
        }
        if (first >= 0) this.violation(r.addr + first, r.shadow[first]!, got[first]!, 'final verification differs from the shadow copy');
      }
      this.count('reads');
    }
    return bad;
  }
}
