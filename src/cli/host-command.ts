// host-command.ts — owns `ksmsim host start` (in the foreground, or --detach: in the background,
// returning once it answers on its socket) and `ksmsim host stop` (printing the final counters).

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_MEMORY_BYTES } from '../host/host.ts';
import { MAX_NUMA_NODES } from '../mem/physical-memory.ts';
import { NoHostError, request } from '../live/control-client.ts';
import { runHost } from '../live/host-runner.ts';
import { SocketBusyError } from '../live/control-server.ts';
import type { HelloInfo, StopResult } from '../live/protocol.ts';
import { ensureSocketDir, logPathFor, resolveSocketPath } from '../live/socket-path.ts';
import { formatSysfs } from '../live/text-formats.ts';
import { engineView } from '../live/engine-view.ts';
import { DEFAULT_ENGINE, ENGINE_NAMES, parseEngine, type EngineName } from '../engines/engine.ts';
import { control } from './control-commands.ts';
import { collectKnob } from './knob-flag.ts';
import { formatBytes, parseCount, parseSize } from './parse-size.ts';

interface StartFlags {
  memory: number;
  numaNodes: number;
  swap?: number;
  ksm: Array<[string, string]>;
  engine: EngineName;
  socket?: string;
  dashboard?: number;
  detach?: boolean;
  json?: boolean;
}

type Out = (s: string) => void;

const READY_POLL_MS = 100;

export function addHostCommand(program: Command, out: Out, setCode: (c: number) => void): void {
  const host = program.command('host').description('a live host that keeps running: guests come and go, knobs change, a dashboard shows it');
  host.command('start').description('start a live host serving a control socket (and a dashboard)')
    .option('--memory <size>', 'physical memory of the host', (v) => parseSize(v, '--memory'), DEFAULT_MEMORY_BYTES)
    .option('--numa-nodes <n>', 'NUMA nodes the memory is split into', (v) => parseCount(v, '--numa-nodes', 1, MAX_NUMA_NODES), 1)
    .option('--swap <size>', 'swap space', (v) => parseSize(v, '--swap'))
    .addOption(new Option('--engine <name>', `merge engine: ${ENGINE_NAMES.join(', ')} (docs/engines.md)`).argParser((v) => parseEngine(v)).default(DEFAULT_ENGINE))
    .addOption(new Option('--ksm <key=value>', 'set a knob of the engine\'s /sys/kernel/mm/{ksm,dksm,uksm} at start (repeatable)').argParser(collectKnob).default([]))
    .option('--socket <path>', 'control socket (default: $KSMSIM_SOCKET, else one in $XDG_RUNTIME_DIR or /tmp/ksmsim-$UID)')
    .option('--dashboard <port>', 'serve the dashboard on http://127.0.0.1:PORT/ (0: any free port)', (v) => parseCount(v, '--dashboard', 0, 65535))
    .option('--detach', 'run in the background; return once the host is ready')
    .option('--json', 'print the ready and stop reports as JSON')
    .action(async (flags: StartFlags) => {
      setCode(flags.detach ? await startDetached(flags, out) : await startForeground(flags, out));
    });
  host.command('stop').description('stop the live host: guests are stopped and destroyed, the final counters printed')
    .option('--socket <path>', 'control socket (default: $KSMSIM_SOCKET, else one in $XDG_RUNTIME_DIR or /tmp/ksmsim-$UID)')
    .option('--json', 'print the final report as JSON')
    .action(async (flags: { socket?: string; json?: boolean }) => {
      setCode(await control(flags, 'stop', {}, out, (r) => describeStop(r as StopResult)));
    });
}

function readyLines(h: HelloInfo, log?: string): string[] {
  return [
    `ksmsim host ready: pid ${h.pid}, engine ${h.engine}, ${formatBytes(h.memoryBytes)} on ${h.numaNodes} NUMA node${h.numaNodes > 1 ? 's' : ''}${h.swapBytes ? `, ${formatBytes(h.swapBytes)} swap` : ''}`,
    `  socket    ${h.socket}`,
    ...(h.dashboard ? [`  dashboard ${h.dashboard}`] : []),
    ...(log ? [`  log       ${log}`] : []),
  ];
}

export function describeStop(r: StopResult): string[] {
  const destroyed = r.guests.filter((g) => g.state === 'destroyed').length;
  const lines = [`ksmsim host stopped: ${destroyed} guest${destroyed === 1 ? '' : 's'} destroyed`];
  for (const g of r.guests) lines.push(`  guest ${g.name} (id ${g.id}): ${g.state}${g.error ? `: ${g.error}` : ''}`);
  lines.push('final counters:');
  const knobs = engineView(r.engine).knobs;
  lines.push(...formatSysfs(r.files, (n) => !knobs.includes(n), r.dir));
  return lines;
}

async function startForeground(flags: StartFlags, out: Out): Promise<number> {
  const socket = resolveSocketPath(flags.socket);
  let result: StopResult;
  try {
    result = await runHost({
    socket, memoryBytes: flags.memory, numaNodes: flags.numaNodes, swapBytes: flags.swap, knobs: flags.ksm, engine: flags.engine,
    dashboardPort: flags.dashboard, print: out,
    onReady: (h) => {
      if (flags.json) out(JSON.stringify(h));
      else for (const line of readyLines(h)) out(line);
    },
    });
  } catch (e) {
    if (!(e instanceof SocketBusyError)) throw e;
    process.stderr.write(`ksmsim: ${e.message}\n`);
    return 1;
  }
  if (flags.json) out(JSON.stringify(result));
  else for (const line of describeStop(result)) out(line);
  return 0;
}

/** The same command without --detach, in a new session, its output in the log beside the socket. */
async function startDetached(flags: StartFlags, out: Out): Promise<number> {
  const socket = resolveSocketPath(flags.socket);
  ensureSocketDir(socket);
  const log = logPathFor(socket);
  const argv = ['host', 'start', '--socket', socket, '--memory', String(flags.memory), '--numa-nodes', String(flags.numaNodes)];
  if (flags.swap) argv.push('--swap', String(flags.swap));
  argv.push('--engine', flags.engine);
  for (const [k, v] of flags.ksm) argv.push('--ksm', `${k}=${v}`);
  if (flags.dashboard !== undefined) argv.push('--dashboard', String(flags.dashboard));
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();
  // Ready when a host answers on the socket with the child's pid (not another host's, which the
  // child will refuse and exit); failed when the child exits first.
  for (;;) {
    if (exited !== undefined) {
      const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
      process.stderr.write(`ksmsim: the host did not start (exit status ${exited}); its log ${log} ends:\n${tail}\n`);
      return 1;
    }
    try {
      const h = (await request(socket, 'hello')) as HelloInfo;
      if (h.pid === child.pid) {
        if (flags.json) out(JSON.stringify({ ...h, log }));
        else for (const line of readyLines(h, log)) out(line);
        return 0;
      }
    } catch (e) {
      if (!(e instanceof NoHostError)) throw e;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
}
