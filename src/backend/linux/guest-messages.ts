// guest-messages.ts — owns the protocol between the linux backend's parent and one guest child
// process: the launch config (argv) and the IPC messages the child sends back.

export interface LinuxGuestConfig {
  /** Absolute path of the guest program. */
  readonly program: string;
  /** The program compiled by the parent (platform/module-compiler.ts): plain JavaScript. */
  readonly programUrl: string;
  readonly args: readonly string[];
  readonly root: boolean;
  readonly node: number;
}

export type GuestOutcomeMessage =
  | { readonly type: 'exit'; readonly code: number }
  | { readonly type: 'error'; readonly message: string; readonly code?: string };

/**
 * The guest's own mappings, [start, end) in bytes, sent after every mmap/munmap: the parent measures
 * the guest's memory over these ranges only (the Node runtime sharing the process is not the guest).
 */
export interface GuestMapsMessage {
  readonly type: 'maps';
  readonly ranges: ReadonlyArray<readonly [number, number]>;
}

export type GuestMessage = { readonly type: 'log'; readonly line: string } | GuestMapsMessage | GuestOutcomeMessage;

export function isGuestMessage(m: unknown): m is GuestMessage {
  const type = (m as { type?: unknown } | null)?.type;
  return type === 'log' || type === 'maps' || type === 'exit' || type === 'error';
}
