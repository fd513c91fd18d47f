// control-server.ts — owns the live host's Unix socket: claiming it (one host per socket, stale
// sockets of dead hosts removed), and serving newline-delimited JSON requests on it.

import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { NoHostError, request } from './control-client.ts';
import { ControlError, type LiveHost } from './live-host.ts';
import type { HelloInfo, Reply, Request } from './protocol.ts';
import { ensureSocketDir } from './socket-path.ts';

const MAX_LINE = 1 << 20;

/** A live host already owns the socket. */
export class SocketBusyError extends Error {
  constructor(socket: string, pid: number | undefined) {
    super(pid ? `a ksmsim host (pid ${pid}) is already running at ${socket} (stop it with \`ksmsim host stop\`)` : `a ksmsim host is already running at ${socket}`);
  }
}

/**
 * Make sure no live host owns `socket`: a host that answers is refused with its pid; a socket file
 * nobody listens on (its host was SIGKILLed) is removed. Two hosts racing past this check both call
 * listen(): bind() fails with EADDRINUSE for the second, which serveControl reports as busy.
 */
export async function claimSocket(socket: string): Promise<void> {
  ensureSocketDir(socket);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socket).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${socket} exists and is not a socket`);
  try {
    const hello = (await request(socket, 'hello')) as HelloInfo;
    throw new SocketBusyError(socket, hello.pid);
  } catch (e) {
    if (!(e instanceof NoHostError)) throw e;
  }
  unlinkSync(socket);
}

export interface ControlServer {
  readonly server: Server;
  close(): Promise<void>;
}

/** Serve `live` on `socket`; `onStop` runs after the reply to a `stop` request has been sent. */
export function serveControl(live: LiveHost, socket: string, onStop: () => void): Promise<ControlServer> {
  const connections = new Set<Socket>();
  const server = createServer((conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    // A client that vanishes mid-request (EPIPE, ECONNRESET) ends only its own connection; the
    // request it sent still completes on the host, and its reply is dropped.
    conn.on('error', () => conn.destroy());
    conn.setEncoding('utf8');
    let buf = '';
    conn.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_LINE && buf.indexOf('\n') < 0) {
        conn.destroy();
        return;
      }
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) void answer(live, conn, line, onStop);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new SocketBusyError(socket, undefined) : e));
    server.listen(socket, () => {
      chmodSync(socket, 0o600);
      server.on('error', () => {});
      resolve({
        server,
        close: () => new Promise<void>((res) => {
          for (const c of connections) c.destroy();
          server.close(() => res());
        }),
      });
    });
  });
}

async function answer(live: LiveHost, conn: Socket, line: string, onStop: () => void): Promise<void> {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
    if (typeof req !== 'object' || req === null || typeof req.op !== 'string') throw new Error('no op');
  } catch {
    send(conn, { id: 0, ok: false, error: { message: 'malformed request (expected one JSON object per line)' } });
    return;
  }
  let reply: Reply;
  try {
    reply = { id: req.id, ok: true, result: await live.dispatch(req.op, req.args ?? {}) };
  } catch (e) {
    reply = { id: req.id, ok: false, error: e instanceof ControlError ? e.reply : { message: (e as Error)?.message ?? String(e) } };
  }
  if (req.op === 'stop' && reply.ok) {
    conn.end(JSON.stringify(reply) + '\n', () => onStop());
    // A client gone before the reply still stops the host.
    conn.once('close', () => onStop());
    return;
  }
  send(conn, reply);
}

function send(conn: Socket, reply: Reply): void {
  if (!conn.destroyed && conn.writable) conn.write(JSON.stringify(reply) + '\n');
}
