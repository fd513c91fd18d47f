// model.ts — owns the deterministic model of the merge protocol (docs/protocol.md): guests and ksmd as
// generator state machines over one small shared memory, each `yield` one shared-memory operation
// (an Atomics load, store, exchange, compare-and-exchange or add on a PTE, a hazard word, a mapcount
// or a frame tag; a frame access; an allocator step). A scheduler (explore.ts) picks which actor
// takes the next step, so every interleaving at the granularity of single Atomics operations is
// reachable and replays from its choices.
//
// The model is a transcription of the real code paths, step by step. It is one class, SimModel,
// built in layers (each a class over the one before), one file per part of the real code it mirrors:
//   model-memory.ts      shared memory, allocator, in-flight record, swap (src/mem/space-*.ts)
//   model-thp.ts         the guest's huge fault, MADV_COLLAPSE and PMD split (src/mem/space-thp.ts)
//   model-guest.ts       the guest actor (src/mem/space-access.ts, address-space.ts)
//   model-ksmd.ts        the ksmd actor and run=2 (src/ksm/ksm-engine.ts)
//   model-thp-ksmd.ts    ksmd's split before write-protect, khugepaged (src/mem/thp.ts, src/ksm/khugepaged.ts)
//   model-host.ts        reclaim after a guest kill, repair after a ksmd kill, sysfs writers
//   model-invariants.ts  the invariants (check, checkFinal); SimModel is the whole model
// Each part's header transcribes its real code step by step (→ names the real code). This file is
// the facade explore.ts and the tests import.
//
//  Not modelled: max_page_sharing chains (dups are separate nodes here; the chain-hint lookup takes
//  the same getNodeFrame → compare → keep-the-reference steps as any other candidate, and the
//  chain prune only loads), NUMA nids, smart_scan, mprotect's NOACCESS bit (read-only private
//  pages are drawn in the initial memory instead: what mprotect(PROT_READ) or a run=2 leaves),
//  VMAs (every page of the model is in one mergeable area), the checksum's hash (the content value
//  stands for it), sysfs requests other than run, a writer's deadline; with cfg.thp (--thp always):
//  a block of 512 pages (the model's is SIM_HPAGE = 4, model-memory.ts), enabled=madvise, UKSM's
//  split, NUMA placement of folios.
//  Step kinds (STEP_KINDS, the report's steps_by_kind) count each step under the operation its
//  actor is in.

export * from './model-memory.ts';
export { SimModel } from './model-invariants.ts';
export { swingHappened } from '../../mem/space-inflight.ts';
