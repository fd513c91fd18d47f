// socket-path.ts — owns where a live host's control socket is: --socket PATH, else $KSMSIM_SOCKET,
// else a default in the user's runtime directory ($XDG_RUNTIME_DIR/ksmsim, or /tmp/ksmsim-$UID).

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const SOCKET_ENV = 'KSMSIM_SOCKET';

/** The runtime directory of this user's hosts (not created here). */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'ksmsim');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return `/tmp/ksmsim-${uid}`;
}

/** The socket a command talks to (or a host listens on), as an absolute path. */
export function resolveSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  const fromEnv = env[SOCKET_ENV];
  if (fromEnv) return resolve(fromEnv);
  return join(runtimeDir(env), 'host.sock');
}

/** Create the socket's directory; the default one is private to the user (0700), as /run/user is. */
export function ensureSocketDir(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
}

/** Where a detached host writes its log: beside its socket. */
export function logPathFor(socket: string): string {
  return socket.replace(/\.sock$/, '') + '.log';
}
