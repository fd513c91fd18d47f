// knob-parse.ts — owns how sysfs text becomes a number: the kernel's kstrtouint/kstrtoul/kstrtoint/
// kstrtobool rules (base 10, optional '+', one trailing newline), as ksm.c's store functions use them.

/** What a parse returns: the value, or undefined for "EINVAL" (ksm.c turns every parse error into EINVAL). */
export type Parsed = number | undefined;

const UINT_MAX = 4294967295;
// Counters and knobs are kept in BigInt64 slots; unsigned longs beyond 2^63-1 are refused (EINVAL).
const ULONG_MAX_STORED = 2n ** 63n - 1n;

function stripNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

function parseDecimal(text: string, allowMinus: boolean): bigint | undefined {
  const s = stripNewline(text);
  const m = allowMinus ? /^([+-]?)(\d+)$/.exec(s) : /^(\+?)(\d+)$/.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[2]!);
  return m[1] === '-' ? -v : v;
}

export function kstrtouint(text: string): Parsed {
  const v = parseDecimal(text, false);
  return v === undefined || v > BigInt(UINT_MAX) ? undefined : Number(v);
}

export function kstrtoul(text: string): Parsed {
  const v = parseDecimal(text, false);
  return v === undefined || v > ULONG_MAX_STORED ? undefined : Number(v);
}

export function kstrtoint(text: string): Parsed {
  const v = parseDecimal(text, true);
  return v === undefined || v > 2147483647n || v < -2147483648n ? undefined : Number(v);
}

/** kstrtobool: y/Y/t/T/1 → 1, n/N/f/F/0 → 0, on/off; only the first one or two characters count. */
export function kstrtobool(text: string): Parsed {
  const c = text[0];
  switch (c) {
    case 'y': case 'Y': case 't': case 'T': case '1':
      return 1;
    case 'n': case 'N': case 'f': case 'F': case '0':
      return 0;
    case 'o': case 'O': {
      const d = text[1];
      if (d === 'n' || d === 'N') return 1;
      if (d === 'f' || d === 'F') return 0;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** sysfs_streq: equal, ignoring one trailing newline on either side. */
export function sysfsStreq(text: string, word: string): boolean {
  return stripNewline(text) === word;
}

/**
 * The kernel's answer where a store function returns kstrto*'s own error instead of -EINVAL
 * (merge_across_nodes_store, max_page_sharing_store): the value, or 'EINVAL' (no digits, junk) or
 * 'ERANGE' (the digits overflow the type). Measured: max_page_sharing 2147483648 is ERANGE.
 */
export type ParsedErrno = number | 'EINVAL' | 'ERANGE';

/** _kstrtoull for base 10: overflow (≥ 2^64) is ERANGE even with junk after the digits. */
function kstrtoullBig(s: string): bigint | 'EINVAL' | 'ERANGE' {
  const m = /^(\d*)([\s\S]*)$/.exec(s)!;
  const digits = m[1]!;
  if (digits.length && BigInt(digits) >= 2n ** 64n) return 'ERANGE';
  if (!digits.length) return 'EINVAL';
  if (m[2] !== '' && m[2] !== '\n') return 'EINVAL';
  return BigInt(digits);
}

/** kstrtoul (64-bit): an optional '+', base-10 digits, one optional newline. */
export function kstrtoulErrno(text: string): ParsedErrno {
  const v = kstrtoullBig(text.startsWith('+') ? text.slice(1) : text);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** kstrtoint: kstrtoll (an optional '-' or '+'), then ERANGE outside the int range. */
export function kstrtointErrno(text: string): ParsedErrno {
  const negative = text.startsWith('-');
  const v = kstrtoullBig(negative ? text.slice(1) : text.startsWith('+') ? text.slice(1) : text);
  if (typeof v !== 'bigint') return v;
  const n = negative ? -v : v;
  return n > 2147483647n || n < -2147483648n ? 'ERANGE' : Number(n);
}

/**
 * 2.6.32's strict_strtoul(buf, 10): simple_strtoul's digits (no sign, no leading space) then nothing
 * or one newline; else EINVAL (undefined). simple_strtoul wraps silently past 2^64; values past what a
 * BigInt64 slot holds (2^63-1) are refused here instead.
 */
export function strictStrtoul(text: string): Parsed {
  const m = /^(\d+)\n?$/.exec(text);
  if (!m) return undefined;
  const v = BigInt(m[1]!);
  return v > ULONG_MAX_STORED ? undefined : Number(v);
}
