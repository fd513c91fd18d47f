// run-cli.ts — run the ksmsim command line in-process, collecting its output lines, stderr and exit code.
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  readonly code: number;
  readonly lines: string[];
  readonly stderr: string;
}

export async function runCli(argv: string[]): Promise<CliRun> {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(argv, (s) => lines.push(s));
    return { code, lines, stderr };
  } finally {
    process.stderr.write = write;
  }
}
