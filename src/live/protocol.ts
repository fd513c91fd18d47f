// protocol.ts — owns the live host's control protocol: one JSON request per line on the Unix socket
// (or one POST body on the dashboard), one JSON reply per line, and the shapes both carry.

import type { EngineName } from '../engines/engine.ts';

export const OPS = ['hello', 'start', 'destroy', 'list', 'sysfs', 'meminfo', 'node-memory-tune', 'service', 'state', 'stop'] as const;
export type Op = (typeof OPS)[number];

export interface Request {
  readonly id: number;
  readonly op: Op;
  readonly args?: Record<string, unknown>;
}

/** What went wrong, as the client prints it; `errno` when the (emulated) kernel refused. */
export interface ReplyError {
  readonly message: string;
  readonly errno?: string;
  /** Extra lines a client prints before the message (virsh's "Unable to change memory parameters"). */
  readonly lead?: string;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: ReplyError };

export type GuestState = 'running' | 'exited' | 'failed' | 'oom-killed' | 'destroyed';

export interface GuestInfo {
  readonly id: number;
  readonly name: string;
  /** As given: a workload name or the program's path. */
  readonly program: string;
  readonly args: readonly string[];
  readonly node: number;
  readonly state: GuestState;
  readonly error?: string;
  /** Resident memory as the kernel counts RSS: private frames plus the KSM pages it maps. */
  readonly residentBytes: number;
  /** /proc/<pid>/ksm_stat as numbers (yes/no as 1/0). */
  readonly ksmStat: Record<string, number>;
  readonly seconds: number;
}

export interface HelloInfo {
  readonly pid: number;
  /** The merge engine the host runs (--engine). */
  readonly engine: EngineName;
  readonly socket: string;
  readonly dashboard?: string;
  readonly memoryBytes: number;
  readonly numaNodes: number;
  readonly swapBytes: number;
}

export interface NodeMemoryInfo {
  readonly node: number;
  readonly totalBytes: number;
  readonly usedBytes: number;
  readonly freeBytes: number;
}

/** One sample of the host for the dashboard's charts. */
export interface Sample {
  readonly t: number;
  readonly counters: Record<string, number>;
  readonly usedBytes: readonly number[];
}

export interface HostState {
  readonly hello: HelloInfo;
  readonly nodes: readonly NodeMemoryInfo[];
  /** /sys/kernel/mm/ksm where it exists (ksm, dksm; empty under uksm). */
  readonly ksm: Record<string, string>;
  /** The engine's own directory and files: what the status and the dashboard show. */
  readonly dir: string;
  readonly files: Record<string, string>;
  readonly guests: readonly GuestInfo[];
  readonly sample: Sample;
  readonly log: readonly string[];
}

export interface StopResult {
  /** /sys/kernel/mm/ksm just before the guests were stopped (empty under uksm). */
  readonly ksm: Record<string, string>;
  readonly engine: EngineName;
  /** The engine's directory and its files just before the guests were stopped. */
  readonly dir: string;
  readonly files: Record<string, string>;
  readonly guests: readonly GuestInfo[];
  readonly nodes: readonly NodeMemoryInfo[];
}

/** The virsh node-memory-tune parameters, in libvirt's order (virHostMemGetParameters). */
export const SHM_PARAMS = [
  'pages_to_scan', 'sleep_millisecs', 'pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'full_scans', 'merge_across_nodes',
] as const;
/** The ones virsh may set (virHostMemSetParameters validates exactly these). */
export const SHM_SETTABLE = ['pages_to_scan', 'sleep_millisecs', 'merge_across_nodes'] as const;

/** The reply to `service NAME ACTION`: what the service printed, and its LSB exit status. */
export interface ServiceReply {
  readonly code: number;
  readonly lines: readonly string[];
}
