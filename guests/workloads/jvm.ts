// jvm.ts — a managed-runtime heap (a JVM): class data (the class-data-sharing archive, loaded
// classes' metadata) and interned strings identical across instances of one seed (same runtime,
// same application), a zeroed young generation (pre-touched, free after a collection), and the
// object heap, unique per instance, that the collector slowly churns.
// Args (besides those of src/workloads/workload-args.ts): classdata=0.2, strings=0.1, eden=0.1 (fractions; the
// object heap gets the rest), rate=20 (heap pages rewritten per second). Expected sharing: README.md.
import type { GuestSys } from '../../src/guest/index.ts';
import { fraction, num, parseWorkloadArgs, splitPages } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('jvm', args, {
    classdata: fraction(0.2, 'fraction holding class data (identical across instances)'),
    strings: fraction(0.1, 'fraction holding interned strings (identical across instances)'),
    eden: fraction(0.1, 'fraction of zeroed young generation'),
    rate: num(20, 'object-heap pages rewritten per second (collector churn)'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['jvm'], pid: sys.pid });
  const r = splitPages('jvm', a.pages, { classdata: a.classdata, strings: a.strings, eden: a.eden }, 'objects');
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  let at = 0;
  w.fill(addr, at, r.classdata, (i) => mix(KIND.classData, a.seed, i));
  at += r.classdata;
  w.fill(addr, at, r.strings, (i) => mix(KIND.strings, a.seed, i));
  at += r.strings;
  w.zero(addr, at, r.eden);
  at += r.eden;
  const objKey = (i: number, gen: number) => mix(KIND.objects, a.seed, a.instance, i, gen);
  w.fill(addr, at, r.objects, (i) => objKey(i, 0));
  ready(sys, a, addr, { classdata: r.classdata, strings: r.strings, eden: r.eden, objects: r.objects, rate: a.rate }, r.classdata + r.strings);
  const gc = new Rewriter(w, addr, at, r.objects, a.rate, objKey);
  return steadyState(sys, a, a.rate > 0 ? (dt) => gc.step(dt) : undefined);
}
