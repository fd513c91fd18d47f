// parse-size.ts — owns parsing byte sizes from the command line: 4096, 64KiB, 256MiB, 2GiB (also K/M/G).

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10,
  m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20,
  g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30,
  t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40,
};

/** Bytes for a size like "256MiB"; throws an Error naming `flag` and the bad value. */
export function parseSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(`${flag}: invalid size ${JSON.stringify(text)} (use e.g. 4096, 64KiB, 256MiB, 2GiB)`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`${flag}: size ${JSON.stringify(text)} is out of range`);
  return bytes;
}

export function parseCount(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new Error(`${flag}: expected a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${flag}: ${n} is out of range (${min} to ${max})`);
  return n;
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (abs >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}
