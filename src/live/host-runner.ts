// host-runner.ts — owns one live host process from start to stop: claim the socket, start the host
// and its knobs, serve the socket and the dashboard, then stop on `host stop`, SIGINT or SIGTERM.

import { unlinkSync } from 'node:fs';
import { DEFAULT_ENGINE, engineDir, type EngineName } from '../engines/engine.ts';
import { claimSocket, serveControl, type ControlServer } from './control-server.ts';
import { serveDashboard, type Dashboard } from './dashboard-server.ts';
import { LiveHost } from './live-host.ts';
import type { HelloInfo, StopResult } from './protocol.ts';

export interface RunHostOptions {
  readonly socket: string;
  readonly memoryBytes: number;
  readonly numaNodes: number;
  readonly swapBytes?: number;
  /** Knobs set at start, in the engine's directory (/sys/kernel/mm/ksm, dksm or uksm). */
  readonly knobs: ReadonlyArray<readonly [string, string]>;
  /** The merge engine (default ksm). */
  readonly engine?: EngineName;
  /** Serve the dashboard on 127.0.0.1:PORT (0: any free port). */
  readonly dashboardPort?: number;
  /** Guest log lines and host notices. */
  readonly print: (line: string) => void;
  /** Called once the socket (and the dashboard) accept requests. */
  readonly onReady?: (hello: HelloInfo) => void;
}

/** Run a host until it is told to stop; returns what it printed as its final counters. */
export async function runHost(o: RunHostOptions): Promise<StopResult> {
  await claimSocket(o.socket);
  const live = await LiveHost.start({ socket: o.socket, memoryBytes: o.memoryBytes, numaNodes: o.numaNodes, swapBytes: o.swapBytes, engine: o.engine, print: o.print });
  let control: ControlServer | undefined;
  let dashboard: Dashboard | undefined;
  let release = (): void => {};
  const stopAsked = new Promise<void>((r) => (release = r));
  const onSignal = () => release();
  try {
    for (const [key, value] of o.knobs) {
      try {
        await live.host.writeFile(engineDir(o.engine ?? DEFAULT_ENGINE) + key, value);
      } catch (e) {
        throw new Error(`--ksm ${key}=${value}: ${(e as Error).message}`);
      }
    }
    control = await serveControl(live, o.socket, () => release());
    if (o.dashboardPort !== undefined) {
      dashboard = await serveDashboard(live, o.dashboardPort);
      live.dashboard = dashboard.url;
    }
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    o.onReady?.(live.hello());
    await stopAsked;
    return await live.stop();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await live.stop();
    await dashboard?.close();
    if (control) {
      await control.close();
      try {
        unlinkSync(o.socket);
      } catch { /* already gone */ }
    }
  }
}
