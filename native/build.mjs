// build.mjs — owns building native/ksmsim_linux.node (the linux backend's syscall addon) with node-gyp.
// Run by `npm ci` / `npm install` (scripts.postinstall) and by hand (`node native/build.mjs`).
// A failed build only warns: the emulator needs no addon, and the linux backend reports itself unavailable.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');

/** node-gyp as `[command, ...leading args]`: npm's own copy first, then one on PATH. */
function findNodeGyp() {
  const candidates = [];
  // npm exports the path of its bundled node-gyp to lifecycle scripts.
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  // npm_execpath is npm-cli.js; its node_modules holds node-gyp.
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  // The npm that ships next to this node binary.
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

/** Headers installed beside node (e.g. /usr/include/node) avoid a download that may be blocked. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
}

function warn(why) {
  console.warn(`\nksmsim: WARNING: the linux backend addon (native/ksmsim_linux.node) was not built: ${why}`);
  console.warn('ksmsim: the emulator works without it; the linux backend will report itself unavailable.');
  console.warn('ksmsim: to retry: node native/build.mjs --strict\n');
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') warn(`the linux backend needs Linux (this is ${process.platform})`);
const [cmd, ...lead] = findNodeGyp();
const r = spawnSync(cmd, [...lead, 'rebuild', ...nodedirArgs()], { cwd: here, stdio: 'inherit' });
if (r.error) warn(`could not run node-gyp: ${r.error.message}`);
if (r.status !== 0) warn(`node-gyp exited with ${r.status ?? r.signal}`);
console.log('ksmsim: built native/build/Release/ksmsim_linux.node');
