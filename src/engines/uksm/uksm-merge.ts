// uksm-merge.ts — owns UKSM's merge of one page: zero pages into the zero page (KsmZeroPages), else
// a partial-hash lookup among shared pages, then among this round's unshared pages. The merge
// protocol is ksmd's (docs/protocol.md): write-protect (CAS to WP_KSMD), wait until the guest is off
// the page (the hazard handshake), compare the full 4 KiB, CAS from the exact write-protected value.
//
// Races (argued here as in mm/ksm.c):
//  - A merge that does not happen leaves the page write-protected (never CAS W back in: that could
//    undo a concurrent mprotect(PROT_READ)); the next write faults and takes write access back.
//  - A guest writing the page during the merge: its write fault clears WP_KSMD (the reuse CAS in
//    AddressSpace.writeFaultOrThrow), so the final CAS fails and nothing is lost. A guest that loaded
//    the writable PTE before the write-protect is caught by the hazard wait before the compare.
//  - A shared frame freed (its last mapping dropped) and reused: taken only by tryGetFrame (fails at
//    mapcount 0) and then checked against the tag its stable entry recorded (PhysicalMemory.free
//    clears the tag before the free bit; only this scanner tags frames under --engine uksm, with
//    never-reused tags). The tag lives in the entry, not in a map by frame number: a frame reused
//    as a new shared frame must not revive the old entry (the simulation found pages_shared
//    counting it twice when it did).
//  - Two unshared pages: no break_cow. The scanner copies the write-protected candidate into a new
//    frame K (its own reference: mapcount 1), then merges the candidate and the current page into K
//    each by the protocol above; K is freed with the scanner's reference if neither merge held.
//  - The replaced private frame: freed at once if the guest is off the page, else queued until it is
//    (or until the guest exited), as ksmd's releaseAfterReplace. The scanner runs on the host's
//    thread, the same one that reclaims dead guests, so it never runs inside a reclaim.
//  - The partial hash reads frames with no reference; it only chooses candidates.

import { ZERO_FRAME } from '../../mem/constants.ts';
import { CTL_HAZARD, CTL_KSM_ZERO_PAGES, CTL_STATE, GUEST_EXITED, hazardPage, hazardWrite } from '../../mem/guest-control.ts';
import type { PhysicalMemory } from '../../mem/physical-memory.ts';
import {
  PTE_HUGE, PTE_KSM, PTE_KSM_ZERO, PTE_MERGEABLE, PTE_NOACCESS, PTE_PRESENT, PTE_WP_KSMD, PTE_WRITABLE, PTE_ZERO, isPrivateFrame, makePte, pteFrame,
} from '../../mem/pte.ts';
import { SPLIT_BUSY, inHugeBlock, splitHugeBlock } from '../../mem/thp.ts';
import { MergePolicy } from '../../ksm/merge-policy.ts';
import { PartialHasher, StrengthController } from './partial-hash.ts';

const SHOOTDOWN_SPINS = 256;

/** What the merger needs of a guest: its page table and control words. */
export interface GuestView {
  readonly pid: number;
  readonly pt: Int32Array;
  readonly ctl: Int32Array;
  readonly homeNode: number;
}

export interface UksmMergeStats {
  merged: number;
  zeroMerged: number;
  collisions: number;
  hashed: number;
}

/** A shared frame as the stable lists file it: the frame and the tag this scanner gave it. */
interface StableEntry {
  readonly frame: number;
  readonly tag: number;
  /** The merge domain of its pages (src/ksm/merge-policy.ts), to file it under the right key again on a rehash. */
  readonly domain: number;
}

interface Unshared {
  g: GuestView;
  p: number;
}

export class UksmMerger {
  readonly hasher: PartialHasher;
  readonly strength: StrengthController;
  readonly stats: UksmMergeStats = { merged: 0, zeroMerged: 0, collisions: 0, hashed: 0 };
  private readonly mem: PhysicalMemory;
  private readonly addZeroPages: (d: number) => void;
  /** The host's side-channel mitigation (src/ksm/merge-policy.ts). */
  private readonly policy: MergePolicy;
  /** Shared frames by partial hash of their content at the strength they were filed with. */
  private stable = new Map<string, StableEntry[]>();
  private nextTag = 1;
  private unstable = new Map<string, Unshared>();
  private readonly deferred: Array<{ ctl: Int32Array; p: number; frame: number }> = [];

