// run-lock.ts — owns the machine-wide lock that keeps two linux-backend runs from using the real KSM
// knobs at once: a file holding the owner's pid (first line) and a note (the rest: the knob
// snapshot), taken over when that pid is dead — handing the dead owner's note to the new owner.

import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export const DEFAULT_LOCK_PATH = '/tmp/ksmsim-linux-backend.lock';

export interface RunLockOptions {
  readonly path?: string;
  /** How long to wait for a live owner to finish (default 0: fail at once). */
  readonly waitMs?: number;
}

interface LockContent {
  readonly pid: number | null;
  readonly note: string;
}

export class RunLock {
  readonly path: string;
  /** The note of a dead owner whose lock was taken over (e.g. knobs it never restored). */
  readonly inherited: string | undefined;
  private held = true;

  private constructor(path: string, inherited: string | undefined) {
    this.path = path;
    this.inherited = inherited;
  }

  static async acquire(options: RunLockOptions = {}): Promise<RunLock> {
    const path = options.path ?? DEFAULT_LOCK_PATH;
    const deadline = Date.now() + (options.waitMs ?? 0);
    let inherited: string | undefined;
    for (;;) {
      const owner = tryCreate(path);
      if (owner === undefined) return new RunLock(path, inherited);
      if (owner.pid === process.pid) throw new Error(`${path} is already held by this process`);
      if (owner.pid === null || !isAlive(owner.pid)) {
        // A dead owner (or a lock file without a pid): take it over. Two runs starting at the same
        // instant on the same stale lock can both get here; the later unlink is the only window.
        if (owner.note) inherited = owner.note;
        removeIfOwner(path, owner.pid);
        continue;
      }
      if (Date.now() >= deadline) throw new Error(`the real KSM knobs are in use by pid ${owner.pid} (lock file ${path})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Store `note` in the lock file (atomically), for whoever takes the lock over if we die. */
  record(note: string): void {
    const mine = `${this.path}.${process.pid}`;
    writeFileSync(mine, `${process.pid}\n${note}`, { mode: 0o644 });
    renameSync(mine, this.path);
  }

  /** Remove the lock file if it is still ours; safe to call twice. Synchronous (exit handlers). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    removeIfOwner(this.path, process.pid);
  }
}

/** Create the lock file with our pid: undefined on success, else what the existing one holds. */
function tryCreate(path: string): LockContent | undefined {
  // Write the pid to a private file and link(2) it into place, so the lock never exists empty.
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, `${process.pid}\n`, { mode: 0o644 });
  try {
    linkSync(mine, path);
    return undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(mine);
  }
  return readLock(path);
}

function readLock(path: string): LockContent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { pid: null, note: '' };
  }
  const nl = text.indexOf('\n');
  const pid = Number.parseInt(nl < 0 ? text : text.slice(0, nl), 10);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, note: nl < 0 ? '' : text.slice(nl + 1) };
}

function removeIfOwner(path: string, owner: number | null): void {
  if (readLock(path).pid !== owner) return;
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
