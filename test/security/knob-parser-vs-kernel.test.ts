// knob-parser-vs-kernel.test.ts — the emulator's knob parsers against this machine's kernel: the same
// arbitrary texts (fast-check, seed 17, 60 of them) written to harmless knobs of both are accepted or
// refused alike, with the same errno and the same value read back. Linux backend only (root, KSM):
// under the project's knob lock, with every knob restored and run left at 0 afterwards.
import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { withKnobGuard } from '../../src/backend/linux/knob-guard.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { KSM_DIR, KsmFiles } from '../../src/ksm/sysfs.ts';
import { ErrnoError } from '../../src/mem/errno.ts';
import { skipUnlessLinuxBackend } from '../backend/linux/skip-unless-available.ts';

/** Knobs whose any accepted value is harmless while run is 0 (never run, merge_across_nodes or max_page_sharing). */
const KNOBS = ['pages_to_scan', 'sleep_millisecs', 'use_zero_pages', 'smart_scan', 'stable_node_chains_prune_millisecs'] as const;
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -5, max: 5000 }).map(String),
  fc.bigInt({ min: 0n, max: 2n ** 66n }).map(String),
  fc.tuple(fc.constantFrom('', '+', '-', ' ', '0x', '00'), fc.nat(99), fc.constantFrom('', '\n', '\n\n', ' ', 'x')).map(([a, n, b]) => `${a}${n}${b}`),
);

type Outcome = { ok: true; value: string } | { ok: false; code: string };

function writeReal(knob: string, value: string): Outcome {
  try {
    writeFileSync(KSM_DIR + knob, value);
    return { ok: true, value: readFileSync(KSM_DIR + knob, 'utf8') };
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}

function writeEmulated(files: KsmFiles, knob: string, value: string): Outcome {
  try {
    files.writeSync(KSM_DIR + knob, value, { root: true });
    return { ok: true, value: files.read(KSM_DIR + knob, { root: true }) };
  } catch (e) {
    if (e instanceof ErrnoError) return { ok: false, code: e.code };
    throw e;
  }
}

describe('knob parsers against the kernel (linux backend)', function () {
  this.timeout(240_000);
  beforeEach(function () {
    skipUnlessLinuxBackend(this);
  });

  it('accepts and refuses the same arbitrary texts as the kernel, with the same errno and read-back', async () => {
    const cases = fc.sample(fc.tuple(fc.constantFrom(...KNOBS), text), { seed: 17, numRuns: 60 });
    const differ: string[] = [];
    await withKnobGuard(async () => {
      expect(readFileSync(KSM_DIR + 'run', 'utf8').trim(), 'run must be 0 to write knobs safely').to.equal('0');
      const files = new KsmFiles(KsmState.create());
      for (const [knob, value] of cases) {
        // Both sides start from the kernel's value of the knob, so a read-back compares like with like.
        writeEmulated(files, knob, readFileSync(KSM_DIR + knob, 'utf8'));
        const real = writeReal(knob, value);
        const emu = writeEmulated(files, knob, value);
        if (JSON.stringify(real) !== JSON.stringify(emu)) differ.push(`${knob} ← ${JSON.stringify(value)}: kernel ${JSON.stringify(real)}, emulator ${JSON.stringify(emu)}`);
      }
    }, { waitMs: 150_000 }); // another run may hold the real knobs for a while
    expect(readFileSync(KSM_DIR + 'run', 'utf8').trim()).to.equal('0');
    expect(differ).to.deep.equal([]);
  });
});
