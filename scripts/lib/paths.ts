// Where things live. Everything large or slow to make (kernel source, build
// directories, ccache, guest images) sits in one cache directory outside the
// checkout, so a fresh clone (CI) reuses it and `git clean` never costs a build.
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function cacheRoot(): string {
  return resolve(process.env.URINGLET_CACHE ?? join(homedir(), '.cache', 'uringlet'));
}

export const paths = {
  patches: () => join(repoRoot, 'patches'),
  kconfig: () => join(repoRoot, 'vm', 'kconfig'),
  vm: () => join(repoRoot, 'vm'),
  tests: () => join(repoRoot, 'tests'),
  results: () => resolve(process.env.URINGLET_RESULTS ?? join(repoRoot, 'results')),
  src: () => join(cacheRoot(), 'src'),
  trees: () => join(cacheRoot(), 'trees'),
  ccache: () => join(cacheRoot(), 'ccache'),
  images: () => join(cacheRoot(), 'images'),
  runs: () => join(cacheRoot(), 'runs'),
  logs: () => join(cacheRoot(), 'logs'),
  host: () => join(cacheRoot(), 'host'),
};
