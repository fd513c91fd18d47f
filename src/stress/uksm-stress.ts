// uksm-stress.ts — owns the UKSM concurrency check: guests on their own worker threads churn
// memory drawn from shared contents (guests/stress/engine-churn.ts) and check every byte against a
// shadow, while UKSM's scanner merges on the host thread at a fast setting; after they exit, every
// frame must be free again (nothing leaked, nothing freed twice).

import { Host } from '../host/host.ts';
import { projectPath } from '../platform/project-root.ts';
import { mixSeed } from '../platform/prng.ts';

const GUEST = projectPath('guests', 'stress', 'engine-churn.ts');

export interface UksmStressOptions {
  readonly guests: number;
  readonly seconds: number;
  readonly seed: number;
  readonly pages?: number;
  readonly contents?: number;
}

export interface UksmStressReport {
  readonly seed: number;
  readonly guests: number;
  readonly ops: number;
  readonly full_scans: number;
  readonly pages_scanned: number;
  readonly max_pages_sharing: number;
  readonly ksm_zero_pages_max: number;
  readonly violations: string[];
  readonly guest_failures: string[];
  readonly leaked_frames: number;
  readonly ok: boolean;
}

export async function runUksmStress(o: UksmStressOptions): Promise<UksmStressReport> {
  const lines: string[] = [];
  const host = await Host.start({ memoryBytes: 64 * 2 ** 20, engine: 'uksm', onLog: (l) => lines.push(l) });
  let maxSharing = 0;
  let maxZero = 0;
  try {
    await host.writeFile('/sys/kernel/mm/uksm/sleep_millisecs', '1');
    await host.writeFile('/sys/kernel/mm/uksm/max_cpu_percentage', '99');
    // Every rung at the full share: the scanner runs flat out on every area, whatever rung it is on.
    await host.writeFile('/sys/kernel/mm/uksm/cpu_ratios', 'MAX/1 MAX/1 MAX/1 MAX/1');
    const usable = host.memory.nodes.reduce((n, _, i) => n + host.memory.usableFrames(i), 0);
    const args = (i: number) => [mixSeed(o.seed, i), o.pages ?? 64, o.contents ?? 4, o.seed, Math.round(o.seconds * 1000)].map(String);
    const handles = Array.from({ length: o.guests }, (_, i) => host.launch(GUEST, { args: args(i), name: `churn.${i}` }));
    const timer = setInterval(() => {
      maxSharing = Math.max(maxSharing, Number(host.readFile('/sys/kernel/mm/uksm/pages_sharing')));
      maxZero = Math.max(maxZero, host.ksm.get('ksm_zero_pages'));
    }, 20);
    const reports = await Promise.all(handles.map((h) => h.done));
    clearInterval(timer);
    // Every guest is gone: the scanner's queued frees may go now; then every frame must be free.
    host.engine.stop?.();
    host.engine.drain?.();
    const leaked = usable - host.memory.freeFrames();
    const violations = lines.filter((l) => l.includes('@violation')).slice(0, 100);
    const failures = reports.filter((r) => r.status !== 'exited').map((r) => `${r.name}: ${r.status} ${r.error ?? ''}`);
    const ops = lines.map((l) => /\] ops (\d+)$/.exec(l)).reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
    return {
      seed: o.seed, guests: o.guests, ops,
      full_scans: Number(host.readFile('/sys/kernel/mm/uksm/full_scans')),
      pages_scanned: Number(host.readFile('/sys/kernel/mm/uksm/pages_scanned')),
      max_pages_sharing: maxSharing, ksm_zero_pages_max: maxZero,
      violations, guest_failures: failures, leaked_frames: leaked,
      ok: violations.length === 0 && failures.length === 0 && leaked === 0,
    };
  } finally {
    await host.shutdown();
  }
}
