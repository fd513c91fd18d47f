// goals.ts — owns how the benches judge a goal stated against the kernel: only against a kernel
// figure measured in the same run; with none, the verdict is "kernel not measured", never "met".

export type Verdict = 'met' | 'not met' | 'kernel not measured';

export interface KernelJudgement {
  readonly verdict: Verdict;
  /** The emulator's figure over the kernel's (in the goal's sense: > 1 is better), when measured. */
  readonly ratio: number | null;
  /** The figure the goal needs (factor × the kernel's), when measured. */
  readonly target: number | null;
}

/**
 * Judge "the emulator's `value` is at least `factor` times as good as the kernel's". `kernel` is the
 * figure measured in this run, or undefined/NaN when the kernel could not be measured. For a cost
 * (higherIsBetter false) "as good" means `factor` times lower.
 */
export function judgeAgainstKernel(value: number, kernel: number | undefined, factor: number, higherIsBetter = true): KernelJudgement {
  if (kernel === undefined || !Number.isFinite(kernel) || kernel <= 0) return { verdict: 'kernel not measured', ratio: null, target: null };
  if (!Number.isFinite(value)) throw new Error(`cannot judge a goal on ${value}`);
  const ratio = higherIsBetter ? value / kernel : kernel / value;
  const target = higherIsBetter ? factor * kernel : kernel / factor;
  return { verdict: ratio >= factor ? 'met' : 'not met', ratio, target };
}

/** A goal's verdict as the summary prints it (fixed width for the first two). */
export function verdictWord(v: Verdict): string {
  return v === 'met' ? 'MET    ' : v === 'not met' ? 'NOT MET' : 'KERNEL NOT MEASURED';
}

/** A goal of a bench suite: those stated against the kernel carry a verdict, the others only `met`. */
export interface SuiteGoal {
  readonly what: string;
  readonly value: number;
  readonly target: number | null;
  readonly met: boolean;
  readonly verdict?: Verdict;
}

export function goalVerdict(g: SuiteGoal): Verdict {
  return g.verdict ?? (g.met ? 'met' : 'not met');
}
