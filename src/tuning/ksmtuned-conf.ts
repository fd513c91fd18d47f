// ksmtuned-conf.ts — owns ksmtuned.conf: the variables ksmtuned reads, their defaults, and how the
// script's shell turns each value into a number (errors name the file and line).

import { readFileSync } from 'node:fs';
import { ConfError, parseShellAssignments } from './shell-conf.ts';

export interface KsmtunedConf {
  /** Seconds between two `adjust` runs (`sleep $KSM_MONITOR_INTERVAL`: GNU sleep takes fractions). */
  readonly KSM_MONITOR_INTERVAL: number;
  /** ms ksmd sleeps between batches on a 16 GiB host; smaller hosts sleep more. */
  readonly KSM_SLEEP_MSEC: number;
  readonly KSM_NPAGES_BOOST: number;
  readonly KSM_NPAGES_DECAY: number;
  readonly KSM_NPAGES_MIN: number;
  readonly KSM_NPAGES_MAX: number;
  /** Percent of MemTotal kept free before KSM is needed. */
  readonly KSM_THRES_COEF: number;
  /** The threshold's floor, kB. */
  readonly KSM_THRES_CONST: number;
  /** Where debug lines go; '' means stdout (the script's `[ -n "$LOGFILE" ] && … || echo`). */
  readonly LOGFILE: string;
  /** Debug lines are written when DEBUG is non-empty (`[ -n "$DEBUG" ]`: DEBUG=0 turns them on too). */
  readonly DEBUG: boolean;
}

/** The script's `${VAR:-default}` values (ksmtuned 2009–today; the shipped conf has them commented out). */
export const KSMTUNED_DEFAULTS: KsmtunedConf = {
  KSM_MONITOR_INTERVAL: 60,
  KSM_SLEEP_MSEC: 10,
  KSM_NPAGES_BOOST: 300,
  KSM_NPAGES_DECAY: -50,
  KSM_NPAGES_MIN: 64,
  KSM_NPAGES_MAX: 1250,
  KSM_THRES_COEF: 20,
  KSM_THRES_CONST: 2048,
  LOGFILE: '',
  DEBUG: false,
};

const INTEGER_KEYS = [
  'KSM_SLEEP_MSEC', 'KSM_NPAGES_BOOST', 'KSM_NPAGES_DECAY', 'KSM_NPAGES_MIN', 'KSM_NPAGES_MAX', 'KSM_THRES_COEF', 'KSM_THRES_CONST',
] as const;

/**
 * A value as bash's `$[ … ]` reads a literal: decimal, 0x hex, or leading-0 octal, optionally
 * negative; undefined where bash would fail ("value too great for base") or take a variable name.
 */
export function bashInteger(text: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2]!;
  const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : Number(digits);
  return m[1] === '-' ? -v : v;
}

/** GNU sleep's NUMBER[SUFFIX]: a non-negative decimal, suffix s (default), m, h or d. */
export function sleepSeconds(text: string): number | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(text);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Parse the text of a ksmtuned.conf; unknown variables are kept by the shell and ignored here. */
export function parseKsmtunedConf(text: string, file = 'ksmtuned.conf'): KsmtunedConf {
  const conf: { -readonly [K in keyof KsmtunedConf]: KsmtunedConf[K] } = { ...KSMTUNED_DEFAULTS };
  for (const a of parseShellAssignments(text, file)) {
    // `${VAR:-default}`: an empty value means the default, exactly as an absent one.
    if ((INTEGER_KEYS as readonly string[]).includes(a.key)) {
      if (a.value === '') { conf[a.key as (typeof INTEGER_KEYS)[number]] = KSMTUNED_DEFAULTS[a.key as (typeof INTEGER_KEYS)[number]]; continue; }
      const v = bashInteger(a.value);
      if (v === undefined) throw new ConfError(file, a.line, `${a.key}=${a.value}: not an integer`);
      conf[a.key as (typeof INTEGER_KEYS)[number]] = v;
    } else if (a.key === 'KSM_MONITOR_INTERVAL') {
      if (a.value === '') { conf.KSM_MONITOR_INTERVAL = KSMTUNED_DEFAULTS.KSM_MONITOR_INTERVAL; continue; }
      const v = sleepSeconds(a.value);
      if (v === undefined) throw new ConfError(file, a.line, `KSM_MONITOR_INTERVAL=${a.value}: not a time sleep(1) accepts (e.g. 60, 2.5, 1m)`);
      // sleep 0 would make the loop spin; the script has no guard, we refuse it.
      if (v <= 0) throw new ConfError(file, a.line, `KSM_MONITOR_INTERVAL=${a.value}: must be more than 0`);
      conf.KSM_MONITOR_INTERVAL = v;
    } else if (a.key === 'LOGFILE') {
      conf.LOGFILE = a.value;
    } else if (a.key === 'DEBUG') {
      conf.DEBUG = a.value !== '';
    }
  }
  return conf;
}

export function readKsmtunedConf(path: string): KsmtunedConf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`ksmtuned: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseKsmtunedConf(text, path);
}
