// comparison-html.test.ts — the `--backend both --html` page: both backends' series on the same
// charts, the comparison table (emulator, kernel, ratio), and a page that still renders when the
// kernel half did not run; the single-backend page names its backend.
import { expect } from 'chai';
import { compareDensity, type DensityBothResult } from '../../src/density/density-compare.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { COMPARISON_CHART_TITLES, renderComparisonHtml } from '../../src/report/comparison-html.ts';
import { renderDensityHtml } from '../../src/report/html-report.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';

function svgs(html: string): string[] {
  return html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
}

describe('density comparison HTML report', () => {
  const emulator = buildDensityResult();
  const linux: DensityResult = { ...buildDensityResult({ tau: 3 }), backend: 'linux' };
  const both: DensityBothResult = { emulator, linux, comparison: compareDensity(emulator, linux) };
  const html = renderComparisonHtml(both);

  it('loads nothing: no URLs, scripts or external resources', () => {
    expect(html).to.match(/^<!DOCTYPE html>/);
    expect(html).to.not.match(/https?:\/\/|<script|<link|<img/i);
  });

  it('draws the emulator and the kernel on the same charts', () => {
    const charts = svgs(html);
    expect(charts).to.have.length(3);
    for (const title of Object.values(COMPARISON_CHART_TITLES)) expect(html).to.contain(title);
    const memory = charts.find((c) => c.includes(COMPARISON_CHART_TITLES.memory))!;
    for (const name of ['emulator, without KSM', 'emulator, with KSM', 'kernel, without KSM', 'kernel, with KSM']) expect(memory).to.contain(name);
    const counters = charts.find((c) => c.includes(COMPARISON_CHART_TITLES.counters))!;
    for (const name of ['emulator pages_sharing', 'kernel pages_sharing', 'emulator pages_shared', 'kernel pages_shared']) expect(counters).to.contain(name);
  });

  it('tabulates every compared figure as emulator, kernel and ratio', () => {
    for (const k of ['memory_without_ksm_bytes', 'memory_with_ksm_bytes', 'saved_bytes', 'pages_shared', 'pages_sharing', 'converge_seconds', 'converge_full_scans', 'ksmd_cpu_seconds']) {
      expect(html).to.contain(`<code>${k}</code>`);
    }
    expect(html).to.match(/<th class="num">ratio<\/th>/);
  });

  it('still renders the emulator half, and says why, when the kernel half did not run', () => {
    const page = renderComparisonHtml({ emulator, linux: null, comparison: null, linux_error: 'the linux backend is not available here: not root' });
    expect(page).to.contain('not run — the linux backend is not available here: not root');
    expect(svgs(page)).to.have.length(3);
    expect(page).to.not.contain('kernel, with KSM');
  });

  it('names the backend on the single-backend page', () => {
    expect(renderDensityHtml(emulator)).to.contain('KSM density report — the emulator');
    expect(renderDensityHtml(linux)).to.contain('KSM density report — the real kernel').and.contain('--backend linux');
  });
});
