// engine.ts — owns the choice of merge engine (ksm | dksm | uksm): its names and parsing, the shared
// handles a guest thread needs to reach the engine, and the hooks an engine gives the machine layer.
//
// The engines share the machine layer — frames, PTEs, the hazard protocol, copy-on-write — and differ
// only in how pages are found and merged: ksm by the ksmd worker (src/ksm), dksm inside the caller's
// madvise (src/engines/dksm), uksm by a whole-system scanner (src/engines/uksm).


export const ENGINE_NAMES = ['ksm', 'dksm', 'uksm'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export const DEFAULT_ENGINE: EngineName = 'ksm';

/** `--engine dksm` → 'dksm'; anything else is an error naming the value. */
export function parseEngine(text: string, flag = '--engine'): EngineName {
  const v = text.trim();
  if ((ENGINE_NAMES as readonly string[]).includes(v)) return v as EngineName;
  throw new Error(`${flag} ${JSON.stringify(text)}: expected one of ${ENGINE_NAMES.join(', ')}`);
}

/** `--engine ksm,dksm,uksm` → the list, in order, without repeats. */
export function parseEngineList(text: string, flag = '--engine'): EngineName[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new Error(`${flag} ${JSON.stringify(text)}: empty engine name in the list`);
  const out: EngineName[] = [];
  for (const p of parts) {
    const e = parseEngine(p, flag);
    if (out.includes(e)) throw new Error(`${flag} ${JSON.stringify(text)}: ${e} is listed twice`);
    out.push(e);
  }
  return out;
}

/** The sysfs directory an engine's knobs live in. */
export function engineDir(name: EngineName): string {
  return name === 'ksm' ? '/sys/kernel/mm/ksm/' : `/sys/kernel/mm/${name}/`;
}

/** What a guest thread is given to reach its host's engine (structured-clonable, shared memory only). */
export type EngineHandles =
  | { readonly name: 'ksm' }
  | { readonly name: 'dksm'; readonly state: SharedArrayBuffer; readonly counters: SharedArrayBuffer }
  | { readonly name: 'uksm'; readonly words: SharedArrayBuffer; readonly counters: SharedArrayBuffer };

/**
 * An engine's say over a madvise(MADV_MERGEABLE | MADV_UNMERGEABLE) on one area: true when the
 * engine handled it (the machine layer then does nothing more), false for the ksm behaviour. The
 * machine layer defines its shape (src/mem/address-space.ts), so it imports nothing from here.
 */
export type { EngineAdvice } from '../mem/address-space.ts';
