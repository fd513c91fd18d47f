// knob-flag.ts — owns the repeatable `--ksm KEY=VALUE` flag: validates the knob name at parse time.
import { ksmFileNames } from '../ksm/sysfs.ts';

export function collectKnob(value: string, prev: Array<[string, string]>): Array<[string, string]> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--ksm: expected KEY=VALUE, got ${JSON.stringify(value)}`);
  const key = value.slice(0, eq);
  if (!ksmFileNames().includes(key)) throw new Error(`--ksm: unknown knob ${JSON.stringify(key)} (see /sys/kernel/mm/ksm: ${ksmFileNames().join(', ')})`);
  return [...prev, [key, value.slice(eq + 1)]];
}
