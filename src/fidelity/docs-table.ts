// docs-table.ts — owns the fidelity table of docs/fidelity.md: rendered from the committed JSON of the
// latest run (docs/data/fidelity.json) and written between two markers, so the page can never show
// figures the record does not hold.

import { describeDifference, resultWord } from './report.ts';
import type { RecordedRun } from './recorded.ts';
import { projectPath } from '../platform/project-root.ts';

export const FIDELITY_DOC = projectPath('docs', 'fidelity.md');
export const TABLE_BEGIN = '<!-- BEGIN fidelity-table: generated from docs/data/fidelity.json by `ksmsim fidelity --from docs/data/fidelity.json --write-table docs/fidelity.md`; do not edit by hand -->';
export const TABLE_END = '<!-- END fidelity-table -->';

/** The Markdown block: the run's date, kernel and starting knobs, the summary, then one row per scenario. */
export function renderFidelityTable(run: RecordedRun): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const n = run.scenarios.length;
  const agreed = run.scenarios.filter((s) => s.agree).length;
  const failed = run.scenarios.filter((s) => !s.passed).length;
  const checkpoints = run.scenarios.reduce((a, s) => a + s.checkpoints, 0);
  const out = [
    `Latest run: ${run.date.slice(0, 10)}, Linux ${run.kernel}. **${agreed}/${n} scenarios agree** checkpoint by checkpoint (${checkpoints} checkpoints in all); ${n - agreed - failed} deviate only as documented; ${failed} differ.`,
  ];
  const before = run.nonDefaultKnobsBefore ?? {};
  if (Object.keys(before).length) {
    const knobs = Object.entries(before).map(([k, v]) => `\`${k}=${v}\``).join(', ');
    out.push('', `The machine's knobs were left at non-default values before the run (each scenario still started from the kernel's defaults, and these values were restored afterwards): ${knobs}.`);
  }
  out.push('', '| scenario | what it shows | checkpoints | result | differences |', '|---|---|---:|---|---|');
  for (const s of run.scenarios) {
    out.push(`| ${s.name} | ${esc(s.description)} | ${s.checkpoints} | ${resultWord(s)} | ${esc(s.differences.map(describeDifference).join('; '))} |`);
  }
  return out;
}

/** `doc` with the lines between TABLE_BEGIN and TABLE_END replaced by `lines`; throws when a marker is missing. */
export function replaceTable(doc: string, lines: readonly string[]): string {
  const begin = doc.indexOf(TABLE_BEGIN);
  const end = doc.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`the fidelity page has no table markers (${TABLE_BEGIN.slice(0, 28)}… / ${TABLE_END})`);
  return `${doc.slice(0, begin + TABLE_BEGIN.length)}\n${lines.join('\n')}\n${doc.slice(end)}`;
}

/** The lines currently between the markers (for the test that the page matches the JSON). */
export function tableIn(doc: string): string[] {
  const begin = doc.indexOf(TABLE_BEGIN);
  const end = doc.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error('the fidelity page has no table markers');
  return doc.slice(begin + TABLE_BEGIN.length, end).replace(/^\n/, '').replace(/\n$/, '').split('\n');
}
