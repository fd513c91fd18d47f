// workload-args.ts — owns the `key=value` arguments of the workload guests (guests/workloads/*.ts):
// the keys every workload takes (size/pages, seed, instance, mergeable, readonly, hold, tick, verbose), typed
// per-workload keys (whole numbers, rates, fractions, durations, flags, strings), and the errors for
// unknown keys or bad values, each naming the workload, the key and the value.
//
// It lives under src/ (not beside the guests) so the host side — src/density reading a fleet — never
// imports from a guest program's folder; the guests import it from here.
//
// Forms accepted: `key=value`, `--key=value` and `--key value` (so `--image PATH` works like `image=PATH`).

export const PAGE = 4096;

/** One key's type: how to parse its text (undefined = invalid), its default and its help text. */
export interface ArgDef<T> {
  readonly default: T;
  readonly expect: string;
  readonly help: string;
  parse(text: string): T | undefined;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20,
  g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30,
};

/** Bytes for `4096`, `64KiB`, `32MiB`, `1GiB` (also K/M/G, KB/MB/GB); undefined if malformed or ≤ 0. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** Milliseconds for `250`, `250ms`, `1.5s`, `10m`, `1h`; undefined if malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|min|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
  const ms = Number(m[1]) * mult;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

function parseNumber(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** A whole number in [min, max]. */
export function int(def: number, help: string, min = 0, max = Number.MAX_SAFE_INTEGER): ArgDef<number> {
  return {
    default: def, help, expect: `a whole number from ${min} to ${max}`,
    parse: (t) => {
      if (!/^\s*\d+\s*$/.test(t)) return undefined;
      const n = Number(t);
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
  };
}

/** A non-negative decimal number, at most `max` (rates in pages per second). */
export function num(def: number, help: string, max = 1e9): ArgDef<number> {
  return {
    default: def, help, expect: `a number from 0 to ${max}`,
    parse: (t) => {
      const n = parseNumber(t);
      return n !== undefined && n <= max ? n : undefined;
    },
  };
}

/** A fraction in [0, 1] (`0.25`, or a percentage `25%`). */
export function fraction(def: number, help: string): ArgDef<number> {
  return {
    default: def, help, expect: 'a fraction from 0 to 1 (or a percentage like 25%)',
    parse: (t) => {
      const pct = t.trim().endsWith('%');
      const n = parseNumber(pct ? t.trim().slice(0, -1) : t);
      if (n === undefined) return undefined;
      const f = pct ? n / 100 : n;
      return f >= 0 && f <= 1 ? f : undefined;
    },
  };
}

/** 0/1, true/false, yes/no, on/off. */
export function flag(def: boolean, help: string): ArgDef<boolean> {
  return {
    default: def, help, expect: '0 or 1',
    parse: (t) => {
      const v = t.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      return undefined;
    },
  };
}

/** A duration in milliseconds (`500`, `500ms`, `2s`, `10m`). */
export function duration(def: number, help: string): ArgDef<number> {
  return { default: def, help, expect: 'a duration in ms (e.g. 500, 2s, 10m)', parse: parseDurationMs };
}

/** Any non-empty text (undefined by default). */
export function str(help: string): ArgDef<string | undefined> {
  return { default: undefined, help, expect: 'a non-empty string', parse: (t) => (t.length > 0 ? t : undefined) };
}

export type ArgSpec = Record<string, ArgDef<unknown>>;
export type ArgValues<S extends ArgSpec> = { -readonly [K in keyof S]: S[K] extends ArgDef<infer T> ? T : never };

/** What every workload accepts besides its own keys. */
export interface CommonArgs {
  /** Pages to map (from `size=` or `pages=`). */
  pages: number;
  /** Seed of the content shared by guests (same seed → same shared content). */
  seed: number;
  /** Seed of the per-guest content (default: the guest's pid, so every guest differs). */
  instance: number;
  /** Mark the memory MADV_MERGEABLE (default yes). */
  mergeable: boolean;
  /** Make the shared image read-only and advise only it (DKSM's intended use: docs/engines.md). */
  readonly: boolean;
  /** How long to keep running after READY, ms (default 10 minutes). */
  hold: number;
  /** Sleep between steady-state steps, ms (default 20). */
  tick: number;
  /** Log the memory layout before READY. */
  verbose: boolean;
}

export const HOLD_DEFAULT_MS = 10 * 60_000;

function commonSpec(defaultBytes: number): ArgSpec {
  return {
    size: { default: defaultBytes, help: 'memory to map (4096, 64KiB, 32MiB, …); or pages=N', expect: 'a size like 4096, 64KiB, 32MiB', parse: parseBytes },
    pages: int(0, 'pages to map (instead of size=)', 1, 2 ** 24),
    seed: int(1, 'seed of the content shared between guests', 0, 2 ** 32 - 1),
    instance: int(0, 'seed of the per-guest content (default: the pid)', 0, 2 ** 32 - 1),
    mergeable: flag(true, 'madvise(MADV_MERGEABLE) the memory'),
    readonly: flag(false, 'mprotect the shared image read-only and advise only it (for DKSM)'),
    hold: duration(HOLD_DEFAULT_MS, 'keep running this long after READY, then exit 0'),
    tick: duration(20, 'shortest sleep between steady-state steps (longer while no page is due, up to 1 s)'),
    verbose: flag(false, 'log the memory layout before READY'),
  };
}

/**
 * Parse `args` for workload `workload`: the common keys plus `spec`. `defaultBytes` is the size
 * when neither size= nor pages= is given; `pid` the instance default. Throws an Error naming the
 * key and the value for an unknown key, a malformed argument or a bad value.
 */
export function parseWorkloadArgs<S extends ArgSpec>(
  workload: string, args: readonly string[], spec: S, opts: { defaultBytes: number; pid: number },
): ArgValues<S> & CommonArgs {
  const common = commonSpec(opts.defaultBytes);
  for (const k of Object.keys(spec)) if (k in common) throw new Error(`${workload}: key ${k} is defined twice`);
  const all: ArgSpec = { ...common, ...spec };
  const given = new Map<string, string>();
  const known = () => Object.keys(all).join(', ');
  for (let i = 0; i < args.length; i++) {
    let shown = args[i]!;
    let arg = shown;
    let key: string;
    let value: string | undefined;
    if (arg.startsWith('--')) {
      arg = arg.slice(2);
      const eq = arg.indexOf('=');
      if (eq >= 0) {
        key = arg.slice(0, eq);
        value = arg.slice(eq + 1);
      } else {
        key = arg;
        value = args[i + 1];
        if (value === undefined || value.startsWith('--')) throw new Error(`${workload}: argument --${key} needs a value`);
        shown = `--${key} ${value}`;
        i++;
      }
    } else {
      const eq = arg.indexOf('=');
      if (eq < 0) throw new Error(`${workload}: argument ${JSON.stringify(arg)} is not key=value (known keys: ${known()})`);
      key = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    if (!Object.prototype.hasOwnProperty.call(all, key)) {
      throw new Error(`${workload}: unknown key ${JSON.stringify(key)} in ${JSON.stringify(shown)} (known keys: ${known()})`);
    }
    if (given.has(key)) throw new Error(`${workload}: key ${key} given twice (${JSON.stringify(given.get(key))} and ${JSON.stringify(value)})`);
    given.set(key, value);
  }
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(all)) {
    const text = given.get(key);
    if (text === undefined) {
      out[key] = def.default;
      continue;
    }
    const v = def.parse(text);
    if (v === undefined) throw new Error(`${workload}: bad value for ${key}: ${JSON.stringify(text)} (expected ${def.expect})`);
    out[key] = v;
  }
  if (given.has('size') && given.has('pages')) {
    throw new Error(`${workload}: give size= or pages=, not both (size=${given.get('size')}, pages=${given.get('pages')})`);
  }
  if (!given.has('pages')) {
    const pages = Math.ceil((out.size as number) / PAGE);
    if (pages > 2 ** 24) throw new Error(`${workload}: bad value for size: ${JSON.stringify(given.get('size'))} (at most 64GiB)`);
    out.pages = pages;
  }
  delete out.size;
  if (!given.has('instance')) out.instance = opts.pid >>> 0;
  return out as ArgValues<S> & CommonArgs;
}

/**
 * Split `pages` into regions by fraction; the region named `rest` takes what the others leave.
 * Throws if the fractions add up to more than 1, naming the keys.
 */
export function splitPages<K extends string>(workload: string, pages: number, fractions: Record<K, number>, rest: string): Record<K, number> & Record<string, number> {
  const keys = Object.keys(fractions) as K[];
  const sum = keys.reduce((s, k) => s + fractions[k], 0);
  if (sum > 1 + 1e-9) {
    throw new Error(`${workload}: ${keys.map((k) => `${k}=${fractions[k]}`).join(' + ')} add up to ${+sum.toFixed(6)} > 1 (the rest is ${rest})`);
  }
  const out: Record<string, number> = {};
  let used = 0;
  for (const k of keys) {
    out[k] = Math.min(pages - used, Math.round(fractions[k] * pages));
    used += out[k];
  }
  out[rest] = pages - used;
  return out as Record<K, number> & Record<string, number>;
}
