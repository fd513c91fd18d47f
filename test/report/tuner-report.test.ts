// tuner-report.test.ts — the `density --tuner` table and page: one row per tuner with its final and
// mean saving, time to 95 %, ksmd CPU and last knobs; four charts with the schedule marked.
import { expect } from 'chai';
import type { TunerComparison, TunerRun, TunerSample } from '../../src/density/tuner-run.ts';
import { renderTunerHtml, TUNER_CHART_TITLES, tunerMarkdown, tunerText } from '../../src/report/tuner-report.ts';

function sample(t: number, savedMiB: number, run: number, pages: number, sleep: number, cpu: number | null): TunerSample {
  return {
    t, guests: 4, memory_used_bytes: 64 * 2 ** 20, saved_bytes: savedMiB * 2 ** 20, pages_shared: 10, pages_sharing: savedMiB * 256,
    full_scans: 3, run, pages_to_scan: pages, sleep_millisecs: sleep, ksmd_cpu_seconds: cpu,
  };
}

function run(tuner: TunerRun['tuner'], series: TunerSample[], t95: number | null, cpu: number | null): TunerRun {
  return {
    tuner, label: tuner, conf: null, knobs_at_start: {}, fleet_up_seconds: 2, events: [{ t: 5, event: 'start web:2' }], series,
    final_saved_bytes: series.at(-1)!.saved_bytes, mean_saved_bytes: 3 * 2 ** 20, ksmd_cpu_seconds: cpu, time_to_95_seconds: t95, seconds: 12,
  };
}

const COMPARISON: TunerComparison = {
  fleet: [{ workload: 'os-image', count: 4, args: [] }],
  schedule: [{ at: 5, event: 'start web:2' }],
  host: { memory_bytes: 64 * 2 ** 20, numa_nodes: 1 },
  run_seconds: 10,
  runs: [
    run('fixed', [sample(0, 0, 1, 4000, 10, 0), sample(10, 8, 1, 4000, 10, 0.5)], 1.5, 0.5),
    run('ksmtuned', [sample(0, 0, 0, 100, 20, 0), sample(10, 0, 0, 300, 3413, 0.01)], null, 0.01),
  ],
};

describe('density --tuner report', () => {
  it('has one table row per tuner: saving at end, mean, time to 95 %, ksmd CPU, knobs at end', () => {
    const lines = tunerText(COMPARISON);
    expect(lines).to.have.length(3);
    expect(lines[1]).to.match(/^fixed\s+8\.0 MiB\s+3\.0 MiB\s+1\.5 s\s+0\.50 s\s+run=1 pages_to_scan=4000 sleep_millisecs=10$/);
    expect(lines[2]).to.match(/^ksmtuned\s+0 B\s+3\.0 MiB\s+never\s+0\.01 s\s+run=0 pages_to_scan=300 sleep_millisecs=3413$/);
    expect(tunerMarkdown(COMPARISON).split('\n')[2]).to.equal('| fixed | 8.0 MiB | 3.0 MiB | 1.5 s | 0.50 s | `run=1 pages_to_scan=4000 sleep_millisecs=10` |');
  });

  it('draws the four charts, each with every tuner and the schedule marked', () => {
    const html = renderTunerHtml(COMPARISON);
    for (const title of Object.values(TUNER_CHART_TITLES)) expect(html).to.contain(`<title id="`).and.to.contain(title);
    expect(html.match(/<svg /g)).to.have.length(4);
    expect(html.match(/start web:2/g)!.length).to.be.at.least(4);
    expect(html).to.not.match(/<script|https?:\/\//);
  });
});
