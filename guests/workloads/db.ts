// db.ts — a database server: a large buffer pool of mostly unique pages (table and index pages of
// this instance's data), with a small part identical across instances of one seed (system catalog,
// the same schema and reference tables), and a slow churn of dirty pages (new row data).
// Args (besides those of src/workloads/workload-args.ts): shared=0.05 (fraction identical across instances),
// rate=50 (pool pages rewritten per second). Expected sharing: see README.md.
import type { GuestSys } from '../../src/guest/index.ts';
import { fraction, num, parseWorkloadArgs, splitPages } from '../../src/workloads/workload-args.ts';
import { WORKLOAD_DEFAULT_BYTES } from '../../src/workloads/workload-catalog.ts';
import { KIND, PageWriter, Rewriter, mapPages, mix, ready, steadyState } from './workload-kit.ts';

export default async function main(sys: GuestSys, args: string[]): Promise<number> {
  const a = parseWorkloadArgs('db', args, {
    shared: fraction(0.05, 'fraction of the pool identical across instances (catalog, reference tables)'),
    rate: num(50, 'pool pages rewritten per second (dirty pages)'),
  }, { defaultBytes: WORKLOAD_DEFAULT_BYTES['db'], pid: sys.pid });
  const r = splitPages('db', a.pages, { shared: a.shared }, 'rows');
  const addr = mapPages(sys, a.pages);
  const w = new PageWriter(sys);
  w.fill(addr, 0, r.shared, (i) => mix(KIND.dbShared, a.seed, i));
  const rowKey = (i: number, gen: number) => mix(KIND.dbRow, a.seed, a.instance, i, gen);
  w.fill(addr, r.shared, r.rows, (i) => rowKey(i, 0));
  ready(sys, a, addr, { shared: r.shared, rows: r.rows, rate: a.rate }, r.shared);
  const dirty = new Rewriter(w, addr, r.shared, r.rows, a.rate, rowKey);
  return steadyState(sys, a, a.rate > 0 ? (dt) => dirty.step(dt) : undefined);
}
