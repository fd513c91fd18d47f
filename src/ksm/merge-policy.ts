// merge-policy.ts — owns the side-channel mitigations' say over merging (docs/security.md): merge
// domains (VMware-style salting), zero-only (Windows 1903+), and VUsion's "merged and unmerged pages
// behave alike". One module that every merge engine asks, so a mitigation is written once.
//
// How each engine uses it:
//  - domains: a guest's domain is a word in its control block (CTL_KSM_DOMAIN, set by the host at
//    launch). Engines fold it into the key under which they look pages up (ksm: the tree's nid, as
//    merge_across_nodes=0 keeps NUMA nodes apart; uksm, dksm: their hash keys), so a page is only
//    ever compared with pages of its own domain, and then merged only if both sides agree (mayPair).
//  - zero-only: contentMayMerge(frame) — only a page of one repeated 0x00 or 0xff byte may become
//    or join a shared page. Engines ask it of the write-protected page, whose bytes are fixed.
//  - vusion: a page the engine looked at and did not merge is write-protected (protectUnmerged), and
//    the guest's write fault copies such a page exactly as it copies a KSM page (SpaceHooks
//    .copyOnKsmdWriteProtect): a write costs a fault and a copy whether or not the page was merged.

import { BANK_MASK, BANK_SHIFT, PAGE_SHIFT, PAGE_SIZE } from '../mem/constants.ts';
import { CTL_KSM_DOMAIN } from '../mem/guest-control.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { PTE_KSM, PTE_PRESENT, PTE_SWAPPED, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO } from '../mem/pte.ts';
import { Prng } from '../platform/prng.ts';
import type { KsmState } from './ksm-state.ts';

export const MITIGATIONS = ['none', 'domains', 'vusion', 'zero-only'] as const;
export type Mitigation = (typeof MITIGATIONS)[number];

/**
 * Bits of KsmState's 'mitigation' slot. The domains themselves are the guests' domain words; the
 * DOMAINS bit only says the host has any, for engines that must then keep shared content fixed (DKSM).
 */
export const MITIGATION_NONE = 0;
export const MITIGATION_VUSION = 1;
export const MITIGATION_ZERO_ONLY = 2;
export const MITIGATION_DOMAINS = 4;

/** NUMA node ids stay below this (MAX_NUMA_NODES is 64), so node + domain × stride never collide. */
export const NID_DOMAIN_STRIDE = 1024;
/** Domains are small positive integers (0 is the default domain every unlisted guest is in). */
export const MAX_DOMAINS = 2 ** 20;

export function parseMitigation(text: string, flag = '--mitigation'): Mitigation {
  const v = text.trim();
  if ((MITIGATIONS as readonly string[]).includes(v)) return v as Mitigation;
  throw new Error(`${flag} ${JSON.stringify(text)}: expected one of ${MITIGATIONS.join(', ')}`);
}

/** The KsmState slot value for a mitigation, and whether the host puts guests in domains. */
export function mitigationSlot(m: Mitigation, domains = m === 'domains'): number {
  const mode = m === 'vusion' ? MITIGATION_VUSION : m === 'zero-only' ? MITIGATION_ZERO_ONLY : MITIGATION_NONE;
  return mode | (domains ? MITIGATION_DOMAINS : 0);
}

/**
 * `--ksm-domains web.0=a,web.1=a,db.0=b` → guest name → domain number (1, 2, … in order of first
 * appearance; unlisted guests stay in domain 0). Errors name the bad item.
 */
export function parseKsmDomains(text: string, flag = '--ksm-domains'): Map<string, number> {
  const out = new Map<string, number>();
  const ids = new Map<string, number>();
  for (const item of text.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(item);
    if (!m) throw new Error(`${flag} ${JSON.stringify(text)}: ${JSON.stringify(item)} is not GUEST=DOMAIN`);
    const [, guest, domain] = m as unknown as [string, string, string];
    if (out.has(guest)) throw new Error(`${flag} ${JSON.stringify(text)}: guest ${guest} is listed twice`);
    if (!ids.has(domain)) ids.set(domain, ids.size + 1);
    out.set(guest, ids.get(domain)!);
  }
  return out;
}

