// guest-signal.ts — step a test guest from the test: the host writes a number into a KSM knob no test
// guest otherwise uses (sleep_millisecs, with ksmd off), and the guest polls it; guests answer with log lines.
import type { GuestSys } from '../../src/guest/guest-sys.ts';

export const SIGNAL_FILE = '/sys/kernel/mm/ksm/sleep_millisecs';

/** Guest side: wait until the host has raised the signal to at least `value`; throws after `timeoutMs`. */
export async function waitSignal(sys: GuestSys, value: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Number(sys.readFile(SIGNAL_FILE)) < value) {
    if (Date.now() > deadline) throw new Error(`no signal ${value} from the test within ${timeoutMs} ms`);
    await sys.sleep(2);
  }
}

/** Test side: raise the signal to `value`. */
export async function raiseSignal(host: { writeFile(path: string, text: string): Promise<void> }, value: number): Promise<void> {
  await host.writeFile(SIGNAL_FILE, `${value}\n`);
}

/** Test side: wait until `lines` has a line matching `re` (and return it); throws after `timeoutMs`. */
export async function waitForLine(lines: readonly string[], re: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find((l) => re.test(l));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no log line matching ${re} within ${timeoutMs} ms; got:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
