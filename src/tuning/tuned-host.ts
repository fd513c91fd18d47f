// tuned-host.ts — owns the interface the RHEL management services (ksm, ksmtuned) run against: what
// they read of a host (meminfo, the VMs' resident memory, sysconf) and the sysfs knobs they write.
// A batch run implements it over an emulated Host (emulated-tuned-host.ts); a live host can too.

/** The /proc/meminfo lines ksmtuned reads, in kB. */
export interface Meminfo {
  readonly MemTotal: number;
  readonly MemFree: number;
  readonly Buffers: number;
  readonly Cached: number;
}

export interface TunedHost {
  meminfo(): Meminfo;
  /** ksmtuned's committed_memory: the summed RSS (kB) of the VM processes (`ps -o rsz=`). */
  committedKb(): number;
  /** sysconf(_SC_PHYS_PAGES). */
  physPages(): number;
  /** Whether /sys/kernel/mm/ksm/<name> exists (ksmctl's access(…, R_OK)). */
  hasKnob(name: string): boolean;
  /** /sys/kernel/mm/ksm/<name> without its newline; throws ErrnoError ENOENT if absent. */
  readKnob(name: string): string;
  /** Write /sys/kernel/mm/ksm/<name>; throws ErrnoError as the kernel would. */
  writeKnob(name: string, value: string): Promise<void>;
  /** Call `cb` whenever a guest is started or ends (libvirt's cue to retune ksmtuned); returns an unsubscribe. */
  onGuestStartStop(cb: () => void): () => void;
}

/** When and how services wait: real timers by default, a scripted clock in tests. */
export interface Scheduler {
  /** Milliseconds on the service's clock. */
  now(): number;
  /** Run `fn` after `ms`; returns a cancel. */
  after(ms: number, fn: () => void): () => void;
}

export const REAL_SCHEDULER: Scheduler = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
