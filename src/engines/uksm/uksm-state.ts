// uksm-state.ts — owns UKSM's knobs and counters in shared memory (so guest threads read the same
// /sys/kernel/mm/uksm files as the host), the four CPU governors and their presets.
//
// Presets from uksm.c (uksm_cpu_preset): per governor the four scan-ladder rungs' cpu_ratio (a
// negative value -N shows as MAX/(10000/N)), their cover_msecs (eval_intervals), and max_cpu.

export const GOVERNORS = ['full', 'medium', 'low', 'quiet'] as const;
export type Governor = (typeof GOVERNORS)[number];
export const LADDER = 4;
/** TIME_RATIO_SCALE: cpu_ratio -N means MAX/(10000/N). */
export const TIME_RATIO_SCALE = 10000;
export const HASH_STRENGTH_FULL = 1024;
export const HASH_STRENGTH_DEFAULT = 64;
export const EMA_PAGE_TIME_DEFAULT = 500;

export interface GovernorPreset {
  readonly cpuRatios: readonly number[];
  readonly evalIntervals: readonly number[];
  readonly maxCpu: number;
}

export const PRESETS: Record<Governor, GovernorPreset> = {
  full: { cpuRatios: [20, 40, -2500, -10000], evalIntervals: [1000, 500, 200, 50], maxCpu: 95 },
  medium: { cpuRatios: [20, 30, -2500, -10000], evalIntervals: [1000, 500, 400, 100], maxCpu: 50 },
  low: { cpuRatios: [10, 20, -5000, -10000], evalIntervals: [1500, 1000, 1000, 250], maxCpu: 20 },
  quiet: { cpuRatios: [10, 20, 40, 75], evalIntervals: [2000, 1000, 1000, 1000], maxCpu: 1 },
};

const W = {
  run: 0, sleep_millisecs: 1, max_cpu_percentage: 2, governor: 3, thrash_threshold: 4, abundant_threshold: 5,
  hash_strength: 6, ema_per_page_time: 7, cpu_ratios: 8, eval_intervals: 8 + LADDER,
} as const;
const WORDS = 8 + 2 * LADDER;

export const UKSM_COUNTERS = ['pages_shared', 'pages_sharing', 'pages_unshared', 'full_scans', 'pages_scanned', 'sleep_times'] as const;
export type UksmCounter = (typeof UKSM_COUNTERS)[number];

export interface UksmHandles {
  readonly words: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
}

export class UksmState {
  readonly handles: UksmHandles;
  private readonly w: Int32Array;
  private readonly c: BigInt64Array;

  private constructor(handles: UksmHandles) {
    this.handles = handles;
    this.w = new Int32Array(handles.words);
    this.c = new BigInt64Array(handles.counters);
  }

  static create(): UksmState {
    const s = new UksmState({ words: new SharedArrayBuffer(WORDS * 4), counters: new SharedArrayBuffer(UKSM_COUNTERS.length * 8) });
    const w = s.w;
    w[W.run] = 1;
    w[W.sleep_millisecs] = 100;
    w[W.thrash_threshold] = 50;
    w[W.abundant_threshold] = 10;
    w[W.hash_strength] = HASH_STRENGTH_DEFAULT;
    w[W.ema_per_page_time] = EMA_PAGE_TIME_DEFAULT;
    s.setGovernor('full');
    // fully_scanned_round starts at 1 in uksm.c.
    s.c[UKSM_COUNTERS.indexOf('full_scans')] = 1n;
    return s;
  }

  static attach(handles: UksmHandles): UksmState {
    return new UksmState(handles);
  }

  get(name: 'run' | 'sleep_millisecs' | 'max_cpu_percentage' | 'thrash_threshold' | 'abundant_threshold' | 'hash_strength' | 'ema_per_page_time'): number {
    return Atomics.load(this.w, W[name]);
  }

  set(name: 'run' | 'sleep_millisecs' | 'max_cpu_percentage' | 'thrash_threshold' | 'abundant_threshold' | 'hash_strength' | 'ema_per_page_time', v: number): void {
    Atomics.store(this.w, W[name], v);
  }

  get governor(): Governor {
    return GOVERNORS[Atomics.load(this.w, W.governor)]!;
  }

  /** init_performance_values: the preset's ratios, intervals and max_cpu (quiet's 1 % is below the store's 10 % clamp). */
  setGovernor(g: Governor): void {
    const p = PRESETS[g];
    Atomics.store(this.w, W.governor, GOVERNORS.indexOf(g));
    this.setCpuRatios(p.cpuRatios);
    this.setEvalIntervals(p.evalIntervals);
    this.set('max_cpu_percentage', p.maxCpu);
  }

  cpuRatios(): number[] {
    return Array.from({ length: LADDER }, (_, i) => Atomics.load(this.w, W.cpu_ratios + i));
  }

  setCpuRatios(v: readonly number[]): void {
    for (let i = 0; i < LADDER; i++) Atomics.store(this.w, W.cpu_ratios + i, v[i]!);
  }

  evalIntervals(): number[] {
    return Array.from({ length: LADDER }, (_, i) => Atomics.load(this.w, W.eval_intervals + i));
  }

  setEvalIntervals(v: readonly number[]): void {
    for (let i = 0; i < LADDER; i++) Atomics.store(this.w, W.eval_intervals + i, v[i]!);
  }

  counter(name: UksmCounter): number {
    return Number(Atomics.load(this.c, UKSM_COUNTERS.indexOf(name)));
  }

  add(name: UksmCounter, d = 1): void {
    Atomics.add(this.c, UKSM_COUNTERS.indexOf(name), BigInt(d));
  }

  setCounter(name: UksmCounter, v: number): void {
    Atomics.store(this.c, UKSM_COUNTERS.indexOf(name), BigInt(v));
  }
}
