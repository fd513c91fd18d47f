// chromium-screenshot.ts — owns screenshotting one of the self-contained HTML reports with Debian's
// headless Chromium (no network: every host name resolves to nothing), for the PNGs in docs/.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Write `html` to a temporary file and screenshot it at `width`×`height` into `png`. */
export function screenshotHtml(html: string, png: string, width: number, height: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'ksmsim-screenshot-'));
  try {
    const page = join(dir, 'report.html');
    writeFileSync(page, html);
    const r = spawnSync('/usr/bin/chromium', [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND', '--hide-scrollbars',
      `--user-data-dir=${join(dir, 'profile')}`, `--window-size=${width},${height}`, `--screenshot=${resolve(png)}`, pathToFileURL(page).href,
    ], { encoding: 'utf8', timeout: 120_000 });
    if (r.error) throw new Error(`/usr/bin/chromium: ${r.error.message} (install it with: apt-get install -y chromium)`);
    if (r.status !== 0) throw new Error(`chromium exited ${r.status}: ${r.stderr.slice(-2000)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
