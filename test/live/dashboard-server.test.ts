// dashboard-server.test.ts — the dashboard's HTTP side without a browser: loopback only, the Host
// check against rebound DNS names, the event stream, and what the page may ask the host to do.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../../src/live/control-client.ts';
import { runHost } from '../../src/live/host-runner.ts';
import type { HelloInfo, StopResult } from '../../src/live/protocol.ts';

interface Http { status: number; body: string }

function http(url: string, opts: { method?: string; host?: string; body?: string } = {}): Promise<Http> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('live host dashboard server', function () {
  this.timeout(60_000);
  let dir: string;
  let socket: string;
  let hostRun: Promise<StopResult>;
  let hello: HelloInfo;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksmsim-dash-http-'));
    socket = join(dir, 'host.sock');
    hello = await new Promise<HelloInfo>((resolve, reject) => {
      hostRun = runHost({ socket, memoryBytes: 16 * 2 ** 20, numaNodes: 1, knobs: [], dashboardPort: 0, print: () => {}, onReady: resolve });
      hostRun.catch(reject);
    });
  });

  after(async () => {
    await request(socket, 'stop').catch(() => {});
    await hostRun?.catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page on 127.0.0.1 with no external resources', async () => {
    expect(hello.dashboard).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await http(hello.dashboard!);
    expect(r.status).to.equal(200);
    expect(r.body).to.contain('<title>ksmsim live host</title>');
    expect(r.body).to.not.match(/(src|href)="(https?:)?\/\//);
  });

  it('refuses a request naming another host (a rebound DNS name)', async () => {
    const r = await http(hello.dashboard!, { host: 'attacker.example:80' });
    expect(r.status).to.equal(403);
  });

  it('streams the history, then the host state again and again', async () => {
    const url = new URL('events', hello.dashboard!);
    const events = await new Promise<string[]>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname }, (res) => {
        let buf = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          const got = buf.split('\n\n').filter((e) => e.trim());
          if (got.length >= 4) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(events[0]).to.match(/^event: history\ndata: \[/);
    for (const e of events.slice(1, 4)) {
      const state = JSON.parse(e.replace(/^data: /, '')) as { hello: HelloInfo; ksm: Record<string, string> };
      expect(state.hello.pid).to.equal(process.pid);
      expect(state.ksm).to.have.property('pages_sharing');
    }
  });

  it('carries out the page\'s requests and returns the kernel\'s error', async () => {
    const ok = await http(new URL('api/sysfs', hello.dashboard!).href, { method: 'POST', body: JSON.stringify({ file: 'pages_to_scan', value: '321' }) });
    expect(JSON.parse(ok.body)).to.deep.equal({ ok: true, result: { file: '/sys/kernel/mm/ksm/pages_to_scan', value: '321' } });
    const bad = await http(new URL('api/sysfs', hello.dashboard!).href, { method: 'POST', body: JSON.stringify({ file: 'max_page_sharing', value: '1' }) });
    expect(bad.status).to.equal(422);
    expect(JSON.parse(bad.body)).to.deep.equal({ ok: false, error: { message: '/sys/kernel/mm/ksm/max_page_sharing: write error: Invalid argument', errno: 'EINVAL' } });
  });

  it('does not let the page stop the host', async () => {
    const r = await http(new URL('api/stop', hello.dashboard!).href, { method: 'POST', body: '{}' });
    expect(r.status).to.equal(404);
    expect(((await request(socket, 'hello')) as HelloInfo).pid).to.equal(process.pid);
  });
});
