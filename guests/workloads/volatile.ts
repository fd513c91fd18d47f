// volatile.ts — memory rewritten faster than ksmd scans it (a busy cache, a ring buffer of live
// data). Each page holds unique content plus a 16-byte stamp (page, generation, instance) at its
// start; every `period` ms a new generation is stamped into every page, so each page's checksum
// changes between two visits of ksmd and KSM never even puts it in the unstable tree: the pages show
// up in pages_volatile. (Changing one word is enough: KSM checksums the whole page.) full=1
// rewrites whole pages instead of the stamp.
// Args (besides those of src/workloads/workload-args.ts): period=5ms, full=0. Expected sharing: none (README.md).
import type { GuestSys } from '../../src/guest/index.ts';
import { duration, flag, parseWorkloadArgs } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PAGE, PageWriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('volatile', args, {
    period: duration(5, 'every page is rewritten once per period'),
    full: flag(false, 'rewrite whole pages (default: a 16-byte stamp per page)'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['volatile'], pid: sys.pid });
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  const key = (i: number, gen: number) => mix(KIND.volatile, a.seed, a.instance, i, gen);
  w.fill(addr, 0, a.pages, (i) => key(i, 0));
  const stamp = new Uint32Array(4);
  const stampBytes = new Uint8Array(stamp.buffer);
  let gen = 0;
  const rewriteAll = () => {
    gen++;
    if (a.full) {
      w.fill(addr, 0, a.pages, (i) => key(i, gen));
      return;
    }
    stamp[1] = gen;
    stamp[2] = a.instance;
    stamp[3] = a.seed;
    for (let p = 0; p < a.pages; p++) {
      stamp[0] = p;
      sys.write(addr + p * PAGE, stampBytes);
    }
  };
  rewriteAll();
  ready(sys, a, addr, { volatile: a.pages, period: `${a.period} ms`, full: a.full ? 1 : 0 });
  let since = 0;
  return steadyState(sys, { ...a, tick: Math.max(1, Math.min(a.tick, a.period)) }, (dt) => {
    since += dt;
    if (since >= a.period) {
      since %= a.period;
      rewriteAll();
    }
  });
}
