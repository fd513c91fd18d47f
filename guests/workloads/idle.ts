// idle.ts — an idle guest: memory the guest OS zeroed and never used since (written with zeros, so
// it has frames, as after a guest's memset or a balloon that was never inflated), plus a little
// private state (unique per guest) that a timer touches now and then.
// Args (besides those of src/workloads/workload-args.ts): zero=0.95 (fraction of zero pages), rate=1 (private
// pages rewritten per second). Expected sharing: see README.md.
import type { GuestSys } from '../../src/guest/index.ts';
import { fraction, num, parseWorkloadArgs, splitPages } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('idle', args, {
    zero: fraction(0.95, 'fraction of pages that are zero-filled'),
    rate: num(1, 'private pages rewritten per second'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['idle'], pid: sys.pid });
  const r = splitPages('idle', a.pages, { zero: a.zero }, 'private');
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  w.zero(addr, 0, r.zero);
  w.fill(addr, r.zero, r.private, (i) => mix(KIND.private, a.instance, i, 0));
  ready(sys, a, addr, { zero: r.zero, private: r.private }, r.zero);
  const timer = new Rewriter(w, addr, r.zero, r.private, a.rate, (i, gen) => mix(KIND.private, a.instance, i, gen));
  return steadyState(sys, a, a.rate > 0 && r.private > 0 ? (dt) => timer.step(dt) : undefined);
}
