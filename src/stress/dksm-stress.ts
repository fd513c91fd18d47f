// dksm-stress.ts — owns the DKSM stress check: guests (in this thread, interleaved by a seeded PRNG)
// fill regions from a few shared contents, advise them, write, re-advise, remap and verify every
// byte against a shadow copy, then account for every frame. A byte that differs from the shadow is
// named "DKSM writable-region hazard" when another guest wrote that shared frame in place through
// its writable first-page PTE (the patch's documented hazard), and is a protocol violation otherwise.
// With read-only regions (the patch's intended use) there must be neither.
//
// DKSM merges in the caller's madvise, under one lock, so in-process interleaving at syscall
// granularity covers its orderings; the cross-thread part (an owner writing while another guest
// compares) is the hazard itself, which this check names rather than excludes.

import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from '../mem/constants.ts';
import { AddressSpace } from '../mem/address-space.ts';
import { createGuestSpaceHandles } from '../mem/guest-control.ts';
import { PhysicalMemory } from '../mem/physical-memory.ts';
import { PTE_KSM, PTE_PRESENT, PTE_WRITABLE, PTE_ZERO, pteFrame } from '../mem/pte.ts';
import { Prng, mixSeed } from '../platform/prng.ts';
import { DksmState } from '../engines/dksm/dksm-state.ts';
import { DksmFiles, DKSM_DIR } from '../engines/dksm/dksm-files.ts';
import { DksmMerger } from '../engines/dksm/dksm-merge.ts';
import { DKSM_HAZARD } from '../engines/dksm/dksm-hazard.ts';

export interface DksmStressOptions {
  readonly guests: number;
  readonly pages: number;
  /** Distinct page contents the regions are filled from (fewer: more merging). */
  readonly contents: number;
  readonly steps: number;
  readonly seed: number;
  /** Make each region read-only before advising it (DKSM's intended use). */
  readonly readonly: boolean;
}

export interface DksmFinding {
  readonly what: string;
  readonly guest: number;
  readonly address: number;
  readonly expected: number;
  readonly actual: number;
  readonly step: number;
}

export interface DksmStressReport {
  readonly seed: number;
  readonly steps: number;
  readonly pages_merged: number;
  readonly merging_failed: number;
  readonly writes: number;
  readonly readvises: number;
  readonly remaps: number;
  /** Bytes that differed because of DKSM's writable-region hazard (named, not violations). */
  readonly hazards: DksmFinding[];
  readonly violations: DksmFinding[];
  readonly leaked_frames: number;
  readonly ok: boolean;
}

interface Guest {
  space: AddressSpace;
  addr: number;
  shadow: Uint8Array;
}

const WRITABLE_SHARED = PTE_PRESENT | PTE_KSM | PTE_WRITABLE;

