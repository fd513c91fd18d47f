// links.test.ts — the documentation's relative links resolve inside the repository: every link in
// README.md and docs/*.md names a file that exists, and every #anchor names a heading (or an
// explicit <a id>) of the file it points to. Links to the web are not followed.

import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = join(ROOT, 'docs');

const documents: string[] = [
  join(ROOT, 'README.md'),
  ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort().map((f) => join(DOCS, f)),
];

interface Link {
  readonly target: string;
  readonly line: number;
}

/** Markdown text with fenced code blocks and inline code spans blanked out (their brackets are not links). */
function withoutCode(text: string): string {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/`+[^`\n]*`+/g, (span) => ' '.repeat(span.length));
}

/** Inline links and images, `[text](target)` and `![alt](target "title")`, with their line numbers. */
function linksOf(text: string): Link[] {
  const out: Link[] = [];
  const clean = withoutCode(text);
  const re = /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
  for (let m = re.exec(clean); m; m = re.exec(clean)) {
    out.push({ target: m[1]!, line: clean.slice(0, m.index).split('\n').length });
  }
  return out;
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8');
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text).split('\n')) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

describe('documentation links', () => {
  it('reads README.md and the docs/ folder', () => {
    expect(documents.length).to.be.greaterThan(1);
    for (const d of documents) expect(existsSync(d), relative(ROOT, d)).to.equal(true);
  });

  for (const doc of documents) {
    const name = relative(ROOT, doc);
    const links = existsSync(doc) ? linksOf(readFileSync(doc, 'utf8')).filter((l) => !isExternal(l.target)) : [];

    it(`every relative link in ${name} names a file of the repository`, () => {
      const broken: string[] = [];
      for (const l of links) {
        const path = l.target.split('#')[0]!;
        if (path === '') continue;
        const file = resolve(dirname(doc), decodeURIComponent(path));
        if (!file.startsWith(ROOT + '/') || !existsSync(file)) broken.push(`${name}:${l.line} → ${l.target}`);
      }
      expect(broken, 'links to missing files').to.deep.equal([]);
    });

    it(`every #anchor in ${name} names a heading of its target`, () => {
      const broken: string[] = [];
      for (const l of links) {
        const hash = l.target.indexOf('#');
        if (hash < 0) continue;
        const path = l.target.slice(0, hash);
        const file = path === '' ? doc : resolve(dirname(doc), decodeURIComponent(path));
        // A missing file is the other test's failure; a link into a folder or a non-Markdown file has no headings to check.
        if (!existsSync(file) || statSync(file).isDirectory() || !file.endsWith('.md')) continue;
        const anchor = decodeURIComponent(l.target.slice(hash + 1));
        if (!anchorsOf(file).has(anchor)) broken.push(`${name}:${l.line} → ${l.target}`);
      }
      expect(broken, 'anchors that name no heading').to.deep.equal([]);
    });
  }
});
