// engine-runtime.ts — owns building an engine on the host (its shared state, its files) and attaching
// to it from a guest thread (its madvise hook, the same files), from EngineHandles.

import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { KsmFiles, type Caller } from '../ksm/sysfs.ts';
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
      files: (ksm) => new EngineFiles(ksm, new DksmFiles(dksm), HOST_OWNER),
      guestExited: (pid) => void dksm.releaseIfOwner(pid),
      snapshot: () => new DksmFiles(dksm).snapshot(),
    };
  }
  if (name === 'uksm') throw new Error('engine uksm is not built yet');
  return { name, handles: { name }, files: (ksm) => new KsmFiles(ksm), guestExited: () => {} };
}

/** A guest thread's side: its madvise hook and its files. */
export function attachGuestEngine(handles: EngineHandles | undefined, memory: PhysicalMemory, ksm: KsmState, pid: number): { advice?: EngineAdvice; files: KsmFiles } {
  if (handles?.name === 'dksm') {
    const state = DksmState.attach(handles);
    const merger = new DksmMerger(state, memory, () => ksm.get('thp_enabled'));
    return { advice: (space, area, advice) => merger.advise(space, area, advice), files: new EngineFiles(ksm, new DksmFiles(state), pid) };
  }
  return { files: new KsmFiles(ksm) };
}

/** KsmFiles with an engine's own directory routed to it. */
class EngineFiles extends KsmFiles {
  private readonly own: DksmFiles;
  private readonly owner: number;

  constructor(ksm: KsmState, own: DksmFiles, owner: number) {
    super(ksm);
    this.own = own;
    this.owner = owner;
  }

  override read(path: string, caller: Caller): string {
    return this.own.owns(path) ? this.own.read(path) : super.read(path, caller);
  }

  override writeSync(path: string, text: string, caller: Caller): void {
    if (this.own.owns(path)) this.own.write(path, text, { root: caller.root, owner: this.owner });
    else super.writeSync(path, text, caller);
  }

  override async write(path: string, text: string, caller: Caller): Promise<void> {
    if (this.own.owns(path)) this.own.write(path, text, { root: caller.root, owner: this.owner });
    else await super.write(path, text, caller);
  }

}