  constructor(mem: PhysicalMemory, hasher: PartialHasher, strength: StrengthController, addZeroPages: (d: number) => void, policy: MergePolicy = new MergePolicy(mem)) {
    this.policy = policy;
    this.mem = mem;
    this.hasher = hasher;
    this.strength = strength;
    this.addZeroPages = addZeroPages;
  }

  /** A full round ended: the unshared set starts again (UKSM rebuilds its unstable tree per round). */
  endRound(): void {
    this.unstable = new Map();
  }

  /** The strength changed: file every live shared frame under its hash at the new strength (shared frames never change). */
  rehash(): void {
    const strength = this.strength.strength;
    const next = new Map<string, StableEntry[]>();
    for (const entries of this.stable.values()) {
      for (const e of entries) {
        if (!this.live(e)) continue;
        const key = `${strength}:${this.hasher.hash(e.frame, strength)}:${e.domain}`;
        const list = next.get(key) ?? [];
        list.push(e);
        next.set(key, list);
      }
    }
    this.stable = next;
    this.unstable = new Map();
  }

  /** Shared frames alive, and the mappings beyond the first (pages_shared, pages_sharing). */
  sharing(): { shared: number; sharing: number; unshared: number } {
    let shared = 0;
    let sharing = 0;
    for (const [key, entries] of this.stable) {
      const live = entries.filter((e) => this.live(e));
      if (live.length === 0) this.stable.delete(key);
      else this.stable.set(key, live);
      for (const e of live) {
        shared++;
        sharing += Math.max(0, this.mem.mapcount(e.frame) - 1);
      }
    }
    return { shared, sharing, unshared: this.unstable.size };
  }

  /** Scan page `p` of guest `g`: returns true if it was merged. */
  scanPage(g: GuestView, p: number): boolean {
    const merged = this.scanOne(g, p);
    // vusion: a mergeable page left unmerged faults and copies on its next write, as a merged one does.
    if (!merged && this.policy.vusion && (Atomics.load(g.pt, p) & PTE_MERGEABLE)) this.policy.protectUnmerged(g.pt, p);
    return merged;
  }

  private scanOne(g: GuestView, p: number): boolean {
    this.processDeferred();
    let pte = Atomics.load(g.pt, p);
    if (!(pte & PTE_MERGEABLE) || !isPrivateFrame(pte) || (pte & PTE_NOACCESS)) return false;
    const f = pteFrame(pte);
    const strength = this.strength.strength;
    const h = this.hasher.hash(f, strength);
    this.stats.hashed++;
    if (h === this.zeroHash(strength) && this.mem.compareFrames(f, ZERO_FRAME) === 0) {
      if (this.mergeZero(g, p, pte)) return true;
      // It stayed write-protected (or moved): go on with what the PTE holds now.
      pte = Atomics.load(g.pt, p);
      if (!isPrivateFrame(pte) || pteFrame(pte) !== f) return false;
    }
    // The guest's merge domain is part of the key: pages are only ever compared within a domain.
    const key = `${strength}:${h}:${this.policy.domainOf(g.ctl)}`;
    for (const e of this.stable.get(key) ?? []) {
      const k = e.frame;
      if (!this.mem.tryGetFrame(k)) continue;
      if (!this.live(e)) {
        this.mem.putFrame(k);
        continue;
      }
      const r = this.mergeInto(g, p, pte, k);
      if (r === 'merged') return true;
      this.mem.putFrame(k);
      if (r !== 'differs') return false; // the page moved under us: try again next round
      this.stats.collisions++;
      pte = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD; // mergeInto left it write-protected
    }
    const other = this.unstable.get(key);
    if (other && !(other.g === g && other.p === p)) {
      this.unstable.delete(key);
      return this.mergePair(other, g, p, pte, key);
    }
    this.unstable.set(key, { g, p });
    return false;
  }

