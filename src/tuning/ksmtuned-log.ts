// ksmtuned-log.ts — owns ksmtuned's debug output: `debug()` prefixes each message with `/bin/date`
// (C locale, as under systemd: "Sun Dec  6 01:36:27 UTC 2026") and appends it to LOGFILE, or
// prints it when LOGFILE is empty.

import { appendFileSync } from 'node:fs';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date(1)'s default format in the C locale, in UTC: `%a %b %e %H:%M:%S %Z %Y`. */
export function cDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

export interface DebugSink {
  (message: string, atMs: number): void;
}

/** The script's debug(): nothing unless DEBUG is set; then LOGFILE, or `stdout` when LOGFILE is empty. */
export function debugSink(debug: boolean, logfile: string, stdout: (line: string) => void): DebugSink {
  if (!debug) return () => {};
  return (message, atMs) => {
    const line = `${cDate(atMs)}: ${message}`;
    if (logfile) appendFileSync(logfile, `${line}\n`);
    else stdout(line);
  };
}
