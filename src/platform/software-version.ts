// software-version.ts — owns "which ksmsim produced this": the package version, the git commit of the
// checkout (when it is one and git is installed) and the Node version, read once per process.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { PROJECT_ROOT, projectPath } from './project-root.ts';

export interface SoftwareVersion {
  readonly ksmsim: string;
  /** `git rev-parse HEAD` of the checkout, with "-dirty" when it has uncommitted changes; null outside git. */
  readonly commit: string | null;
  readonly node: string;
  readonly host: string;
}

let cached: SoftwareVersion | undefined;

function gitCommit(): string | null {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', PROJECT_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}-dirty` : head;
  } catch {
    return null;
  }
}

export function softwareVersion(): SoftwareVersion {
  cached ??= {
    ksmsim: (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version,
    commit: gitCommit(),
    node: process.version,
    host: hostname(),
  };
  return cached;
}