  /** Free queued frames whose guest has left the page (or exited). */
  processDeferred(): void {
    const d = this.deferred;
    for (let i = d.length - 1; i >= 0; i--) {
      const e = d[i]!;
      // Freed once the guest is off the page, whatever the access (a reader must not see it reused).
      if (hazardPage(Atomics.load(e.ctl, CTL_HAZARD)) !== e.p || Atomics.load(e.ctl, CTL_STATE) === GUEST_EXITED) {
        this.mem.free(e.frame);
        d.splice(i, 1);
      }
    }
  }

  get deferredFrames(): number {
    return this.deferred.length;
  }

  private zeroHashes = new Map<number, number>();
  private zeroHash(strength: number): number {
    let z = this.zeroHashes.get(strength);
    if (z === undefined) {
      z = this.hasher.hash(ZERO_FRAME, strength);
      this.zeroHashes.set(strength, z);
    }
    return z;
  }

  private live(e: StableEntry): boolean {
    return this.mem.mapcount(e.frame) > 0 && this.mem.frameTag(e.frame) === e.tag;
  }

  /**
   * try_to_merge_one_page's split: a subpage of a huge page is never merged as it is. Before any
   * merge of page p the huge page holding it is split (thp.ts, splitHugeBlock, as ksmd does); returns
   * the PTE to merge from (the same page, no longer huge), or 0 if the split cannot be made now or
   * the page changed meanwhile (the merge fails and is retried on a later visit).
   */
  private splitBeforeMerge(g: GuestView, p: number, pte: number): number {
    if (!(pte & PTE_HUGE) && !inHugeBlock(g.pt, p)) return pte;
    const r = splitHugeBlock(g.pt, g.ctl, this.mem, p, {
      writeProtect: (q, qpte) => this.writeProtect(g, q, qpte),
      releaseReplaced: (q, frame) => this.release(g, q, frame),
    });
    if (r === SPLIT_BUSY || inHugeBlock(g.pt, p)) return 0;
    const now = Atomics.load(g.pt, p);
    return now === (pte & ~PTE_HUGE) ? now : 0;
  }

  /** CAS W → WP_KSMD, then wait for the guest to leave the page; the write-protected value, or 0 (always for a page in a huge block). A PTE
   * that maps a frame is never 0, and may be negative (frames from 8 GiB up set bit 31). */
  private writeProtect(g: GuestView, p: number, pte: number): number {
    if ((pte & PTE_HUGE) || inHugeBlock(g.pt, p)) return 0;
    const wp = (pte & ~PTE_WRITABLE) | PTE_WP_KSMD;
    if (Atomics.compareExchange(g.pt, p, pte, wp) !== pte) return 0;
    // The hazard word names the page and the access kind (docs/protocol.md#hazards): only a write in
    // flight can change the frame after our CAS, so only a writer holds the compare up.
    for (let i = 0; i < SHOOTDOWN_SPINS; i++) if (Atomics.load(g.ctl, CTL_HAZARD) !== hazardWrite(p)) return wp;
    // The guest stays on the page: give up (it may be writing through a PTE loaded before ours).
    // The PTE stays write-protected, as ksmd leaves it: putting W back could undo a concurrent
    // mprotect(PROT_READ), which leaves a WP_KSMD PTE as it is (the stress run found exactly that);
    // the guest's next write takes a fault that restores write access where the area allows it.
    return 0;
  }

  private release(g: GuestView, p: number, frame: number): void {
    if (hazardPage(Atomics.load(g.ctl, CTL_HAZARD)) !== p) this.mem.free(frame);
    else this.deferred.push({ ctl: g.ctl, p, frame });
  }

  private mergeZero(g: GuestView, p: number, pte: number): boolean {
    pte = this.splitBeforeMerge(g, p, pte);
    if (!pte) return false;
    const wp = this.writeProtect(g, p, pte);
    if (!wp) return false;
    const f = pteFrame(pte);
    if (this.mem.compareFrames(f, ZERO_FRAME) !== 0) {
      return false;
    }
    const next = makePte(ZERO_FRAME, PTE_PRESENT | PTE_ZERO | PTE_KSM_ZERO | PTE_MERGEABLE | (pte & PTE_NOACCESS));
    if (Atomics.compareExchange(g.pt, p, wp, next) !== wp) return false;
    Atomics.add(g.ctl, CTL_KSM_ZERO_PAGES, 1);
    this.addZeroPages(1);
    this.release(g, p, f);
    this.stats.zeroMerged++;
    return true;
  }

