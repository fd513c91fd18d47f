// engine-view.ts — owns what a live host shows and accepts for its merge engine: the sysfs directory
// its status, dashboard and `sysfs` command read (ksmd's /sys/kernel/mm/ksm, DKSM's
// /sys/kernel/mm/dksm, UKSM's /sys/kernel/mm/uksm), the knobs a control command may set there, the
// counters drawn over time, and the message for a path that belongs to another engine.

import { ENGINE_NAMES, engineDir, type EngineName } from '../engines/engine.ts';
import { DKSM_FILES } from '../engines/dksm/dksm-files.ts';
import { UKSM_FILES, UKSM_WRITABLE } from '../engines/uksm/uksm-files.ts';
import { KNOBS } from '../ksm/ksm-state.ts';
import type { Host } from '../host/host.ts';

export interface EngineView {
  readonly engine: EngineName;
  /** The engine's sysfs directory, with its trailing slash. */
  readonly dir: string;
  /** Files a root write may change. */
  readonly knobs: readonly string[];
  /** The status table's rows, in order. */
  readonly counters: readonly string[];
  /** The counters drawn over time, in the order of their colours. */
  readonly chart: readonly string[];
}

const KSM_COUNTERS = ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages', 'general_profit', 'full_scans', 'pages_scanned', 'pages_skipped', 'stable_node_chains', 'stable_node_dups'];

const VIEWS: Record<EngineName, EngineView> = {
  ksm: {
    engine: 'ksm', dir: engineDir('ksm'), knobs: [...KNOBS], counters: KSM_COUNTERS,
    chart: ['pages_sharing', 'pages_shared', 'pages_unshared', 'pages_volatile', 'ksm_zero_pages'],
  },
  dksm: {
    engine: 'dksm', dir: engineDir('dksm'), knobs: ['run'], counters: DKSM_FILES.filter((f) => f !== 'run'),
    chart: ['pages_merged', 'pages_scanned', 'merging_failed', 'hashtable_entries'],
  },
  uksm: {
    engine: 'uksm', dir: engineDir('uksm'), knobs: [...UKSM_WRITABLE], counters: [...UKSM_FILES.filter((f) => !(UKSM_WRITABLE as readonly string[]).includes(f)), 'ksm_zero_pages'],
    chart: ['pages_sharing', 'pages_shared', 'pages_unshared', 'ksm_zero_pages'],
  },
};

export function engineView(name: EngineName): EngineView {
  return VIEWS[name];
}

/** The engine's files, name → value (no newline). */
export function engineFiles(host: Host): Record<string, string> {
  return host.engine.name === 'ksm' ? host.files.snapshot() : host.engine.snapshot!();
}

/** The numeric files, for the samples the dashboard charts; under UKSM also ksm_zero_pages (its KsmZeroPages, in pages). */
export function engineCounters(host: Host): Record<string, number> {
  if (host.engine.name === 'ksm') return host.files.counters();
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(engineFiles(host))) if (/^\d+$/.test(v)) out[k] = Number(v);
  if (host.engine.name === 'uksm') out.ksm_zero_pages = host.ksm.get('ksm_zero_pages');
  return out;
}

/**
 * Why a control command may not use `path` on a host running `engine`, or undefined if it may:
 * another engine's directory (it does not exist, or under DKSM ksm's files exist but no ksmd reads
 * them, so a write would change nothing), or a bare name that is not one of this engine's files.
 */
export function otherEngineProblem(engine: EngineName, path: string, name: string | undefined, writing: boolean): string | undefined {
  const view = VIEWS[engine];
  const theirs = ENGINE_NAMES.find((e) => e !== engine && (path.startsWith(engineDir(e)) || path === engineDir(e).slice(0, -1)));
  const ours = `${engine}'s knobs are in ${view.dir}: ${view.knobs.join(', ')}`;
  if (theirs) {
    if (engine === 'dksm' && theirs === 'ksm') {
      return writing ? `this host runs the dksm engine: ksmd does not run, so a write to ${engineDir('ksm')} would change nothing; ${ours}` : undefined;
    }
    return `this host runs the ${engine} engine: ${engineDir(theirs)} belongs to ${theirs}${engine === 'uksm' || theirs !== 'ksm' ? ' and does not exist here' : ''}; ${ours}`;
  }
  if (name !== undefined && path.startsWith(view.dir)) {
    const owner = ENGINE_NAMES.find((e) => e !== engine && VIEWS[e].knobs.concat(VIEWS[e].counters).includes(name));
    if (owner && !view.knobs.concat(view.counters).includes(name)) return `${name} is a file of ${owner} (${engineDir(owner)}), and this host runs the ${engine} engine; ${ours}`;
  }
  return undefined;
}
