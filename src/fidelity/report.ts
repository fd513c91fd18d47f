// report.ts — owns how a fidelity run is shown: a text table (scenario, checkpoints, result,
// differences) and the JSON document.

import type { Difference } from './compare.ts';
import type { FidelityResult } from './run-fidelity.ts';

export function resultWord(r: Pick<FidelityResult, 'agree' | 'passed'>): string {
  return r.agree ? 'agree' : r.passed ? 'deviates (documented)' : 'DIFFER';
}

export function describeDifference(d: Difference): string {
  const show = (v: string | undefined): string => (v === undefined ? '(missing)' : v);
  return `${d.checkpoint}: emulator ${show(d.emulator)}, linux ${show(d.linux)}${d.deviation ? ' [documented]' : ''}`;
}

/** A plain-text table, one row per scenario, every difference on its own line below it. */
export function fidelityTable(results: readonly FidelityResult[]): string[] {
  const rows = results.map((r) => [r.name, String(r.checkpoints), resultWord(r), r.differences.length ? describeDifference(r.differences[0]!) : '']);
  const head = ['scenario', 'checkpoints', 'result', 'differences'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i < 3 ? row[i]!.length : 0))));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(width[i]!) : c)).join('  ').trimEnd();
  const out = [line(head), line(head.map((h, i) => '-'.repeat(i < 3 ? width[i]! : h.length)))];
  results.forEach((r, i) => {
    out.push(line(rows[i]!));
    for (const d of r.differences.slice(1)) out.push(line(['', '', '', describeDifference(d)]));
  });
  const failed = results.filter((r) => !r.passed).length;
  const agreed = results.filter((r) => r.agree).length;
  out.push('', `${results.length} scenarios: ${agreed} agree, ${results.length - agreed - failed} deviate only as documented, ${failed} differ`);
  return out;
}

/** The same as a Markdown table (for docs/fidelity.md). */
export function fidelityMarkdown(results: readonly FidelityResult[]): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = ['| scenario | checkpoints | result | differences |', '|---|---:|---|---|'];
  for (const r of results) out.push(`| ${r.name} | ${r.checkpoints} | ${resultWord(r)} | ${esc(r.differences.map(describeDifference).join('; '))} |`);
  return out;
}

export function fidelityJson(results: readonly FidelityResult[], meta: Record<string, unknown>): string {
  return JSON.stringify({
    ...meta,
    scenarios: results.map((r) => ({
      name: r.name,
      description: r.description,
      agree: r.agree,
      passed: r.passed,
      checkpoints: r.checkpoints,
      differences: r.differences,
      seconds: r.seconds,
      kernelCheckpoints: r.kernelCheckpoints ?? {},
    })),
  }, null, 2) + '\n';
}
