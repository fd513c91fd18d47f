// ksmtuned-algorithm.ts — owns ksmtuned's arithmetic as pure steps: the values computed at start
// (total, sleep, thres) and one `adjust` (stop, or start with npages boosted or decayed and clamped),
// with the debug lines the script prints, in its order. Bash integer arithmetic: truncating division.

import type { KsmtunedConf } from './ksmtuned-conf.ts';

export interface KsmtunedBoot {
  /** MemTotal, kB. */
  readonly total: number;
  /** sleep_millisecs ksmtuned writes: KSM_SLEEP_MSEC × 16 GiB / total, at least 10. */
  readonly sleep: number;
  /** kB: max(total × KSM_THRES_COEF / 100, KSM_THRES_CONST). */
  readonly thres: number;
  readonly lines: readonly string[];
}

export type KsmctlCall = { readonly kind: 'stop' } | { readonly kind: 'start'; readonly npages: number; readonly sleep: number };

export interface AdjustStep {
  readonly committed: number;
  readonly free: number;
  readonly decision: 'stop' | 'boost' | 'decay';
  /** npages after the step (a stop keeps the old value: the next start continues from it). */
  readonly npages: number;
  readonly ksmctl: KsmctlCall;
  readonly lines: readonly string[];
}

export function ksmtunedBoot(conf: KsmtunedConf, totalKb: number): KsmtunedBoot {
  const total = Math.trunc(totalKb);
  if (total <= 0) throw new Error(`ksmtuned: MemTotal ${totalKb} kB: division by 0 in sleep`);
  let sleep = Math.trunc((conf.KSM_SLEEP_MSEC * 16 * 1024 * 1024) / total);
  if (sleep <= 10) sleep = 10;
  let thres = Math.trunc((total * conf.KSM_THRES_COEF) / 100);
  if (conf.KSM_THRES_CONST > thres) thres = conf.KSM_THRES_CONST;
  return { total, sleep, thres, lines: [`total ${total}`, `sleep ${sleep}`, `thres ${thres}`] };
}

/** increase_npages: add delta, then clamp to [MIN, MAX] (MIN checked first, as the script does). */
export function increaseNpages(conf: KsmtunedConf, npages: number, delta: number): number {
  const n = npages + delta;
  if (n < conf.KSM_NPAGES_MIN) return conf.KSM_NPAGES_MIN;
  if (n > conf.KSM_NPAGES_MAX) return conf.KSM_NPAGES_MAX;
  return n;
}

/** One `adjust` with MemFree+Buffers+Cached = `free` and the VMs' RSS = `committed` (kB). */
export function ksmtunedAdjust(conf: KsmtunedConf, boot: KsmtunedBoot, npages: number, free: number, committed: number): AdjustStep {
  const { total, thres, sleep } = boot;
  const lines = [`committed ${committed} free ${free}`];
  const sum = committed + thres;
  if (sum < total && free > thres) {
    lines.push(`${sum} < ${total} and free > ${thres}, stop ksm`);
    return { committed, free, decision: 'stop', npages, ksmctl: { kind: 'stop' }, lines };
  }
  // The script prints "> total" here even when only free memory is short (sum < total, free <= thres).
  lines.push(`${sum} > ${total}, start ksm`);
  let decision: 'boost' | 'decay';
  if (free < thres) {
    npages = increaseNpages(conf, npages, conf.KSM_NPAGES_BOOST);
    decision = 'boost';
    lines.push(`${free} < ${thres}, boost`);
  } else {
    npages = increaseNpages(conf, npages, conf.KSM_NPAGES_DECAY);
    decision = 'decay';
    lines.push(`${free} > ${thres}, decay`);
  }
  lines.push(`KSMCTL start ${npages} ${sleep}`);
  return { committed, free, decision, npages, ksmctl: { kind: 'start', npages, sleep }, lines };
}
