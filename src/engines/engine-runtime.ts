// engine-runtime.ts — owns building an engine on the host (its shared state, its files) and attaching
// to it from a guest thread (its madvise hook, the same files), from EngineHandles.

import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { KSM_DIR, KsmFiles, type Caller } from '../ksm/sysfs.ts';
import { ErrnoError } from '../mem/errno.ts';
import { MADV_MERGEABLE } from '../mem/constants.ts';
import type { GuestSpaceHandles } from '../mem/guest-control.ts';
import { UksmFiles } from './uksm/uksm-files.ts';
import { UksmScanner } from './uksm/uksm-scanner.ts';
import { UksmState } from './uksm/uksm-state.ts';
import type { KsmState } from '../ksm/ksm-state.ts';
import { DksmFiles } from './dksm/dksm-files.ts';
import { DksmMerger } from './dksm/dksm-merge.ts';
import { DksmState, HOST_OWNER } from './dksm/dksm-state.ts';
import type { EngineAdvice, EngineHandles, EngineName } from './engine.ts';

/** The host's side of an engine. */
export interface HostEngine {
  readonly name: EngineName;
  readonly handles: EngineHandles;
  readonly dksm?: DksmState;
  readonly uksm?: UksmState;
  /** Start the engine's own scanner, if it has one (uksm), over the host's running guests. */
  attach?(ctx: { ksm: KsmState; guests: () => readonly GuestSpaceHandles[] }): UksmScanner;
  stop?(): void;
  /** Free what the engine queued for guests that have all exited (UKSM's deferred frees). */
  drain?(): void;
  /** CPU seconds this engine has spent merging so far, wherever it ran (undefined: ksm, see ksmd; null: unmeasurable). */
  mergeCpuSeconds?(): number | null;
  /** Pages this engine has considered for merging (DKSM: pages_scanned), when it is not "every mergeable page". */
  consideredPages?(): number;
  /** The file tree with this engine's directory in it. */
  files(ksm: KsmState): KsmFiles;
  /** A guest's thread has ended: release whatever it held (the DKSM lock). */
  guestExited(pid: number): void;
  /** The engine's own files, name → value (no newline); absent for ksm. */
  snapshot?(): Record<string, string>;
}

export function createHostEngine(name: EngineName, memory: PhysicalMemory): HostEngine {
  if (name === 'dksm') {
    const dksm = DksmState.create(memory.totalFrames);
    return {
      name,
      handles: { name, ...dksm.handles },
      dksm,
      files: (ksm) => new EngineFiles(ksm, memory, dksmTree(new DksmFiles(dksm)), HOST_OWNER),
      guestExited: (pid) => void dksm.releaseIfOwner(pid),
      snapshot: () => new DksmFiles(dksm).snapshot(),
      mergeCpuSeconds: () => dksm.cpuMicros() / 1e6,
      consideredPages: () => dksm.counter('pages_scanned'),
    };
  }
  if (name === 'uksm') {
    const uksm = UksmState.create();
    let scanner: UksmScanner | undefined;
    return {
      name,
      handles: { name, ...uksm.handles },
      uksm,
      files: (ksm) => new EngineFiles(ksm, memory, uksmTree(new UksmFiles(uksm, memory, ksm)), HOST_OWNER),
      guestExited: () => {},
      snapshot: () => new UksmFiles(uksm).snapshot(),
      attach: (ctx) => {
        scanner = new UksmScanner(uksm, memory, ctx.ksm, ctx.guests);
        scanner.start();
        return scanner;
      },
      stop: () => scanner?.stop(),
      drain: () => scanner?.merger.processDeferred(),
      mergeCpuSeconds: () => (scanner ? (scanner.cpuMs === null ? null : scanner.cpuMs / 1000) : 0),
    };
  }
  return { name, handles: { name }, files: (ksm) => new KsmFiles(ksm, memory), guestExited: () => {} };
}

/** A guest thread's side: its madvise hook and its files. */
export function attachGuestEngine(handles: EngineHandles | undefined, memory: PhysicalMemory, ksm: KsmState, pid: number): { advice?: EngineAdvice; mergeableAtMmap?: boolean; files: KsmFiles } {
  if (handles?.name === 'dksm') {
    const state = DksmState.attach(handles);
    const merger = new DksmMerger(state, memory);
    return { advice: (space, area, advice) => merger.advise(space, area, advice), files: new EngineFiles(ksm, memory, dksmTree(new DksmFiles(state)), pid) };
  }
  if (handles?.name === 'uksm') {
    // MADV_MERGEABLE is ignored (everything already is); MADV_UNMERGEABLE takes ksm's path:
    // unmerge the area and clear VM_MERGEABLE, which also removes it from the scan.
    return {
      advice: (_space, _area, advice) => advice === MADV_MERGEABLE,
      mergeableAtMmap: true,
      files: new EngineFiles(ksm, memory, uksmTree(new UksmFiles(UksmState.attach(handles), memory, ksm)), pid),
    };
  }
  return { files: new KsmFiles(ksm, memory) };
}

/** An engine's own file tree, as EngineFiles routes to it. */
interface OwnTree {
  owns(path: string): boolean;
  read(path: string): string;
  write(path: string, text: string, root: boolean, owner: number): void;
  /** Paths of the ksm tree this engine hides (uksm: /sys/kernel/mm/ksm does not exist). */
  hides(path: string): boolean;
}

function dksmTree(f: DksmFiles): OwnTree {
  return { owns: (p) => f.owns(p), read: (p) => f.read(p), write: (p, t, root, owner) => f.write(p, t, { root, owner }), hides: () => false };
}

function uksmTree(f: UksmFiles): OwnTree {
  return { owns: (p) => f.owns(p), read: (p) => f.read(p), write: (p, t, root) => f.write(p, t, root), hides: (p) => p.startsWith(KSM_DIR) || p === KSM_DIR.slice(0, -1) };
}

/** KsmFiles with an engine's own directory routed to it. */
class EngineFiles extends KsmFiles {
  private readonly own: OwnTree;
  private readonly owner: number;

  constructor(ksm: KsmState, memory: PhysicalMemory, own: OwnTree, owner: number) {
    super(ksm, memory);
    this.own = own;
    this.owner = owner;
  }

  override read(path: string, caller: Caller): string {
    if (this.own.hides(path)) throw new ErrnoError('ENOENT', 'open', path);
    return this.own.owns(path) ? this.own.read(path) : super.read(path, caller);
  }

  override writeSync(path: string, text: string, caller: Caller): void {
    if (this.own.hides(path)) throw new ErrnoError('ENOENT', 'open', path);
    if (this.own.owns(path)) this.own.write(path, text, caller.root, this.owner);
    else super.writeSync(path, text, caller);
  }

  override async write(path: string, text: string, caller: Caller): Promise<void> {
    if (this.own.hides(path)) throw new ErrnoError('ENOENT', 'open', path);
    if (this.own.owns(path)) this.own.write(path, text, caller.root, this.owner);
    else await super.write(path, text, caller);
  }
}
