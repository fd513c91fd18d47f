// bench-command.ts — owns `ksmsim bench --vs-linux [--size MIB] [--json FILE]`: the kernel selftest
// measurements on the emulator and on the real kernel in one run, with the ratios.

import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { benchVsLinux, vsLinuxTable } from '../bench/vs-linux.ts';
import { parseCount } from './parse-size.ts';

interface BenchFlags {
  vsLinux?: boolean;
  size: number;
  json?: string;
}

export function addBenchCommand(program: Command, out: (s: string) => void, setCode: (code: number) => void): void {
  program
    .command('bench')
    .description('performance side by side: --vs-linux runs ksm_tests -P/-C style measurements on the emulator and the real kernel')
    .option('--vs-linux', 'compare with the real kernel (the only mode for now)')
    .option('--size <mib>', 'MiB of pages for the merge and scan measurements', (v) => parseCount(v, '--size', 1, 4096), 100)
    .option('--json <file>', 'write { merge_mib_s, scan_mib_s, cow_ns_per_page, write_ns_per_page } as JSON to FILE')
    .action(async (flags: BenchFlags) => {
      if (!flags.vsLinux) throw new Error('bench: only --vs-linux is implemented (the tinybench suites run with npm run bench)');
      const progress = !flags.json && process.stderr.isTTY ? (l: string) => process.stderr.write(`\r\x1b[2K[ksmsim bench] ${l}`) : undefined;
      const r = await benchVsLinux({ sizeMiB: flags.size, onProgress: progress });
      if (progress) process.stderr.write('\r\x1b[2K');
      if (flags.json) writeFileSync(flags.json, JSON.stringify(r, null, 2) + '\n');
      else for (const line of vsLinuxTable(r)) out(line);
      setCode(0);
    });
}
