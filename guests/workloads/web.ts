// web.ts — a web server: code and shared libraries (the same in every web guest of one seed: same
// distro, same server build), a private heap (sessions, caches: unique per guest), and request
// buffers that are rewritten continuously with new request data at rate= pages/s.
// Args (besides those of src/workloads/workload-args.ts): code=0.35, heap=0.45 (fractions; the buffers get the
// rest), rate=400 (buffer pages rewritten per second). Expected sharing: see README.md.
import type { GuestSys } from '../../src/guest/index.ts';
import { fraction, num, parseWorkloadArgs, splitPages } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('web', args, {
    code: fraction(0.35, 'fraction of pages holding code and shared libraries (shared by guests of one seed)'),
    heap: fraction(0.45, 'fraction of pages holding the private heap (unique)'),
    rate: num(400, 'request-buffer pages rewritten per second'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['web'], pid: sys.pid });
  const r = splitPages('web', a.pages, { code: a.code, heap: a.heap }, 'buffers');
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  w.fill(addr, 0, r.code, (i) => mix(KIND.code, a.seed, i));
  w.fill(addr, r.code, r.heap, (i) => mix(KIND.heap, a.seed, a.instance, i));
  const bufKey = (i: number, gen: number) => mix(KIND.buffer, a.seed, a.instance, i, gen);
  w.fill(addr, r.code + r.heap, r.buffers, (i) => bufKey(i, 0));
  ready(sys, a, addr, { code: r.code, heap: r.heap, buffers: r.buffers, rate: a.rate }, r.code);
  const requests = new Rewriter(w, addr, r.code + r.heap, r.buffers, a.rate, bufKey);
  return steadyState(sys, a, (dt) => requests.step(dt));
}
