// control-commands.ts — owns the commands that talk to a live host: start, destroy, list, sysfs,
// meminfo and node-memory-tune, each with text output (virsh's and the kernel's formats) or --json.

import { Command } from 'commander';
import { resolve } from 'node:path';
import { HostRefused, NoHostError, request } from '../live/control-client.ts';
import { WORKLOADS } from '../live/live-host.ts';
import type { GuestInfo, Op, ServiceReply } from '../live/protocol.ts';
import { resolveSocketPath } from '../live/socket-path.ts';
import { formatList, formatMeminfo, formatNodeMemoryTune, formatSysfs } from '../live/text-formats.ts';
import { parseCount } from './parse-size.ts';

interface ControlFlags {
  socket?: string;
  json?: boolean;
}

type Out = (s: string) => void;

/** Send one request; print the result as JSON or text; failures print the host's message and return 1. */
export async function control(flags: ControlFlags, op: Op, args: Record<string, unknown>, out: Out, text: (result: unknown) => string[], status: (result: unknown) => number = () => 0): Promise<number> {
  const socket = resolveSocketPath(flags.socket);
  try {
    const result = await request(socket, op, args);
    if (flags.json) out(JSON.stringify(result, null, 2));
    else for (const line of text(result)) out(line);
    return status(result);
  } catch (e) {
    if (e instanceof HostRefused) {
      if (flags.json) out(JSON.stringify({ error: e.reply }, null, 2));
      if (e.reply.lead) process.stderr.write(`error: ${e.reply.lead}\n`);
      process.stderr.write(`error: ${e.reply.message}\n`);
      return 1;
    }
    if (e instanceof NoHostError) {
      if (flags.json) out(JSON.stringify({ error: { message: e.message } }, null, 2));
      process.stderr.write(`ksmsim: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function common(cmd: Command): Command {
  return cmd
    .option('--socket <path>', 'the live host\'s control socket (default: $KSMSIM_SOCKET, else one in $XDG_RUNTIME_DIR or /tmp/ksmsim-$UID)')
    .option('--json', 'print the reply as JSON');
}

function nonNegative(flag: string) {
  return (v: string) => parseCount(v, flag, 0, 0xffffffff);
}

export function addControlCommands(program: Command, out: Out, setCode: (c: number) => void, guestArgs: readonly string[]): void {
  common(program.command('start').description(`start a guest on the live host: a program path or a workload (${WORKLOADS.join(', ')}); its arguments after --`)
    .argument('<name>', 'a name for the guest').argument('<program>', 'program path or workload name'))
    .option('--node <n>', 'home NUMA node', (v) => parseCount(v, '--node', 0, 1023))
    .action(async (name: string, prog: string, flags: ControlFlags & { node?: number }) => {
      const program = (WORKLOADS as readonly string[]).includes(prog) ? prog : resolve(prog);
      setCode(await control(flags, 'start', { name, program, args: [...guestArgs], node: flags.node }, out, (r) => {
        const g = r as GuestInfo;
        return [`Guest ${g.name} started (id ${g.id}, node ${g.node})`];
      }));
    });
  common(program.command('destroy').description('stop a guest at once and free its memory').argument('<name>', 'the guest\'s name'))
    .action(async (name: string, flags: ControlFlags) => {
      setCode(await control(flags, 'destroy', { name }, out, (r) => [`Guest ${(r as GuestInfo).name} destroyed`]));
    });
  common(program.command('list').description('the live host\'s guests, like virsh list, with KSM columns'))
    .action(async (flags: ControlFlags) => {
      setCode(await control(flags, 'list', {}, out, (r) => formatList(r as GuestInfo[])));
    });
  common(program.command('sysfs').description('read the host engine\'s /sys/kernel/mm/{ksm,dksm,uksm} (all files, as grep . prints them, or one), or write one file as root')
    .argument('[file]', 'a file name in the engine\'s directory (pages_to_scan) or a path').argument('[value]', 'the value to write'))
    .action(async (file: string | undefined, value: string | undefined, flags: ControlFlags) => {
      setCode(await control(flags, 'sysfs', { file, value }, out, (r) => {
        if ('files' in (r as object)) {
          const all = r as { dir: string; files: Record<string, string> };
          return formatSysfs(all.files, undefined, all.dir);
        }
        return value === undefined ? [(r as { value: string }).value] : [];
      }));
    });
  common(program.command('meminfo').description('the live host\'s /proc/meminfo'))
    .action(async (flags: ControlFlags) => {
      setCode(await control(flags, 'meminfo', {}, out, (r) => formatMeminfo(r as Record<string, number>)));
    });
  common(program.command('service').description('run a RHEL KSM service on the live host: ksm (ksmctl) or ksmtuned, as systemctl/service would')
    .argument('<service>', 'ksm or ksmtuned')
    .argument('<action>', 'start, stop or status (ksmtuned also: retune)')
    .option('--conf <file>', 'ksmtuned: its ksmtuned.conf (default: the packaged defaults)')
    .option('--sysconfig <file>', 'ksm: its /etc/sysconfig/ksm (KSM_MAX_KERNEL_PAGES)'))
    .action(async (service: string, action: string, flags: ControlFlags & { conf?: string; sysconfig?: string }) => {
      const file = flags.conf ?? flags.sysconfig;
      // The exit status is the service's own (LSB: 3 = not running, for `status`).
      setCode(await control(flags, 'service', { service, action, file: file === undefined ? undefined : resolve(file) }, out,
        (r) => [...(r as ServiceReply).lines], (r) => (r as ServiceReply).code));
    });
  common(program.command('node-memory-tune').description('KSM parameters as virsh node-memory-tune shows and sets them'))
    .option('--shm-pages-to-scan <n>', 'pages to scan before ksmd sleeps', nonNegative('--shm-pages-to-scan'))
    .option('--shm-sleep-millisecs <n>', 'milliseconds ksmd sleeps between scans', nonNegative('--shm-sleep-millisecs'))
    .option('--shm-merge-across-nodes <n>', '0|1: merge pages of different NUMA nodes', nonNegative('--shm-merge-across-nodes'))
    .action(async (flags: ControlFlags & { shmPagesToScan?: number; shmSleepMillisecs?: number; shmMergeAcrossNodes?: number }) => {
      const args = { pages_to_scan: flags.shmPagesToScan, sleep_millisecs: flags.shmSleepMillisecs, merge_across_nodes: flags.shmMergeAcrossNodes };
      const setting = Object.values(args).some((v) => v !== undefined);
      // virsh prints the parameters only when asked for none; a successful set prints nothing.
      setCode(await control(flags, 'node-memory-tune', args, out, (r) => (setting ? [] : formatNodeMemoryTune(r as Record<string, number>))));
    });
}
