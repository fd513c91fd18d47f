// shell-conf.ts — owns reading the sourced shell files of the RHEL KSM packages (ksmtuned.conf,
// /etc/sysconfig/ksm): `KEY=value` lines, `export`, comments and quotes, with errors that name the line.
//
// The scripts `. FILE` these files, so anything bash accepts could appear; we accept the subset the
// packages ship and users write (assignments of literal words) and refuse the rest by line number
// rather than guess what a command substitution or a variable expansion would have produced.

export interface ShellAssignment {
  readonly key: string;
  readonly value: string;
  /** 1-based line number in the file. */
  readonly line: number;
}

export class ConfError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ConfError';
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every assignment in `text`, in order (a later one of the same key wins when sourced). */
export function parseShellAssignments(text: string, file: string): ShellAssignment[] {
  const out: ShellAssignment[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let s = lines[i]!.replace(/\r$/, '').trim();
    if (s === '' || s.startsWith('#')) continue;
    if (/^export\s/.test(s)) s = s.replace(/^export\s+/, '');
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfError(file, lineNo, `expected KEY=value, found ${JSON.stringify(s)}`);
    const key = s.slice(0, eq);
    if (!NAME.test(key)) throw new ConfError(file, lineNo, `${JSON.stringify(key)} is not a shell variable name`);
    out.push({ key, value: readWord(s.slice(eq + 1), file, lineNo, key), line: lineNo });
  }
  return out;
}

/** One shell word: unquoted, '…' or "…" parts glued together, up to whitespace or a comment. */
function readWord(rest: string, file: string, line: number, key: string): string {
  let value = '';
  let i = 0;
  while (i < rest.length) {
    const c = rest[i]!;
    if (c === ' ' || c === '\t') break;
    if (c === "'") {
      const end = rest.indexOf("'", i + 1);
      if (end < 0) throw new ConfError(file, line, `${key}: unterminated single quote`);
      value += rest.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < rest.length && rest[j] !== '"'; j++) {
        if (rest[j] === '\\' && j + 1 < rest.length && '"\\$`'.includes(rest[j + 1]!)) {
          value += rest[++j];
          continue;
        }
        if (rest[j] === '$' || rest[j] === '`') throw new ConfError(file, line, `${key}: expansions ($, \`) are not supported`);
        value += rest[j];
      }
      if (j >= rest.length) throw new ConfError(file, line, `${key}: unterminated double quote`);
      i = j + 1;
    } else if (c === '\\' && i + 1 < rest.length) {
      value += rest[i + 1];
      i += 2;
    } else if (c === '$' || c === '`') {
      throw new ConfError(file, line, `${key}: expansions ($, \`) are not supported`);
    } else if (';&|<>()'.includes(c)) {
      throw new ConfError(file, line, `${key}: ${JSON.stringify(c)} after an assignment is not supported`);
    } else {
      value += c;
      i++;
    }
  }
  const tail = rest.slice(i).trim();
  if (tail !== '' && !tail.startsWith('#')) {
    // `KEY=value cmd` runs cmd with KEY in its environment only: the file would not set KEY at all.
    throw new ConfError(file, line, `${key}: unexpected ${JSON.stringify(tail)} after the value (quote a value with spaces)`);
  }
  return value;
}