export function runDksmStress(o: DksmStressOptions): DksmStressReport {
  const rng = new Prng(mixSeed(o.seed, 0xd45));
  const mem = PhysicalMemory.create({ bytes: Math.max(4 * 2 ** 20, 4 * o.guests * o.pages * PAGE_SIZE), numaNodes: 1 });
  const state = DksmState.create(mem.totalFrames);
  const files = new DksmFiles(state);
  files.write(DKSM_DIR + 'run', '1', { root: true });
  const merger = new DksmMerger(state, mem);
  const contents = Array.from({ length: o.contents }, () => rng.fill(new Uint8Array(PAGE_SIZE)));
  // Tags of frames a guest wrote in place while another mapping shared them, with the writing
  // pages ("pid:vpage": a guest's own identical pages share a frame too).
  const tainted = new Map<number, Set<string>>();
  const hazards: DksmFinding[] = [];
  const violations: DksmFinding[] = [];
  let writes = 0;
  let readvises = 0;
  let remaps = 0;
  let step = 0;

  const fill = (g: Guest): void => {
    const len = o.pages * PAGE_SIZE;
    g.addr = g.space.mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    g.shadow = new Uint8Array(len);
    for (let p = 0; p < o.pages; p++) {
      const c = contents[rng.below(contents.length)]!;
      g.space.write(g.addr + p * PAGE_SIZE, c);
      g.shadow.set(c, p * PAGE_SIZE);
    }
    if (o.readonly) g.space.mprotect(g.addr, len, PROT_READ);
    g.space.madvise(g.addr, len, MADV_MERGEABLE);
  };
  const guests: Guest[] = Array.from({ length: o.guests }, (_, i) => {
    const space = new AddressSpace(createGuestSpaceHandles(100 + i, 0, 4 * o.pages + 1024), mem, {
      addKsmZeroPages: () => {}, engineAdvice: (s, a, adv) => merger.advise(s, a, adv),
    });
    const g: Guest = { space, addr: 0, shadow: new Uint8Array(0) };
    fill(g);
    return g;
  });

  const verifyPage = (g: Guest, p: number): void => {
    const got = g.space.read(g.addr + p * PAGE_SIZE, PAGE_SIZE);
    for (let i = 0; i < PAGE_SIZE; i++) {
      const want = g.shadow[p * PAGE_SIZE + i]!;
      if (got[i] === want) continue;
      const pte = Atomics.load(g.space.pt, g.addr / PAGE_SIZE + p);
      const writers = tainted.get(mem.frameFlags(pteFrame(pte)));
      const self = `${g.space.pid}:${g.addr / PAGE_SIZE + p}`;
      const finding = { guest: g.space.pid, address: g.addr + p * PAGE_SIZE + i, expected: want, actual: got[i]!, step };
      if (writers && [...writers].some((w) => w !== self)) hazards.push({ what: DKSM_HAZARD, ...finding });
      else violations.push({ what: 'byte differs from the shadow', ...finding });
      // Take the new bytes as the shadow: one finding per divergence, not one per later read.
      g.shadow.set(got, p * PAGE_SIZE);
      return;
    }
  };

  for (step = 0; step < o.steps; step++) {
    const g = guests[rng.below(guests.length)]!;
    const p = rng.below(o.pages);
    const op = rng.below(10);
    if (op < 4) {
      verifyPage(g, p);
    } else if (op < 7 && !o.readonly) {
      // Check the page first: a copy-on-write would carry bytes another guest wrote into the shared
      // frame over to a private copy, where they could no longer be traced to the hazard.
      verifyPage(g, p);
      const off = rng.below(PAGE_SIZE - 8);
      const bytes = rng.fill(new Uint8Array(8));
      g.space.write(g.addr + p * PAGE_SIZE + off, bytes);
      g.shadow.set(bytes, p * PAGE_SIZE + off);
      writes++;
      const pte = Atomics.load(g.space.pt, g.addr / PAGE_SIZE + p);
      const f = pteFrame(pte);
      if ((pte & WRITABLE_SHARED) === WRITABLE_SHARED && mem.mapcount(f) > 1) {
        const tag = mem.frameFlags(f);
        if (!tainted.has(tag)) tainted.set(tag, new Set());
        tainted.get(tag)!.add(`${g.space.pid}:${g.addr / PAGE_SIZE + p}`);
      }
    } else if (op < 9) {
      g.space.madvise(g.addr, o.pages * PAGE_SIZE, MADV_MERGEABLE);
      readvises++;
    } else {
      for (let q = 0; q < o.pages; q++) verifyPage(g, q);
      g.space.munmap(g.addr, o.pages * PAGE_SIZE);
      fill(g);
      remaps++;
    }
  }
  for (const g of guests) for (let q = 0; q < o.pages; q++) verifyPage(g, q);

  // Every frame is free or mapped: count the distinct frames the page tables map.
  const mapped = new Set<number>();
  for (const g of guests) {
    for (let q = 0; q < g.space.vaPages; q++) {
      const pte = Atomics.load(g.space.pt, q);
      if ((pte & PTE_PRESENT) && !(pte & PTE_ZERO)) mapped.add(pteFrame(pte));
    }
  }
  const leaked = mem.usableFrames(0) - mem.freeFrames() - mapped.size;
  const report: DksmStressReport = {
    seed: o.seed, steps: o.steps,
    pages_merged: state.counter('pages_merged'), merging_failed: state.counter('merging_failed'),
    writes, readvises, remaps, hazards, violations, leaked_frames: leaked,
    ok: violations.length === 0 && leaked === 0 && (!o.readonly || hazards.length === 0),
  };
  for (const g of guests) g.space.teardown();
  return report;
}