export class MergePolicy {
  private readonly memory: PhysicalMemory;
  private mode = MITIGATION_NONE;
  /** vusion: where the next shared frame is placed (seeded, so a run replays). */
  private readonly placement = new Prng(0x7a51);
  private readonly hints: Int32Array;

  constructor(memory: PhysicalMemory) {
    this.memory = memory;
    this.hints = new Int32Array(memory.nodes.length);
  }

  /** Re-read the host's mitigation (fixed at host start; engines call this once per batch). */
  load(state: KsmState): void {
    this.mode = state.get('mitigation');
  }

  get vusion(): boolean {
    return (this.mode & MITIGATION_VUSION) !== 0;
  }

  get zeroOnly(): boolean {
    return (this.mode & MITIGATION_ZERO_ONLY) !== 0;
  }

  /** The host has merge domains (some guest may be in a domain other than 0). */
  get domains(): boolean {
    return (this.mode & MITIGATION_DOMAINS) !== 0;
  }

  /**
   * A 32-bit hash key salted with the guest's domain (DKSM, UKSM): equal content in two domains
   * files under two keys. The murmur3 finaliser is a bijection, so two domains never share a salt.
   */
  salt(key: number, ctl: Int32Array): number {
    const d = this.domainOf(ctl);
    if (d === 0) return key;
    let h = Math.imul(d ^ (d >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (key ^ h ^ (h >>> 16)) | 0;
  }

  /** The guest's merge domain (0 unless the host put it in another). */
  domainOf(ctl: Int32Array): number {
    return Atomics.load(ctl, CTL_KSM_DOMAIN);
  }

  /** ksm's tree key for a page on NUMA node id `nodeNid` of the guest with control block `ctl`. */
  nid(nodeNid: number, ctl: Int32Array): number {
    return nodeNid + this.domainOf(ctl) * NID_DOMAIN_STRIDE;
  }

  /** May pages of these two guests share one frame? (Engines that key by domain check it again at the merge.) */
  mayPair(ctlA: Int32Array, ctlB: Int32Array): boolean {
    return this.domainOf(ctlA) === this.domainOf(ctlB);
  }

  /** zero-only: the frame holds one byte value, 0x00 or 0xff, 4096 times; any content otherwise. */
  contentMayMerge(frame: number): boolean {
    if (!this.zeroOnly) return true;
    const bank = this.memory.bankI32[frame >>> BANK_SHIFT]!;
    const from = ((frame & BANK_MASK) << PAGE_SHIFT) >> 2;
    const first = bank[from]!;
    if (first !== 0 && first !== -1) return false;
    const end = from + PAGE_SIZE / 4;
    for (let i = from + 1; i < end; i++) if (bank[i] !== first) return false;
    return true;
  }

  /**
   * vusion: a frame for a new shared page, on `node`, taken from a random place in the node's free
   * bitmap (VUsion re-randomises shared frames: where a shared page lands says nothing of where its
   * first owner's page was). -1 if the node has no free frame. Content and metadata are the caller's.
   */
  freshSharedFrame(node: number): number {
    const r = this.memory.nodes[node]!;
    const words = Math.max(1, r.frameCount >>> 5);
    this.hints[node] = (r.firstFrame >>> 5) + this.placement.below(words);
    return this.memory.allocUninitialized(node, this.hints);
  }

  /**
   * vusion: write-protect page `vpage` of page table `pt` if it is still a writable private page
   * the engine has just looked at and not merged, so its next write faults and copies (VUsion's
   * copy-on-access for unmerged pages). No wait for a writer already inside the page: its write
   * lands in its own private frame, and only the next one has to fault.
   */
  protectUnmerged(pt: Int32Array, vpage: number): void {
    if (!this.vusion) return;
    const pte = Atomics.load(pt, vpage);
    if ((pte & (PTE_PRESENT | PTE_ZERO | PTE_SWAPPED | PTE_WRITABLE)) !== (PTE_PRESENT | PTE_WRITABLE)) return;
    // A private page: WP_KSMD, so the fault copies it (copyOnKsmdWriteProtect). A writable KSM page
    // (a DKSM table entry's first page) only loses WRITABLE: its fault is copy-on-write already.
    Atomics.compareExchange(pt, vpage, pte, pte & PTE_KSM ? pte & ~PTE_WRITABLE : (pte & ~PTE_WRITABLE) | PTE_WP_KSMD);
  }
}
