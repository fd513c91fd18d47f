// control-client.ts — owns talking to a live host over its Unix socket: one request, one reply.

import { createConnection } from 'node:net';
import type { Op, Reply, ReplyError } from './protocol.ts';

/** No host answers at the socket (absent, stale, or not a socket). */
export class NoHostError extends Error {
  readonly socket: string;
  constructor(socket: string) {
    super(`no ksmsim host at ${socket} (start one with \`ksmsim host start\`)`);
    this.socket = socket;
  }
}

/** The host refused the request; `reply` holds its message (and errno). */
export class HostRefused extends Error {
  readonly reply: ReplyError;
  constructor(reply: ReplyError) {
    super(reply.message);
    this.reply = reply;
  }
}

const NO_HOST = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ENOTDIR']);

/** Send one request and wait for its reply (the host may take long: `stop` waits for every guest). */
export function request(socket: string, op: Op, args: Record<string, unknown> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = createConnection({ path: socket });
    let buf = '';
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      f();
    };
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify({ id: 1, op, args }) + '\n'));
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: Reply;
      try {
        reply = JSON.parse(buf.slice(0, nl)) as Reply;
      } catch {
        settle(() => reject(new Error(`the host at ${socket} sent a malformed reply`)));
        return;
      }
      settle(() => (reply.ok ? resolve(reply.result) : reject(new HostRefused(reply.error))));
    });
    conn.on('error', (e: NodeJS.ErrnoException) => settle(() => reject(e.code && NO_HOST.has(e.code) ? new NoHostError(socket) : e)));
    conn.on('close', () => settle(() => reject(new Error(`the host at ${socket} closed the connection without replying`))));
  });
}
