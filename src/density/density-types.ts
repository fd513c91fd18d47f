// density-types.ts — owns the shape of a density experiment's result (the JSON users script against).

import type { ServicesReport } from '../tuning/host-services.ts';

export interface FleetEntry {
  /** Workload name: a file guests/workloads/<name>.ts, or a path to a guest program. */
  readonly workload: string;
  readonly count: number;
  /** Extra guest arguments, `key=value` (e.g. `size=32MiB`, `seed=3`). */
  readonly args: readonly string[];
}

/** One sample of the host taken at a fixed interval. */
export interface DensitySample {
  /** Seconds since the phase started. */
  readonly t: number;
  readonly guests: number;
  readonly memory_used_bytes: number;
  /** Used bytes per NUMA node (on the real kernel one entry: the whole fleet, not split by node). */
  readonly node_used_bytes: readonly number[];
  /** Every /sys/kernel/mm/ksm counter (numbers), including pages_volatile and general_profit. */
  readonly counters: Readonly<Record<string, number>>;
  /** Anonymous memory in PMD-mapped transparent huge pages (meminfo AnonHugePages, in bytes). */
  readonly anon_huge_bytes?: number;
  /** Per running guest: ksm_stat fields. */
  readonly per_guest: ReadonlyArray<{ readonly name: string; readonly pid: number; readonly ksm_merging_pages: number; readonly ksm_process_profit: number }>;
  /** The host's /proc/vmstat counters (src/mem/vmstat.ts names) at the sample (emulator; absent in older results). */
  readonly vmstat?: Readonly<Record<string, number>>;
  /** The host's /proc/meminfo figures in kB (MemTotal, MemFree, AnonPages, AnonHugePages, SwapTotal, SwapFree, …). */
  readonly meminfo_kb?: Readonly<Record<string, number>>;
}

export interface GuestProfit {
  readonly name: string;
  readonly workload: string;
  readonly pid: number;
  readonly ksm_merging_pages: number;
  readonly ksm_process_profit: number;
  readonly private_pages: number;
}

export interface NumaTradeoff {
  readonly merge_across_nodes: 0 | 1;
  readonly memory_with_ksm_bytes: number;
  readonly saved_bytes: number;
  /** Share of the guests' mapped pages whose frame is on another node than the guest's home node. */
  readonly remote_access_share: number;
}

export interface DensityResult {
  /** Which KSM ran the fleet: the emulator, or the real kernel (`--backend linux`). */
  readonly backend: 'emulator' | 'linux';
  readonly fleet: readonly FleetEntry[];
  readonly host: { readonly memory_bytes: number; readonly numa_nodes: number };
  readonly knobs: Readonly<Record<string, string>>;
  readonly memory_without_ksm_bytes: number;
  readonly memory_with_ksm_bytes: number;
  readonly saved_bytes: number;
  readonly pages_shared: number;
  readonly pages_sharing: number;
  readonly general_profit: number;
  /** When every guest of the KSM-on run had logged READY (seconds since that run started). */
  readonly fleet_up_seconds: number;
  /** First time the saving came within 1 % of its final value (seconds after the fleet was up), or null. */
  readonly converge_seconds: number | null;
  /** full_scans from the fleet being up to the convergence sample (full_scans_at_converge − full_scans_at_fleet_up), or null. */
  readonly converge_full_scans: number | null;
  /** The full_scans counter when every guest was READY (KSM-on run). */
  readonly full_scans_at_fleet_up: number | null;
  /** The full_scans counter at the sample where the saving converged, or null. */
  readonly full_scans_at_converge: number | null;
  /**
   * CPU time of the ksmd thread (read by the thread from /proc/thread-self) from the moment the
   * KSM-on fleet was up to the end of the run; null where the system has no /proc/thread-self.
   */
  readonly ksmd_cpu_seconds: number | null;
  /** Source of ksmd_cpu_seconds: 'schedstat' (ns resolution) or 'stat' (10 ms ticks); null if none. */
  readonly ksmd_cpu_clock: string | null;
  /** Wall time of the same span (fleet up → end of the KSM-on run). */
  readonly ksmd_wall_seconds: number;
  /** ksmd_cpu_seconds / ksmd_wall_seconds: the share of one core ksmd's thread used. */
  readonly ksmd_cpu_share: number | null;
  /**
   * Wall time inside ksmd's scan batches over the same span (includes time descheduled mid-batch);
   * null on the real kernel, whose ksmd does not report it.
   */
  readonly ksmd_scan_wall_seconds: number | null;
  /** transparent_hugepage/enabled of both phases (absent in results from before THP: madvise). */
  readonly thp?: 'always' | 'madvise' | 'never';
  /** AnonHugePages at the end of each phase, and the huge pages split to merge (vmstat thp_split_page, KSM-on phase). */
  readonly anon_huge_bytes_without_ksm?: number;
  readonly anon_huge_bytes_with_ksm?: number;
  readonly thp_split_pages?: number;
  /** The merge engine of the KSM-on runs (absent in results from before engines: ksm). */
  readonly engine?: 'ksm' | 'dksm' | 'uksm';
  /** DKSM/UKSM: thread CPU seconds the engine spent merging over the whole KSM-on phase (DKSM: inside the guests' madvise; UKSM: its scanner); null where unmeasurable. */
  readonly engine_cpu_seconds?: number | null;
  /** Pages the engine could consider at the end of the KSM-on phase (ksm, uksm: present pages in mergeable areas; dksm: pages_scanned), and all present pages. */
  readonly considered_pages?: number;
  readonly present_pages?: number;
  readonly per_guest: readonly GuestProfit[];
  /** Capacity mode only: capacity.without_ksm.guests. */
  readonly guests_fit_without_ksm?: number;
  /** Capacity mode only: capacity.with_ksm.guests. */
  readonly guests_fit_with_ksm?: number;
  /** Capacity mode only: the ratio of the two (see capacity.density_gain_bound for what it means). */
  readonly density_gain?: number;
  /** Capacity mode only: both runs, why each stopped, and the cap. */
  readonly capacity?: CapacityResult;
  /** --merge-across-nodes both only. */
  readonly numa?: readonly NumaTradeoff[];
  /** --backend linux only: the kernel's own figures behind the memory numbers, and their cross-checks. */
  readonly kernel?: KernelMemoryCheck;
  readonly series: { readonly without_ksm: readonly DensitySample[]; readonly with_ksm: readonly DensitySample[] };
  /** --service only: the services of the KSM-on run, with ksmtuned's decisions over time. */
  readonly services?: ServicesReport;
}

