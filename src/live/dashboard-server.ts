// dashboard-server.ts — owns the live host's web dashboard: one page, a server-sent event stream of the
// host's state four times a second, and POST requests into the same dispatch as the control socket.
// Bound to the loopback address only.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlError, WORKLOADS, type LiveHost } from './live-host.ts';
import { renderDashboardPage } from './dashboard-page.ts';
import type { Op } from './protocol.ts';

export const TICK_MS = 250;
const MAX_BODY = 64 * 1024;
/** What the page may ask for: everything but stopping the host. */
const PAGE_OPS: readonly Op[] = ['start', 'destroy', 'list', 'sysfs', 'meminfo', 'node-memory-tune', 'state'];

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

export function serveDashboard(live: LiveHost, port: number): Promise<Dashboard> {
  const streams = new Set<ServerResponse>();
  let page: string | undefined;
  const server: Server = createServer((req, res) => {
    // A page on another site may make this browser send requests to 127.0.0.1; only requests that
    // name this server as their host (not a rebound DNS name) are served.
    const origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const hostHeader = req.headers.host ?? '';
    if (hostHeader !== origin && hostHeader !== origin.replace('127.0.0.1', 'localhost')) {
      res.writeHead(403).end('forbidden\n');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${origin}`);
    if (req.method === 'GET' && url.pathname === '/') {
      const v = live.view;
      page ??= renderDashboardPage({ dir: v.dir, counters: v.counters, chart: v.chart, knobs: v.knobs, workloads: [...WORKLOADS], numaNodes: live.host.memory.nodes.length, tickMs: TICK_MS });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: history\ndata: ${JSON.stringify(live.samples())}\n\n`);
      res.write(`data: ${JSON.stringify(live.state())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      res.on('error', () => streams.delete(res));
      return;
    }
    const api = /^\/api\/([a-z-]+)$/.exec(url.pathname);
    if (req.method === 'POST' && api && (PAGE_OPS as readonly string[]).includes(api[1]!)) {
      void handleApi(live, api[1] as Op, req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  // One state per tick for every open page; a page that closed is dropped by its 'close'.
  const timer = setInterval(() => {
    if (streams.size === 0 || live.isStopping) return;
    const data = `data: ${JSON.stringify(live.state())}\n\n`;
    for (const s of streams) if (!s.destroyed) s.write(data);
  }, TICK_MS);
  timer.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.on('error', () => {});
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      resolve({
        url,
        close: () => new Promise<void>((res) => {
          clearInterval(timer);
          for (const s of streams) s.destroy();
          server.closeAllConnections();
          server.close(() => res());
        }),
      });
    });
  });
}

async function handleApi(live: LiveHost, op: Op, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body = '';
  let tooBig = false;
  req.setEncoding('utf8');
  req.on('data', (d: string) => {
    body += d;
    if (body.length > MAX_BODY) tooBig = true;
  });
  await new Promise<void>((r) => req.on('end', () => r()).on('error', () => r()).on('close', () => r()));
  const reply = (status: number, value: unknown) => {
    if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };
  if (tooBig) return reply(413, { ok: false, error: { message: 'request too large' } });
  let args: Record<string, unknown>;
  try {
    args = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new Error();
  } catch {
    return reply(400, { ok: false, error: { message: 'the body must be a JSON object' } });
  }
  try {
    reply(200, { ok: true, result: await live.dispatch(op, args) });
  } catch (e) {
    reply(e instanceof ControlError ? 422 : 500, { ok: false, error: e instanceof ControlError ? e.reply : { message: (e as Error).message } });
  }
}
