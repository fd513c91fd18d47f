// html-report.test.ts — the `--html` page: self-contained (nothing to load), the four charts, escaping,
// optional sections, and degenerate inputs that must still render.
import { expect } from 'chai';
import { CHART_TITLES, renderDensityHtml } from '../../src/report/html-report.ts';
import { esc, formatTick, hBarChart, lineChart, niceTicks } from '../../src/report/svg-chart.ts';
import type { DensityResult } from '../../src/density/density-types.ts';
import { buildDensityResult } from '../fixtures/density-result.ts';

function count(haystack: string, needle: string | RegExp): number {
  return (haystack.match(needle instanceof RegExp ? new RegExp(needle.source, 'g' + needle.flags.replace('g', '')) : new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g')) ?? []).length;
}

/** The text of each <svg>…</svg> in the page. */
function svgs(html: string): string[] {
  return html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
}

describe('density HTML report', () => {
  const full = buildDensityResult({ capacity: true, numa: true });
  const html = renderDensityHtml(full);

  it('loads nothing: no URLs, scripts, external stylesheets, fonts or images', () => {
    expect(html).to.not.match(/https?:\/\//i);
    expect(html).to.not.match(/\b(src|href|xlink:href|srcset|action)\s*=/i);
    expect(html).to.not.match(/<(script|link|iframe|img|object|embed|base)\b/i);
    expect(html).to.not.match(/@import|url\(|@font-face/i);
    expect(html).to.match(/^<!DOCTYPE html>/);
    expect(html).to.contain('<meta charset="utf-8">');
    expect(html).to.contain('<style>');
  });

  it('has the four charts, each an inline SVG with its title and drawn data', () => {
    const charts = svgs(html);
    expect(charts).to.have.length(4);
    const titles = [CHART_TITLES.memory, CHART_TITLES.counters, CHART_TITLES.nodes, CHART_TITLES.guests];
    titles.forEach((t, i) => {
      expect(charts[i], t).to.contain(`<title id="`);
      expect(charts[i], t).to.contain(esc(t));
    });
    // Memory: two lines (without and with KSM); counters: four lines.
    expect(count(charts[0]!, '<polyline')).to.equal(2);
    expect(count(charts[1]!, '<polyline')).to.equal(4);
    for (const c of ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile']) expect(charts[1]).to.contain(`data-series="${c}"`);
    // Per node: two bars (without, with) for each of the two nodes; per guest: one bar a guest.
    expect(count(charts[2]!, 'class="bar"')).to.equal(4);
    expect(count(charts[3]!, 'class="bar"')).to.equal(full.per_guest.length);
  });

  it('labels the axes with units', () => {
    const [mem, ctr, nodes, guests] = svgs(html);
    expect(mem).to.contain('(s)').and.match(/memory used \((MiB|GiB)\)/);
    expect(ctr).to.contain('pages (4 KiB)');
    expect(nodes).to.match(/memory used \((MiB|GiB)\)/);
    expect(guests).to.match(/profit \((KiB|MiB|GiB)\)/);
  });

  it('states the headline numbers', () => {
    expect(html).to.contain('Memory without KSM').and.contain('Memory with KSM').and.contain('Saved');
    expect(html).to.contain('Density gain').and.contain(`${full.density_gain!.toFixed(2)}×`);
    expect(html).to.contain('Converged after').and.contain('ksmd CPU');
    expect(html).to.contain('idle×12, web×8 (size=96MiB), db×2');
    expect(html).to.not.contain('NaN').and.not.contain('undefined').and.not.contain('Infinity');
  });

  it('has the capacity, NUMA trade-off and knobs tables', () => {
    expect(html).to.contain('<h2>Capacity</h2>').and.contain('<h2>NUMA trade-off</h2>').and.contain('<h2>Knobs</h2>');
    expect(html).to.contain('pages_to_scan').and.contain('1 (merge across nodes)').and.contain('0 (merge per node)');
  });

  it('says why each capacity run stopped, and where the cap came from', () => {
    expect(html).to.contain('stopped (KSM off)').and.contain('oom: idle.').and.contain('stopped (KSM on)');
    expect(html).to.contain('guest cap').and.contain('the 512-guest ceiling');
  });

  it('prints a gain whose KSM-on run hit the cap as "≥ N×", with max-guests', () => {
    const capped = buildDensityResult({ capacity: true, capacityCap: 40 });
    const page = renderDensityHtml(capped);
    expect(page).to.contain(`≥ ${capped.capacity!.density_gain!.toFixed(2)}×`).and.contain('max-guests: reached the cap of 40 guests');
  });

  it('leaves out capacity and NUMA when the run had neither', () => {
    const plain = renderDensityHtml(buildDensityResult());
    expect(plain).to.not.contain('Capacity</h2>').and.not.contain('NUMA trade-off').and.not.contain('Density gain');
    expect(svgs(plain)).to.have.length(4);
  });

  it('escapes every text it puts in the page', () => {
    const evil = '<script>alert("x")</script>';
    const r = buildDensityResult({
      firstGuestName: evil,
      fleet: [{ workload: 'idle', count: 3, args: ['note=a&b<i>'] }, { workload: 'we"b', count: 2, args: [] }],
    });
    const page = renderDensityHtml({ ...r, knobs: { ...r.knobs, '<b>knob</b>': '"\'&' } });
    expect(page).to.not.contain('<script').and.not.contain('<i>').and.not.contain('<b>');
    expect(page).to.contain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).to.contain('note=a&amp;b&lt;i&gt;').and.contain('we&quot;b').and.contain('&quot;&#39;&amp;');
  });

  it('says "not yet" when the saving never converged', () => {
    const page = renderDensityHtml({ ...full, converge_seconds: null });
    expect(page).to.contain('not yet').and.contain('had not settled');
  });

  it('renders an empty run without throwing', () => {
    const empty: DensityResult = {
      ...buildDensityResult({ fleet: [] }),
      series: { without_ksm: [], with_ksm: [] },
      per_guest: [],
    };
    const page = renderDensityHtml(empty);
    expect(svgs(page)).to.have.length(4);
    expect(page).to.contain('no samples').and.not.contain('NaN');
  });

  it('caps the guest bars on a large fleet and says how many are left out', () => {
    const big = buildDensityResult({ fleet: [{ workload: 'idle', count: 70, args: [] }, { workload: 'web', count: 30, args: [] }], duration: 5 });
    const chart = svgs(renderDensityHtml(big))[3]!;
    expect(count(chart, 'class="bar"')).to.equal(40);
    expect(chart).to.contain('60 guests in the middle not drawn');
  });
});

describe('svg charts', () => {
  it('picks round tick steps', () => {
    expect(niceTicks(0, 1900, 5)).to.deep.equal({ ticks: [0, 500, 1000, 1500, 2000], step: 500 });
    expect(niceTicks(0, 30, 8).step).to.equal(5);
    expect(niceTicks(0, 0, 5).ticks).to.deep.equal([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(formatTick(250000, 50000, 250000)).to.equal('250k');
    expect(formatTick(2.5, 2.5, 10)).to.equal('2.5');
    expect(formatTick(0.25, 0.25, 1)).to.equal('0.25');
  });

  it('thins long series to about the plot width', () => {
    const points = Array.from({ length: 50_000 }, (_, i) => [i / 100, Math.sin(i / 500)] as const);
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', color: '#000', points }] });
    const pts = /points="([^"]*)"/.exec(svg)![1]!.split(' ');
    expect(pts.length).to.be.lessThan(4 * 600);
  });

  it('draws negative bars left of zero', () => {
    const svg = hBarChart({ title: 't', xLabel: 'x', bars: [{ label: 'a', value: -5, color: '#000' }, { label: 'b', value: 10, color: '#000' }] });
    expect(svg).to.contain('>-5<').and.contain('>10<');
  });
});

describe('svg line chart markers', () => {
  it('draws a labelled dotted line per marker and stacks labels that would collide', () => {
    const svg = lineChart({
      title: 't', xLabel: 'x', yLabel: 'y',
      series: [{ name: 's', color: '#000', points: [[0, 0], [10, 5]] }],
      markers: [{ x: 2, label: 'fleet up' }, { x: 2.2, label: 'converged' }, { x: 99, label: 'off the axis' }],
    });
    expect(svg.match(/class="marker"/g)).to.have.length(2);
    const ys = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)"[^>]*font-size="11"[^>]*>(fleet up|converged)</g)].map((m) => Number(m[1]));
    expect(ys).to.have.length(2);
    expect(ys[0]).to.not.equal(ys[1]);
  });
});
