// density-vs-kernel.ts — regenerates docs/density-vs-kernel.md's tables from the committed JSON under
// docs/data/density-vs-kernel/, and (re)records that JSON.
//   node --import tsx scripts/density-vs-kernel.ts                  rewrite the tables from the JSON
//   node --import tsx scripts/density-vs-kernel.ts --run [NAME...]  run the fleets (both backends; root) and record them
//   node --import tsx scripts/density-vs-kernel.ts --from DIR       record DIR/<name>.json files written by
//                                                                   `ksmsim density --backend both --json` (trimmed)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DENSITY_MEMORY } from '../src/cli/density-command.ts';
import { compareDensity, type DensityBothResult } from '../src/density/density-compare.ts';
import { runDensity, type DensityOptions } from '../src/density/density-runner.ts';
import { parseFleetSpec } from '../src/density/fleet-spec.ts';
import {
  KERNEL_DATA_DIR, KERNEL_DOC, README_FLEETS, SHAPE_FLEETS, renderDocTables, trimBoth, type DocFleet,
} from '../src/density/kernel-docs-table.ts';
import { runLinuxDensity } from '../src/density/linux-density.ts';

const ALL: readonly DocFleet[] = [...SHAPE_FLEETS, ...README_FLEETS];

function record(f: DocFleet, b: DensityBothResult): void {
  mkdirSync(KERNEL_DATA_DIR, { recursive: true });
  writeFileSync(join(KERNEL_DATA_DIR, `${f.name}.json`), JSON.stringify(trimBoth(b)) + '\n');
  console.log(`recorded ${f.name}`);
}

const args = process.argv.slice(2);
if (args[0] === '--run') {
  const names = args.slice(1);
  for (const f of ALL.filter((x) => names.length === 0 || names.includes(x.name))) {
    // The options `ksmsim density --backend both` uses (100 ms samples, 60 s convergence limit).
    const o: DensityOptions = {
      memoryBytes: DEFAULT_DENSITY_MEMORY, numaNodes: 1, knobs: f.knobs, mergeAcrossNodes: '1', capacity: false, maxSeconds: 60, sampleMs: 100, log: () => {},
    };
    const fleet = parseFleetSpec(f.fleet);
    const emulator = await runDensity(o, fleet);
    const linux = await runLinuxDensity(o, fleet, { lockWaitMs: 600_000 });
    record(f, { emulator, linux, comparison: compareDensity(emulator, linux) });
  }
} else if (args[0] === '--from') {
  for (const f of ALL) {
    const path = join(args[1]!, `${f.name}.json`);
    if (existsSync(path)) record(f, JSON.parse(readFileSync(path, 'utf8')) as DensityBothResult);
  }
}
writeFileSync(KERNEL_DOC, renderDocTables(readFileSync(KERNEL_DOC, 'utf8')));
console.log(`wrote the tables of ${KERNEL_DOC}`);
