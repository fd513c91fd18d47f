// ksm-service.ts — owns the `ksm` service (ksmctl, run once by ksm.service): start lifts the 2.6.32
// sharing limit where the kernel has max_kernel_pages (KSM_MAX_KERNEL_PAGES from /etc/sysconfig/ksm,
// or half of physical pages) and sets run=1; stop sets run=0 (merged pages stay merged); status.

import { readFileSync } from 'node:fs';
import { parseShellAssignments } from './shell-conf.ts';
import type { TunedHost } from './tuned-host.ts';

const LLONG_MAX = 2n ** 63n - 1n;

/**
 * strtoll(var, &end, 0) accepted only if nothing follows the number and value < LLONG_MAX, with the
 * result as ksmctl's uint64_t (a negative number wraps to a huge one and fails the check); undefined
 * means "use the default", as ksmctl falls through to it.
 */
export function ksmctlMaxKernelPagesVar(text: string | undefined): bigint | undefined {
  if (!text) return undefined;
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const d = m[2]!;
  let v = /^0[xX]/.test(d) ? BigInt(d) : d.length > 1 && d[0] === '0' ? BigInt(`0o${d.slice(1)}`) : BigInt(d);
  if (v > LLONG_MAX) v = LLONG_MAX; // strtoll saturates (ERANGE)
  if (m[1] === '-' && v !== 0n) v = 2n ** 64n - v; // the uint64_t ksmctl stores it in
  return v < LLONG_MAX ? v : undefined;
}

/** What ksmctl start writes to max_kernel_pages on a host with `physPages` pages. */
export function ksmctlMaxKernelPages(sysconfig: Readonly<Record<string, string>>, physPages: number): bigint {
  return ksmctlMaxKernelPagesVar(sysconfig.KSM_MAX_KERNEL_PAGES) ?? BigInt(Math.floor(physPages / 2));
}

/** /etc/sysconfig/ksm as the unit's EnvironmentFile: KEY=value lines (errors name the line). */
export function readKsmSysconfig(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`ksm: cannot read ${path}: ${(e as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const a of parseShellAssignments(text, path)) out[a.key] = a.value;
  return out;
}

export interface KsmServiceStatus {
  /** ksm.service is oneshot with RemainAfterExit: active (exited) after start, inactive after stop. */
  readonly active: boolean;
  readonly run: string;
  /** Present only where the kernel has the file (2.6.32). */
  readonly max_kernel_pages?: string;
}

export class KsmService {
  private active = false;

  constructor(private readonly host: TunedHost, private readonly sysconfig: Readonly<Record<string, string>> = {}) {}

  /**
   * ksmctl start. Its write of max_kernel_pages is not checked (start's exit code is run's), so a
   * value the kernel refuses is reported in `warnings` and start goes on, as ksmctl does.
   */
  async start(): Promise<{ warnings: string[] }> {
    const warnings: string[] = [];
    if (this.host.hasKnob('max_kernel_pages')) {
      const v = ksmctlMaxKernelPages(this.sysconfig, this.host.physPages());
      try {
        await this.host.writeKnob('max_kernel_pages', v.toString());
      } catch (e) {
        warnings.push(`max_kernel_pages=${v}: ${(e as Error).message}`);
      }
    }
    await this.host.writeKnob('run', '1');
    this.active = true;
    return { warnings };
  }

  /** ksmctl stop: run=0 — ksmd stops, the pages it merged stay merged. */
  async stop(): Promise<void> {
    await this.host.writeKnob('run', '0');
    this.active = false;
  }

  status(): KsmServiceStatus {
    const base = { active: this.active, run: this.host.readKnob('run') };
    return this.host.hasKnob('max_kernel_pages') ? { ...base, max_kernel_pages: this.host.readKnob('max_kernel_pages') } : base;
  }
}
