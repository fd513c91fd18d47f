// ksmsim-cli.ts — the ksmsim command line run from the sources (under tsx), for tests that need it
// as a process of its own: a detached live host re-runs this same entry.
import { main } from '../../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
