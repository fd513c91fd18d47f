// status-line.ts — owns the one-line progress display of a long command on a terminal: written to
// stderr and rewritten in place (carriage return, erase line), at most 10 times a second, cut to the
// terminal's width (a wrapped line could not be rewritten), and erased when the command is done.
// Off entirely unless enabled and stderr is a TTY, so pipes, files and CI logs never see it.

export interface StatusLine {
  /** Show `text` (dropped if the last update was under 100 ms ago). */
  update(text: string): void;
  /** Erase the line (before printing results). */
  clear(): void;
  readonly active: boolean;
}

const MIN_INTERVAL_MS = 100;

export function statusLine(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): StatusLine {
  if (!enabled || !stream.isTTY) return { update: () => {}, clear: () => {}, active: false };
  let last = -Infinity;
  let shown = false;
  return {
    active: true,
    update(text: string): void {
      const now = performance.now();
      if (now - last < MIN_INTERVAL_MS) return;
      last = now;
      // A pseudo-terminal may report 0 columns (script(1), some CI): take 80 then.
      const width = Math.max(20, (stream.columns || 80) - 1);
      stream.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      shown = true;
    },
    clear(): void {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
      last = -Infinity;
    },
  };
}
