// sim-worker.ts — owns one piscina task of a parallel exploration: explore a contiguous range of
// seeds in this thread and return the result (plain data, structured-clone safe).
import { explore, type ExploreOptions, type ExploreResult } from './explore.ts';

export default function exploreRange(o: Omit<ExploreOptions, 'progress'>): ExploreResult {
  return explore(o);
}