  /** Map shared frame `k` (a reference held) at page p; 'merged' hands the reference to the PTE. */
  private mergeInto(g: GuestView, p: number, pte: number, k: number): 'merged' | 'differs' | 'moved' {
    pte = this.splitBeforeMerge(g, p, pte);
    if (!pte) return 'moved';
    const wp = this.writeProtect(g, p, pte);
    if (!wp) return 'moved';
    const f = pteFrame(pte);
    if (this.mem.compareFrames(f, k) !== 0) {
      return 'differs';
    }
    const next = makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (pte & PTE_NOACCESS));
    if (Atomics.compareExchange(g.pt, p, wp, next) !== wp) return 'moved';
    this.release(g, p, f);
    this.stats.merged++;
    return 'merged';
  }

  /** Two unshared pages with the same partial hash: copy the first into a new shared frame, merge both into it. */
  private mergePair(a: Unshared, b: GuestView, p: number, pte: number, key: string): boolean {
    let aPte = Atomics.load(a.g.pt, a.p);
    if (!(aPte & PTE_MERGEABLE) || !isPrivateFrame(aPte) || (aPte & PTE_NOACCESS)) {
      this.unstable.set(key, { g: b, p });
      return false;
    }
    // Unreferenced reads only choose: a pair that differs is a collision of the partial hash.
    if (this.mem.compareFrames(pteFrame(aPte), pteFrame(pte)) !== 0) {
      this.stats.collisions++;
      this.unstable.set(key, { g: b, p });
      return false;
    }
    // zero-only refuses before A is touched: a refusal after writeProtect would leave A write-protected,
    // and its owner's next write would fault — a timing difference the mitigation exists to remove
    // (the attack lab's probe under --engine uksm named the secret 62 % of the time through it).
    if (!this.policy.contentMayMerge(pteFrame(aPte))) return false;
    const aPage = this.splitBeforeMerge(a.g, a.p, aPte);
    if (!aPage) return false;
    aPte = aPage;
    const aWp = this.writeProtect(a.g, a.p, aPte);
    if (!aWp) return false;
    // Checked on A's write-protected bytes (B merges into K only if equal to them): zero-only, and the
    // two domains again (the key already keeps them apart). A stays write-protected, as on any failure here.
    if (!this.policy.contentMayMerge(pteFrame(aPte)) || !this.policy.mayPair(a.g.ctl, b.ctl)) return false;
    const k = this.mem.allocUninitialized(a.g.homeNode);
    if (k < 0) {
      return false;
    }
    // A is write-protected and no guest is on it: its content is stable while we copy.
    this.mem.copyFrame(pteFrame(aPte), k);
    this.mem.setMapcount(k, 1); // the scanner's reference
    const tag = this.nextTag++;
    this.mem.setFrameTag(k, tag);
    // A into K: compare (A is unchanged unless a write fault cleared WP_KSMD: then the CAS fails).
    let merged = false;
    if (this.mem.compareFrames(pteFrame(aPte), k) === 0) {
      this.mem.addMapcount(k, 1);
      if (Atomics.compareExchange(a.g.pt, a.p, aWp, makePte(k, PTE_PRESENT | PTE_KSM | PTE_MERGEABLE | (aPte & PTE_NOACCESS))) === aWp) {
        this.release(a.g, a.p, pteFrame(aPte));
        merged = true;
      } else {
        this.mem.addMapcount(k, -1);
      }
    }
    let bMerged = false;
    if (merged) {
      this.mem.addMapcount(k, 1); // the reference B's PTE will hold if the merge succeeds
      const r = this.mergeInto(b, p, pte, k);
      if (r === 'merged') bMerged = true;
      else {
        this.mem.addMapcount(k, -1);
        if (r === 'differs') this.stats.collisions++;
      }
      const list = this.stable.get(key) ?? [];
      list.push({ frame: k, tag, domain: this.policy.domainOf(a.g.ctl) });
      this.stable.set(key, list);
    }
    this.mem.putFrame(k); // the scanner's reference: frees K if no PTE took it
    return bMerged;
  }
}
