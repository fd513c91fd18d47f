// text-formats.ts — owns how control replies print as text, in the formats of the tools they mimic:
// virsh list and node-memory-tune, `grep . /sys/kernel/mm/ksm/*`, and /proc/meminfo.

import { KSM_DIR } from '../ksm/sysfs.ts';
import type { GuestInfo } from './protocol.ts';

/** virsh's table (vshTable): a leading space, columns three spaces apart, a dashed rule under the header. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => (' ' + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ')).trimEnd();
  const head = line(header);
  const ruleWidth = widths.reduce((n, w) => n + w, 0) + 3 * (widths.length - 1) + 2;
  return [head, '-'.repeat(Math.max(head.length + 1, ruleWidth)), ...rows.map(line)];
}

/** `virsh list` with the KSM columns: id, name, state, node, RSS, ksm_merging_pages, ksm_process_profit. */
export function formatList(guests: readonly GuestInfo[]): string[] {
  const withError = guests.some((g) => g.error);
  const header = ['Id', 'Name', 'State', 'Node', 'RSS (KiB)', 'ksm_merging_pages', 'ksm_process_profit', ...(withError ? ['Error'] : [])];
  const rows = guests.map((g) => [
    String(g.id), g.name, g.state, String(g.node), String(Math.round(g.residentBytes / 1024)),
    String(g.ksmStat.ksm_merging_pages ?? 0), String(g.ksmStat.ksm_process_profit ?? 0), ...(withError ? [g.error ?? ''] : []),
  ]);
  return table(header, rows);
}

/** `grep . /sys/kernel/mm/ksm/*` (or the engine's directory): path:value, in the glob's (sorted) order. */
export function formatSysfs(files: Record<string, string>, only?: (name: string) => boolean, dir: string = KSM_DIR): string[] {
  return Object.keys(files).sort().filter((n) => !only || only(n)).map((n) => `${dir}${n}:${files[n]}`);
}

/** /proc/meminfo lines: show_val_kb()'s "%s%8lu kB" with the name and colon padded to 16 columns. */
export function formatMeminfo(kb: Record<string, number>): string[] {
  return Object.entries(kb).map(([k, v]) => `${(k + ':').padEnd(16)}${String(v).padStart(8)} kB`);
}

/** virsh node-memory-tune with no options: "Shared memory:" then "\t%-15s %s" per parameter. */
export function formatNodeMemoryTune(params: Record<string, number>): string[] {
  return ['Shared memory:', ...Object.entries(params).map(([k, v]) => `\t${k.padEnd(15)} ${v}`)];
}
