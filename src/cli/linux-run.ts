// linux-run.ts — owns `ksmsim run --backend linux`: the same guest programs as real processes on
// the real kernel, the --ksm knobs written to /sys/kernel/mm/ksm inside the knob guard (restored
// afterwards, also on failure or Ctrl-C), the real counters sampled while they run, and the report.

import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { linuxBackendAvailable } from '../backend/linux/availability.ts';
import { readRealFile, writeRealFile } from '../backend/linux/real-files.ts';
import { startLinuxGuest, type LinuxGuestProcess } from '../backend/linux/run-linux-guest.ts';
import { withKnobGuard } from '../backend/linux/knob-guard.ts';
import { KSM_DIR, ksmFileNames } from '../ksm/sysfs.ts';
import type { GuestPlan } from './host-session.ts';

export interface LinuxRunFlags {
  readonly ksm: ReadonlyArray<readonly [string, string]>;
  readonly json?: string;
}

export interface LinuxGuestSummary {
  readonly name: string;
  readonly pid: number;
  readonly status: 'exited' | 'failed';
  readonly exitCode: number;
  readonly error?: string;
  readonly seconds: number;
}

export interface LinuxSessionResult {
  readonly backend: 'linux';
  readonly kernel: string;
  readonly knobs: Record<string, string>;
  readonly guests: LinuxGuestSummary[];
  /** The real counters when pages_sharing peaked while the guests ran. */
  readonly peak: { atSeconds: number; counters: Record<string, number> };
  /** Every /sys/kernel/mm/ksm file after the guests ended, before the knobs were restored. */
  readonly final: { ksm: Record<string, string> };
  readonly seconds: number;
}

/** How long to wait for another linux-backend run (e.g. a test suite) to release the knobs. */
const LOCK_WAIT_MS = 60_000;

const COUNTERS = ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit', 'full_scans'];

/** Throws the reason when the linux backend cannot run here. */
export function requireLinuxBackend(): void {
  const a = linuxBackendAvailable();
  if (!a.ok) throw new Error(`--backend linux is not available here: ${a.reason}`);
}

export async function runLinuxSession(plans: readonly GuestPlan[], flags: LinuxRunFlags, out: (s: string) => void): Promise<LinuxSessionResult> {
  requireLinuxBackend();
  const started = performance.now();
  const running: LinuxGuestProcess[] = [];
  return withKnobGuard(async () => {
    for (const [key, value] of flags.ksm) {
      try {
        writeRealFile(KSM_DIR + key, value);
      } catch (e) {
        throw new Error(`--ksm ${key}=${value}: ${(e as Error).message}`);
      }
    }
    const knobs: Record<string, string> = {};
    for (const [k] of flags.ksm) knobs[k] = readRealFile(KSM_DIR + k).trim();
    for (const plan of plans) {
      const base = plan.program.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '');
      for (let i = 0; i < plan.count; i++) {
        running.push(startLinuxGuest({ program: plan.program, name: plan.count > 1 ? `${base}.${i}` : base, args: plan.args, root: plan.root }, { onLog: out }));
      }
    }
    let peak = { atSeconds: 0, counters: readCounters() };
    const timer = setInterval(() => {
      const c = readCounters();
      if ((c.pages_sharing ?? 0) > (peak.counters.pages_sharing ?? 0)) peak = { atSeconds: (performance.now() - started) / 1000, counters: c };
    }, 25);
    const results = await Promise.all(running.map((g) => g.done)).finally(() => clearInterval(timer));
    const final: Record<string, string> = {};
    for (const name of ksmFileNames()) final[name] = readRealFile(KSM_DIR + name).trimEnd();
    return {
      backend: 'linux' as const,
      kernel: release(),
      knobs,
      guests: results.map((r) => ({
        name: r.name, pid: r.pid, status: r.exitCode === 0 ? 'exited' as const : 'failed' as const, exitCode: r.exitCode, ...(r.error ? { error: r.error } : {}), seconds: r.seconds,
      })),
      peak,
      final: { ksm: final },
      seconds: (performance.now() - started) / 1000,
    };
  }, { beforeRestore: () => running.forEach((g) => g.kill()), waitMs: LOCK_WAIT_MS });
}

function readCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of COUNTERS) out[c] = Number(readRealFile(KSM_DIR + c).trim());
  return out;
}

export function describeLinuxSession(r: LinuxSessionResult): string[] {
  const lines: string[] = [];
  for (const g of r.guests) lines.push(`guest ${g.name} (pid ${g.pid}, linux ${r.kernel}): ${g.status === 'exited' ? 'ok' : `FAILED${g.error ? `: ${g.error}` : ''}`} in ${g.seconds.toFixed(2)} s`);
  const c = r.peak.counters;
  lines.push(`real KSM at peak sharing (t=${r.peak.atSeconds.toFixed(2)} s): pages_shared ${c.pages_shared}, pages_sharing ${c.pages_sharing}, pages_unshared ${c.pages_unshared}, pages_volatile ${c.pages_volatile}, ksm_zero_pages ${c.ksm_zero_pages}, general_profit ${c.general_profit}`);
  lines.push(`after all guests exited: full_scans ${r.final.ksm.full_scans}, pages_scanned ${r.final.ksm.pages_scanned}; the KSM knobs were restored`);
  return lines;
}

/** `ksmsim run --backend linux`: returns the exit status (non-zero when a guest failed, naming it). */
export async function runLinuxCommand(plans: readonly GuestPlan[], flags: LinuxRunFlags, out: (s: string) => void): Promise<number> {
  const result = await runLinuxSession(plans, flags, out);
  if (flags.json) writeFileSync(flags.json, JSON.stringify(result, null, 2) + '\n');
  else for (const line of describeLinuxSession(result)) out(line);
  const failed = result.guests.filter((g) => g.status !== 'exited');
  for (const g of failed) process.stderr.write(`ksmsim: guest ${g.name} (pid ${g.pid}) failed: ${g.error ?? ''}\n`);
  return failed.length ? 1 : 0;
}