/** Why a capacity run stopped launching guests. */
export type CapacityStop =
  /** A guest was OOM-killed: memory is full (the answer capacity mode looks for). */
  | { readonly kind: 'oom'; readonly guest: string; readonly detail: string }
  /** The cap was reached: more guests might have fit. */
  | { readonly kind: 'max-guests'; readonly max_guests: number }
  /** A guest failed for another reason (a bad argument, a crash): the run says nothing about memory. */
  | { readonly kind: 'guest-failed'; readonly guest: string; readonly detail: string }
  /** The run, or one guest's start, took too long. */
  | { readonly kind: 'timeout'; readonly detail: string };

export interface CapacityRun {
  /** Guests running and ready when the run stopped. */
  readonly guests: number;
  readonly launched: number;
  readonly stop: CapacityStop;
  /** `oom`, `max-guests`, `guest-failed: NAME: reason` or `timeout`. */
  readonly stop_text: string;
  readonly seconds: number;
  /** A run on a host with swap (--swap): its swap traffic when it stopped. */
  readonly swap?: CapacitySwap;
}

/** The swap figures of one capacity run (/proc/vmstat of its host when the run stopped). */
export interface CapacitySwap {
  readonly swap_bytes: number;
  readonly swap_used_bytes: number;
  readonly pswpout: number;
  readonly pswpin: number;
  /** pswpin / guests: what a guest that fit cost in swap-ins over the run (guests keep running their workload). */
  readonly swap_ins_per_guest: number;
  readonly ksm_swpin_copy: number;
}

/** --swap: the capacity pair again on a host with that much swap. */
export interface CapacityWithSwap {
  readonly swap_bytes: number;
  readonly without_ksm: CapacityRun;
  readonly with_ksm: CapacityRun;
  /** Guests that fit with swap less those that fit without it, KSM off and on. */
  readonly extra_guests_without_ksm: number;
  readonly extra_guests_with_ksm: number;
}

export interface CapacityResult {
  readonly max_guests: number;
  /** How the default cap was derived (capacity-cap.ts); null when --max-guests gave it. */
  readonly max_guests_basis: {
    readonly limited_by: 'memory' | 'machine' | 'ceiling';
    readonly memory_bound: number;
    readonly machine_bound: number;
    readonly ceiling: number;
    readonly guest_bytes: number;
  } | null;
  readonly without_ksm: CapacityRun;
  readonly with_ksm: CapacityRun;
  /** with_ksm.guests / without_ksm.guests (null if no guest fit without KSM). */
  readonly density_gain: number | null;
  /**
   * 'exact': both runs stopped on their own (oom); 'at-least': the KSM-on run hit the cap or the
   * clock, so more might fit (printed "≥ N×"); 'unknown': the KSM-off run did not end at memory full
   * either, or a guest failed, so the ratio measures nothing.
   */
  readonly density_gain_bound: 'exact' | 'at-least' | 'unknown';
  /** --swap only: the same two runs with swap. */
  readonly with_swap?: CapacityWithSwap;
}

/** The fleet's memory as the kernel reports it at the end of one phase (sums over the guests' own VMAs). */
export interface KernelPhaseMemory {
  /** Σ Rss of the guests' own mappings (/proc/PID/smaps): every mapping of a KSM page counted once per mapping. */
  readonly rss_bytes: number;
  /** Σ Pss of the same VMAs: a KSM page's 4 KiB split among its mappings. */
  readonly pss_bytes: number;
  readonly anonymous_bytes: number;
  /** Σ smaps `KSM:` of the same VMAs: mappings of KSM pages. */
  readonly ksm_bytes: number;
  /** Σ smaps_rollup Rss of the whole guest processes (the Node runtime included; not part of the fleet). */
  readonly process_rss_bytes: number;
  readonly pages_sharing: number;
  readonly ksm_zero_pages: number;
  readonly general_profit: number;
}

export interface KernelMemoryCheck {
  /** Linux release (uname -r). */
  readonly kernel: string;
  readonly ksmd_pid: number | null;
  readonly without_ksm: KernelPhaseMemory;
  readonly with_ksm: KernelPhaseMemory;
  /** memory_with_ksm_bytes is Σ Rss − pages_sharing × 4 KiB; this is Σ Pss, which should agree. */
  readonly pss_with_ksm_bytes: number;
  /** (pages_sharing + ksm_zero_pages) × 4 KiB at the end: what KSM says it freed, against saved_bytes. */
  readonly freed_by_ksm_bytes: number;
  /** saved_bytes − freed_by_ksm_bytes (0 when the fleet is all KSM merged). */
  readonly saved_minus_freed_bytes: number;
}
