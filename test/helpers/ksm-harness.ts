// ksm-harness.ts — a host for KSM tests: knobs, scans, and fixture guests that stay alive and take
// commands through their mailbox page (test/fixtures/ksm/mailbox.ts), so the test can recount their
// page tables while they live.
//
// The mailbox is the guest's only MAP_SHARED area. The test writes a command into its frame through
// host memory (the hypervisor writing into guest RAM, as a virtio ring would) and bumps the sequence
// word last; the guest answers on its log line `@reply <seq> <json>`.

import { Host, type GuestHandle, type GuestReport, type HostOptions } from '../../src/host/host.ts';
import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT } from '../../src/mem/constants.ts';
import { VM_SHARED, readVmaTable } from '../../src/mem/guest-control.ts';
import { PTE_PRESENT, pteFrame } from '../../src/mem/pte.ts';
import { KSM_DIR } from '../../src/ksm/sysfs.ts';
import { MAILBOX_TEXT_MAX, MAILBOX_TEXT_OFFSET } from '../fixtures/ksm/mailbox.ts';

export const KSM = KSM_DIR;
export const SCRIPTED_GUEST = new URL('../fixtures/ksm/scripted-guest.ts', import.meta.url).pathname;

export interface HarnessOptions {
  readonly memoryBytes?: number;
  readonly numaNodes?: number;
  /** Knobs written in order right after the host starts (e.g. { sleep_millisecs: 0, run: 1 }). */
  readonly knobs?: Readonly<Record<string, string | number>>;
  /** Echo guest log lines to stdout (default: only when KSM_TEST_VERBOSE is set). */
  readonly verbose?: boolean;
  /** Side-channel mitigation and merge domains of the host (docs/security.md). */
  readonly mitigation?: HostOptions['mitigation'];
  readonly ksmDomains?: HostOptions['ksmDomains'];
}

type LogListener = (line: string) => void;

/**
 * The knob settings of the kernel selftests (ksm_tests.c) before they set up memory: fast scans,
 * merge across nodes, ksmd stopped. Tests set `run` 1 once the memory is ready, then wait for two
 * full scans, as ksm_merge_pages() does.
 */
export const SELFTEST_KNOBS = { sleep_millisecs: 0, pages_to_scan: 10000, merge_across_nodes: 1 } as const;

export class KsmHarness {
  readonly host: Host;
  /** Every log line, as the host printed it (`[name] text`). */
  readonly lines: string[] = [];
  private readonly listeners = new Map<string, Set<LogListener>>();
  private guestNo = 0;

  private constructor(host: Host) {
    this.host = host;
  }

  static async start(options: HarnessOptions = {}): Promise<KsmHarness> {
    let self: KsmHarness | undefined;
    const verbose = options.verbose ?? Boolean(process.env.KSM_TEST_VERBOSE);
    const host = await Host.start({
      memoryBytes: options.memoryBytes ?? 64 * 2 ** 20,
      numaNodes: options.numaNodes ?? 1,
      mitigation: options.mitigation,
      ksmDomains: options.ksmDomains,
      onLog: (line) => {
        if (verbose) console.log(line);
        self?.route(line);
      },
    });
    self = new KsmHarness(host);
    if (options.knobs) await self.setKnobs(options.knobs);
    return self;
  }

  async setKnobs(knobs: Readonly<Record<string, string | number>>): Promise<void> {
    for (const [k, v] of Object.entries(knobs)) await this.host.writeFile(KSM + k, String(v));
  }

  read(name: string): number {
    return Number(this.host.readFile(KSM + name).trim());
  }

  counters(): ReturnType<Host['files']['counters']> {
    return this.host.files.counters();
  }

  /** Wait until ksmd completed `n` more full scans. */
  async fullScans(n = 2, timeoutMs = 20_000): Promise<void> {
    if (!this.host.ksmd) throw new Error('no ksmd');
    await this.host.ksmd.waitForFullScans(n, timeoutMs);
  }

