// workload-args.test.ts — the key=value parser of the workload guests: defaults, sizes, forms,
// fractions, durations, and errors that name the key and the value; the page split; the content
// generator is deterministic and never repeats a page by accident.
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import {
  HOLD_DEFAULT_MS, duration, flag, fraction, int, num, parseBytes, parseDurationMs, parseWorkloadArgs, splitPages, str,
} from '../../src/workloads/workload-args.ts';
import { WORKLOAD_NAMES, workloadPath } from '../../src/workloads/workload-catalog.ts';
import { fillWords, mix } from '../../guests/workloads/workload-kit.ts';

const SPEC = {
  rate: num(10, 'rate'),
  zero: fraction(0.5, 'zero'),
  distro: int(1, 'distro', 0, 100),
  full: flag(false, 'full'),
  period: duration(5, 'period'),
  image: str('image'),
};
const OPTS = { defaultBytes: 8 * 2 ** 20, pid: 123 };
const parse = (args: string[]) => parseWorkloadArgs('w', args, SPEC, OPTS);

describe('workload arguments', () => {
  it('gives every default when no argument is given; instance defaults to the pid', () => {
    expect(parse([])).to.deep.equal({
      pages: 2048, seed: 1, instance: 123, mergeable: true, readonly: false, hold: HOLD_DEFAULT_MS, tick: 20, verbose: false,
      rate: 10, zero: 0.5, distro: 1, full: false, period: 5, image: undefined,
    });
  });

  it('takes size= with units (rounded up to whole pages) or pages=', () => {
    expect(parse(['size=32MiB']).pages).to.equal(8192);
    expect(parse(['size=64KiB']).pages).to.equal(16);
    expect(parse(['size=5000']).pages).to.equal(2);
    expect(parse(['size=1.5M']).pages).to.equal(384);
    expect(parse(['pages=77']).pages).to.equal(77);
  });

  it('accepts key=value, --key=value and --key value', () => {
    const a = parse(['rate=2.5', '--zero=25%', '--image', '/x/y', 'full=yes', 'period=2s', 'hold=10m', 'mergeable=0', 'seed=9', 'instance=4']);
    expect(a).to.include({ rate: 2.5, zero: 0.25, image: '/x/y', full: true, period: 2000, hold: 600_000, mergeable: false, seed: 9, instance: 4 });
  });

  const bad: Array<[string[], RegExp]> = [
    [['colour=red'], /^w: unknown key "colour" in "colour=red" \(known keys: size, pages, seed, .*rate, zero/],
    [['--colour', 'red'], /unknown key "colour"/],
    [['rate'], /argument "rate" is not key=value/],
    [['--rate'], /argument --rate needs a value/],
    [['rate=fast'], /^w: bad value for rate: "fast" \(expected a number from 0/],
    [['rate=-1'], /bad value for rate: "-1"/],
    [['rate=Infinity'], /bad value for rate: "Infinity"/],
    [['zero=1.5'], /bad value for zero: "1\.5" \(expected a fraction/],
    [['zero=150%'], /bad value for zero: "150%"/],
    [['distro=101'], /bad value for distro: "101" \(expected a whole number from 0 to 100\)/],
    [['distro=1.5'], /bad value for distro: "1\.5"/],
    [['full=maybe'], /bad value for full: "maybe" \(expected 0 or 1\)/],
    [['period=soon'], /bad value for period: "soon"/],
    [['image='], /bad value for image: ""/],
    [['size=12XB'], /bad value for size: "12XB"/],
    [['size=0'], /bad value for size: "0"/],
    [['size=1TiB'], /bad value for size: "1TiB"/],
    [['pages=0'], /bad value for pages: "0"/],
    [['size=1MiB', 'pages=3'], /give size= or pages=, not both/],
    [['rate=1', 'rate=2'], /key rate given twice/],
    [['seed=4294967296'], /bad value for seed/],
  ];
  for (const [args, re] of bad) {
    it(`rejects ${args.join(' ')}, naming the key`, () => {
      expect(() => parse(args)).to.throw(Error, re);
    });
  }

  it('parses sizes and durations on their own', () => {
    expect(parseBytes('2GiB')).to.equal(2 ** 31);
    expect(parseBytes('abc')).to.equal(undefined);
    expect(parseDurationMs('1.5s')).to.equal(1500);
    expect(parseDurationMs('250ms')).to.equal(250);
    expect(parseDurationMs('1h')).to.equal(3_600_000);
    expect(parseDurationMs('-1')).to.equal(undefined);
  });

  it('splits pages by fraction, the rest to the last region, and refuses fractions above 1', () => {
    expect(splitPages('w', 512, { cache: 0.3, zero: 0.2 }, 'image')).to.deep.equal({ cache: 154, zero: 102, image: 256 });
    expect(splitPages('w', 10, { a: 1 }, 'rest')).to.deep.equal({ a: 10, rest: 0 });
    expect(() => splitPages('jvm', 100, { classdata: 0.6, strings: 0.5 }, 'objects')).to.throw(/jvm: classdata=0\.6 \+ strings=0\.5 add up to 1\.1 > 1/);
  });

  it('names a program file for every workload and refuses others', () => {
    for (const w of WORKLOAD_NAMES) expect(existsSync(workloadPath(w)), w).to.equal(true);
    expect(() => workloadPath('workload-kit')).to.throw(/unknown workload "workload-kit"/);
  });
});

describe('workload content', () => {
  it('is a function of the key only, and different keys give different pages', () => {
    const a = new Uint32Array(1024);
    const b = new Uint32Array(1024);
    fillWords(a, 0, mix(1, 2, 3));
    fillWords(b, 0, mix(1, 2, 3));
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).to.equal(true);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      fillWords(a, 0, mix(0x13, 1, 7, i, 0));
      seen.add(Buffer.from(a.buffer).toString('base64'));
    }
    expect(seen.size).to.equal(2000);
  });

  it('mix separates its parts (no two small tuples collide)', () => {
    const keys = new Set<number>();
    for (let k = 0; k < 4; k++) for (let s = 0; s < 4; s++) for (let i = 0; i < 500; i++) keys.add(mix(k, s, i));
    expect(keys.size).to.equal(4 * 4 * 500);
  });
});
