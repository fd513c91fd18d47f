// linux-guest-entry.ts — owns the child process of one linux-backend guest: builds its LinuxSys,
// runs the program's main(sys, args), and reports log lines and the outcome to the parent over IPC.
// Started by run-linux-guest.ts as `node dist/src/backend/linux/linux-guest-entry.js CONFIG_JSON`.

import { isErrnoError } from '../../mem/errno.ts';
import type { GuestProgramModule } from '../../guest/guest-sys.ts';
import { loadLinuxAddon } from './addon.ts';
import type { GuestMessage, GuestOutcomeMessage, LinuxGuestConfig } from './guest-messages.ts';
import { LinuxSys } from './linux-sys.ts';
import { sealGuestSys } from '../../guest/sealed-sys.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as LinuxGuestConfig;
let finished = false;

function send(m: GuestMessage, then?: () => void): void {
  if (process.send && process.connected) process.send(m, undefined, {}, () => then?.());
  else then?.();
}

/** Report the outcome once, then exit without waiting for timers the program left behind. */
function finish(outcome: GuestOutcomeMessage): void {
  if (finished) return;
  finished = true;
  const status = outcome.type === 'exit' ? outcome.code & 0xff : 1;
  send(outcome, () => process.exit(status));
}

function failure(e: unknown): GuestOutcomeMessage {
  const err = e as Error | undefined;
  return { type: 'error', message: err?.message ?? String(e), code: isErrnoError(e) ? e.code : undefined };
}

process.on('uncaughtException', (e) => finish(failure(e)));
process.on('unhandledRejection', (e) => finish(failure(e)));
// The parent is gone (even SIGKILLed): a guest must not outlive the run that restores the knobs.
process.on('disconnect', () => process.exit(finished ? 0 : 128 + 1));

async function main(): Promise<GuestOutcomeMessage> {
  const load = loadLinuxAddon();
  if (!load.ok) return { type: 'error', message: load.reason };
  const sys = new LinuxSys({ addon: load.addon, root: config.root, node: config.node, logLine: (line) => send({ type: 'log', line }), onMaps: (ranges) => send({ type: 'maps', ranges }) });
  const mod = (await import(config.programUrl)) as Partial<GuestProgramModule>;
  if (typeof mod.default !== 'function') return { type: 'error', message: `${config.program} has no default export main(sys, args)` };
  const ret = await mod.default(sealGuestSys(sys), [...config.args]);
  return { type: 'exit', code: typeof ret === 'number' ? ret : 0 };
}

main().then(finish, (e) => finish(failure(e)));