  /** Wait until `counter` has not moved for `quietMs` (e.g. pages_scanned: ksmd sleeps or idles). */
  async untilSteady(counter: string, quietMs = 150, timeoutMs = 10_000): Promise<void> {
    let last = this.read(counter);
    let since = Date.now();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() - since < quietMs) {
      if (Date.now() > deadline) throw new Error(`${counter} kept changing for ${timeoutMs} ms (now ${last})`);
      await new Promise((r) => setTimeout(r, 10));
      const now = this.read(counter);
      if (now !== last) {
        last = now;
        since = Date.now();
      }
    }
  }

  /**
   * With a long sleep_millisecs, make ksmd finish exactly one more full pass, one batch per wake-up:
   * a changed sleep_millisecs wakes it (ksm_iter_wait), as in the kernel.
   */
  async onePass(): Promise<void> {
    await this.untilSteady('pages_scanned');
    const scans = this.read('full_scans');
    while (this.read('full_scans') === scans) await this.oneBatch();
    if (this.read('full_scans') !== scans + 1) throw new Error(`ksmd made ${this.read('full_scans') - scans} passes, not one`);
  }

  /** With a long sleep_millisecs, make ksmd do exactly one more batch (pages_to_scan pages or to the end of a pass). */
  async oneBatch(): Promise<void> {
    await this.untilSteady('pages_scanned', 50);
    // A batch that ends a pass may scan no page at all, but it bumps full_scans.
    const mark = (): string => `${this.read('pages_scanned')}/${this.read('full_scans')}`;
    const before = mark();
    // Only a *changed* sleep_millisecs cuts ksmd's sleep short (as in the kernel): nudge it by one.
    const sleep = this.read('sleep_millisecs');
    await this.setKnobs({ sleep_millisecs: sleep % 2 ? sleep - 1 : sleep + 1 });
    const deadline = Date.now() + 20_000;
    while (mark() === before) {
      if (Date.now() > deadline) throw new Error('ksmd did not make its batch');
      await new Promise((r) => setTimeout(r, 2));
    }
    await this.untilSteady('pages_scanned', 50);
  }

  /** Launch the scripted fixture guest and wait until its mailbox is live. */
  async guest(options: { name?: string; node?: number; root?: boolean } = {}): Promise<ScriptedGuest> {
    const name = options.name ?? `g${++this.guestNo}`;
    const ready = this.waitForLine(name, (l) => l.startsWith('@ready '));
    const handle = this.host.launch(SCRIPTED_GUEST, { name, node: options.node, root: options.root });
    const line = await Promise.race([
      ready,
      handle.done.then((r) => Promise.reject(new Error(`guest ${name} ended before it was ready: ${r.error ?? r.status}`))),
    ]);
    const info = JSON.parse(line.slice('@ready '.length)) as { mailbox: number };
    return new ScriptedGuest(this, handle, name, info.mailbox);
  }

  /** Launch any program and keep its log lines. */
  launch(program: string, options: { name?: string; node?: number; root?: boolean; args?: string[] } = {}): GuestHandle {
    return this.host.launch(program, { ...options, name: options.name ?? `g${++this.guestNo}` });
  }

  /** Log lines (without the `[name] ` prefix) of one guest so far. */
  linesOf(name: string): string[] {
    const prefix = `[${name}] `;
    return this.lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
  }

  /** Resolve with the first line (without prefix) of guest `name` that matches, from now on. */
  waitForLine(name: string, match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      let set = this.listeners.get(name);
      if (!set) this.listeners.set(name, (set = new Set()));
      const timer = setTimeout(() => {
        set!.delete(listener);
        reject(new Error(`guest ${name} logged no matching line within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener: LogListener = (line) => {
        if (!match(line)) return;
        clearTimeout(timer);
        set!.delete(listener);
        resolve(line);
      };
      set.add(listener);
    });
  }

  async shutdown(): Promise<void> {
    await this.host.shutdown();
  }

  private route(line: string): void {
    this.lines.push(line);
    const m = /^\[([^\]]+)\] (.*)$/s.exec(line);
    if (!m) return;
    const set = this.listeners.get(m[1]!);
    if (set) for (const l of [...set]) l(m[2]!);
  }
}

export type Reply = Record<string, unknown> & { error?: string; code?: string };

/** A live fixture guest: send it commands, read its answers. */
export class ScriptedGuest {
  readonly handle: GuestHandle;
  readonly name: string;
  readonly mailbox: number;
  private readonly h: KsmHarness;
  private seq = 0;

  constructor(h: KsmHarness, handle: GuestHandle, name: string, mailbox: number) {
    this.h = h;
    this.handle = handle;
    this.name = name;
    this.mailbox = mailbox;
  }

  get pid(): number {
    return this.handle.pid;
  }

  /** Run a command; a command that threw in the guest rejects with its message and errno code. */
  async do(cmd: Record<string, unknown> & { op: string }, timeoutMs = 30_000): Promise<Reply> {
    const r = await this.try(cmd, timeoutMs);
    if (r.error !== undefined) throw Object.assign(new Error(`${this.name} ${cmd.op}: ${r.error}`), { code: r.code });
    return r;
  }

  /** Run a command; its error, if any, comes back as `{ error, code }`. */
  async try(cmd: Record<string, unknown> & { op: string }, timeoutMs = 30_000): Promise<Reply> {
    const seq = ++this.seq;
    const replied = this.h.waitForLine(this.name, (l) => l.startsWith(`@reply ${seq} `), timeoutMs);
    this.post(seq, JSON.stringify(cmd));
    const line = await Promise.race([
      replied,
      this.handle.done.then((r) => Promise.reject(new Error(`guest ${this.name} ended during ${cmd.op}: ${r.error ?? r.status}`))),
    ]);
    return JSON.parse(line.slice(`@reply ${seq} `.length)) as Reply;
  }

  /** Verify every page the guest wrote against its shadow copy; returns the number of mismatches. */
  async verify(region?: string): Promise<{ pages: number; mismatches: number; badPages: string[] }> {
    return (await this.do({ op: 'verify', region })) as unknown as { pages: number; mismatches: number; badPages: string[] };
  }

  /** /proc/self/ksm_stat of the guest, as it reads it. */
  async ksmStat(): Promise<{ raw: string; values: Record<string, number | string> }> {
    return (await this.do({ op: 'stat' })) as unknown as { raw: string; values: Record<string, number | string> };
  }

  /** Tell the guest to return `code`, and wait for its report. */
  async exit(code = 0): Promise<GuestReport> {
    await this.do({ op: 'exit', code });
    return this.handle.done;
  }

  /** Write a command into the guest's mailbox frame, sequence word last. */
  private post(seq: number, text: string): void {
    const mem = this.h.host.memory;
    const h = this.handle.handles;
    const ctl = new Int32Array(h.control);
    const vmas = readVmaTable(ctl, new Int32Array(h.vmaTable), VM_SHARED, []);
    const box = vmas.find((v) => v.start * 4096 === this.mailbox);
    if (!box) throw new Error(`guest ${this.name} has no mailbox area at 0x${this.mailbox.toString(16)}`);
    const pte = Atomics.load(new Int32Array(h.pageTable), box.start);
    if (!(pte & PTE_PRESENT)) throw new Error(`guest ${this.name}'s mailbox page is not present`);
    const f = pteFrame(pte);
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > MAILBOX_TEXT_MAX) throw new Error(`command too long (${bytes.length} bytes)`);
    const off = (f & BANK_MASK) << PAGE_SHIFT;
    mem.bankU8[f >>> BANK_SHIFT]!.set(bytes, off + MAILBOX_TEXT_OFFSET);
    const words = mem.bankI32[f >>> BANK_SHIFT]!;
    Atomics.store(words, (off >> 2) + 1, bytes.length);
    Atomics.store(words, off >> 2, seq);
  }
}
