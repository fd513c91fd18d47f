// capacity-cap.ts — owns the default guest cap of capacity mode: how many guests it may launch before
// it stops and says "max-guests", derived from the host's memory and the fleet instead of a fixed number.
//
// The argument. Capacity mode launches guests until one does not fit. The cap must not be what stops
// it in an honest run, yet it has to stop a run whose guests fit without end on the emulated host
// before they exhaust the real machine. So it is the smallest of three bounds:
//
//  1. memory — the most guests of the fleet's size the emulated memory could hold if KSM merged every
//     page it could. The best case is that every page of a guest equals a page already resident: the
//     guest then costs only a share of a KSM page per page, and a KSM page takes at most
//     max_page_sharing mappers (a full one gets a duplicate: a stable_node chain), so at least
//     1/max_page_sharing of a frame per guest page. The newest guest must also find its whole
//     footprint free while it boots and fills its memory, before ksmd has seen a page of it:
//        N_memory = 1 + floor((M − F) · S / F)        M host bytes, F bytes per guest, S max_page_sharing
//     (With use_zero_pages=1 zero pages need no KSM page at all; the bound still holds for the rest.)
//     No run can honestly fit more, so a cap at N_memory never cuts a real measurement short.
//  2. machine — every guest is a worker thread that costs real RSS beyond its emulated frames (which
//     the host allocated up front). Guests may take a quarter of the memory the machine has free, at
//     GUEST_THREAD_BYTES each — a figure above the measured cost per guest (≈ 30 MB when every worker
//     ran its own TypeScript loader; ≈ 9 MB since guests are compiled once: docs/benchmarks.md#fleet-scale).
//        N_machine = floor(free / 4 / GUEST_THREAD_BYTES)
//  3. ceiling — MAX_GUESTS_CEILING = 512, the largest fleet this project verifies runs on one host.
//
// A run that reaches the cap reports `max-guests` and its gain as a lower bound ("≥ N×").

export const GUEST_THREAD_BYTES = 16 * 2 ** 20;
export const MAX_GUESTS_CEILING = 512;
/** Share of the machine's free memory the guests' threads may take. */
export const FREE_MEMORY_SHARE = 1 / 4;

export interface CapInputs {
  /** Emulated host memory, bytes. */
  readonly hostBytes: number;
  /** Memory one guest of the fleet holds without KSM (the fleet's mean), bytes. */
  readonly guestBytes: number;
  /** max_page_sharing of the KSM-on run. */
  readonly maxPageSharing: number;
  /** Free memory of the real machine (os.freemem()), bytes. */
  readonly machineFreeBytes: number;
}

export interface CapBasis {
  readonly max_guests: number;
  readonly limited_by: 'memory' | 'machine' | 'ceiling';
  readonly memory_bound: number;
  readonly machine_bound: number;
  readonly ceiling: number;
  readonly guest_bytes: number;
}

export function defaultMaxGuests(x: CapInputs): CapBasis {
  const f = Math.max(1, x.guestBytes);
  const s = Math.max(1, x.maxPageSharing);
  const memoryBound = x.hostBytes < f ? 1 : 1 + Math.floor(((x.hostBytes - f) * s) / f);
  const machineBound = Math.max(1, Math.floor((x.machineFreeBytes * FREE_MEMORY_SHARE) / GUEST_THREAD_BYTES));
  const max = Math.min(memoryBound, machineBound, MAX_GUESTS_CEILING);
  const limitedBy = max === memoryBound ? 'memory' : max === machineBound ? 'machine' : 'ceiling';
  return { max_guests: max, limited_by: limitedBy, memory_bound: memoryBound, machine_bound: machineBound, ceiling: MAX_GUESTS_CEILING, guest_bytes: f };
}
