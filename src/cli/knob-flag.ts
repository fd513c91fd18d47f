// knob-flag.ts — owns the repeatable `--ksm KEY=VALUE` flag: validates the knob name at parse time
// (a file of /sys/kernel/mm/ksm, or of DKSM's or UKSM's directory for --engine dksm|uksm; which
// engine's, is checked when it is written, with that directory's errno).
import { ksmFileNames } from '../ksm/sysfs.ts';
import { DKSM_FILES } from '../engines/dksm/dksm-files.ts';
import { UKSM_FILES } from '../engines/uksm/uksm-files.ts';

export function collectKnob(value: string, prev: Array<[string, string]>): Array<[string, string]> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--ksm: expected KEY=VALUE, got ${JSON.stringify(value)}`);
  const key = value.slice(0, eq);
  const ksm = ksmFileNames();
  if (!ksm.includes(key) && !(DKSM_FILES as readonly string[]).includes(key) && !(UKSM_FILES as readonly string[]).includes(key)) {
    throw new Error(`--ksm: unknown knob ${JSON.stringify(key)} (see /sys/kernel/mm/ksm: ${ksm.join(', ')}; with --engine uksm, /sys/kernel/mm/uksm: ${UKSM_FILES.join(', ')}; with --engine dksm, /sys/kernel/mm/dksm: run)`);
  }
  return [...prev, [key, value.slice(eq + 1)]];
}
