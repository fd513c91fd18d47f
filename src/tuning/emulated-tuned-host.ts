// emulated-tuned-host.ts — owns the TunedHost of a batch run: meminfo, the guests' RSS and the sysfs
// knobs of an emulated Host, and the guest start/stop cue that whoever launches guests gives it.

import type { GuestHandle, Host } from '../host/host.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import { summarizeSpace } from '../mem/space-summary.ts';
import { KSM_DIR } from '../ksm/sysfs.ts';
import type { Meminfo, TunedHost } from './tuned-host.ts';

const KB_PER_PAGE = PAGE_SIZE / 1024;

export class EmulatedTunedHost implements TunedHost {
  private readonly listeners = new Set<() => void>();

  constructor(readonly host: Host) {}

  /** The emulator has no page cache: Buffers and Cached are 0, free memory is the free frames. */
  meminfo(): Meminfo {
    return {
      MemTotal: Math.floor(this.host.memory.bytes / 1024),
      MemFree: this.host.memory.freeFrames() * KB_PER_PAGE,
      Buffers: 0,
      Cached: 0,
    };
  }

  /** `ps -o rsz=` summed over the guests: present private and KSM pages (zero-page mappings are not RSS). */
  committedKb(): number {
    let pages = 0;
    for (const g of this.host.guests) {
      const s = summarizeSpace(g.handles, this.host.memory);
      pages += s.privatePages + s.ksmPages;
    }
    return pages * KB_PER_PAGE;
  }

  physPages(): number {
    return Math.floor(this.host.memory.bytes / PAGE_SIZE);
  }

  hasKnob(name: string): boolean {
    try {
      this.host.readFile(KSM_DIR + name);
      return true;
    } catch {
      return false;
    }
  }

  readKnob(name: string): string {
    return this.host.readFile(KSM_DIR + name).trimEnd();
  }

  async writeKnob(name: string, value: string): Promise<void> {
    await this.host.writeFile(KSM_DIR + name, value);
  }

  onGuestStartStop(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** libvirt's cue: a guest started or ended. */
  guestStartedOrStopped(): void {
    for (const cb of [...this.listeners]) cb();
  }

  /** Give the cue now (the guest started) and again when it ends. */
  track(handle: GuestHandle): GuestHandle {
    this.guestStartedOrStopped();
    void handle.done.then(() => this.guestStartedOrStopped(), () => this.guestStartedOrStopped());
    return handle;
  }
}
