// random.ts — nothing shares: every page holds its own pseudo-random content (unique per guest and
// per page), like encrypted or compressed data. Optional churn rewrites pages at rate= pages/s.
// Args (besides those of src/workloads/workload-args.ts): rate=0. Expected sharing: none (README.md).
import type { GuestSys } from '../../src/guest/index.ts';
import { num, parseWorkloadArgs } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('random', args, {
    rate: num(0, 'pages rewritten per second (0: static)'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['random'], pid: sys.pid });
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  const key = (i: number, gen: number) => mix(KIND.random, a.seed, a.instance, i, gen);
  w.fill(addr, 0, a.pages, (i) => key(i, 0));
  ready(sys, a, addr, { random: a.pages });
  const churn = new Rewriter(w, addr, 0, a.pages, a.rate, key);
  return steadyState(sys, a, a.rate > 0 ? (dt) => churn.step(dt) : undefined);
}
