// fleet-schedule.test.ts — a fleet that changes over time: `at:` entries in a fleet file start or
// destroy guests; times take s/m/ms; errors name the file and entry.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAt, readFleetPlan } from '../../src/density/fleet-schedule.ts';
import { readFleetFile } from '../../src/density/fleet-spec.ts';
import { parseTuner } from '../../src/density/tuner-run.ts';

describe('fleet schedule', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'fleet-schedule-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads at: entries mixed into a fleet list, in time order, and leaves them out of the starting fleet', () => {
    const p = file('mixed.yaml', '- {workload: os-image, count: 4}\n- at: 90s\n  destroy: web\n- at: 30s\n  start: web:4\n');
    const plan = readFleetPlan(p);
    expect(plan.fleet).to.deep.equal([{ workload: 'os-image', count: 4, args: [] }]);
    expect(readFleetFile(p)).to.deep.equal(plan.fleet);
    expect(plan.schedule).to.deep.equal([
      { at: 30, start: [{ workload: 'web', count: 4, args: [] }] },
      { at: 90, destroy: { workload: 'web', count: undefined } },
    ]);
  });

  it('reads {fleet, schedule} with arguments on started guests and a count on destroy', () => {
    const p = file('obj.yaml', 'fleet:\n  - {workload: idle, count: 2}\nschedule:\n  - {at: 1m, start: "web:2:size=16MiB"}\n  - {at: 1m30s, destroy: "web:1"}\n');
    expect(readFleetPlan(p).schedule).to.deep.equal([
      { at: 60, start: [{ workload: 'web', count: 2, args: ['size=16MiB'] }] },
      { at: 90, destroy: { workload: 'web', count: 1 } },
    ]);
  });

  it('takes times as seconds, with ms, s, m and h', () => {
    expect([parseAt(30, 'x'), parseAt('30s', 'x'), parseAt('500ms', 'x'), parseAt('2m30s', 'x'), parseAt('1.5', 'x')]).to.deep.equal([30, 30, 0.5, 150, 1.5]);
  });

  it('names the file and entry of a bad schedule entry', () => {
    expect(() => readFleetPlan(file('a.yaml', '- {workload: idle}\n- {at: soon, start: web}\n'))).to.throw(/a\.yaml: entry 1: bad time "soon"/);
    expect(() => readFleetPlan(file('b.yaml', 'fleet: [{workload: idle}]\nschedule: [{at: 5s}]\n'))).to.throw(/b\.yaml: schedule entry 0: give one of start: or destroy:/);
    expect(() => readFleetPlan(file('c.yaml', 'fleet: [{workload: idle}]\nschedule: [{at: 5s, start: "web:0"}]\n'))).to.throw(/c\.yaml: schedule entry 0: start: bad guest count/);
    expect(() => readFleetPlan(file('d.yaml', 'fleet: [{workload: idle}]\nschedule: [{at: 5s, destroy: "web:x"}]\n'))).to.throw(/d\.yaml: schedule entry 0: destroy: expected WORKLOAD or WORKLOAD:COUNT/);
  });

  it('parses --tuner: the three names, ksmtuned with a conf, and all', () => {
    expect(parseTuner('all').map((t) => t.name)).to.deep.equal(['fixed', 'ksmtuned', 'advisor']);
    expect(parseTuner('ksmtuned=/etc/ksmtuned.conf')).to.deep.equal([{ name: 'ksmtuned', conf: '/etc/ksmtuned.conf' }]);
    expect(() => parseTuner('fixed=x')).to.throw(/only ksmtuned takes a file/);
    expect(() => parseTuner('tuned')).to.throw(/expected fixed, ksmtuned\[=CONF\], advisor or all/);
  });
});
