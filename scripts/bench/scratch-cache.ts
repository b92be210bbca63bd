// A private, throw-away uringlet cache for benchmarks and fixture captures, so
// they never touch the managed trees (where a maintainer may be working). Its
// kernel source is a clone of the managed base repository (hardlinked
// objects: seconds, no extra disk); its ccache is either the shared one (a
// "second tree" build) or an empty one (a really cold build).
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { kernelSource } from '../lib/kernel-source.ts';
import { cacheRoot, paths } from '../lib/paths.ts';

export interface ScratchCache {
  root: string;
  /** Pass as --kernel-src / kernelSrc: the managed base repository (only read). */
  kernelSrc: string;
}

export async function withScratchCache<T>(opts: { shareCcache: boolean }, fn: (c: ScratchCache) => Promise<T>): Promise<T> {
  const shared = await kernelSource();
  const sharedCcache = paths.ccache();
  // Same filesystem as the shared repo, so the clone hardlinks its objects.
  const root = join(cacheRoot(), `scratch-${process.pid}-${Date.now()}`);
  mkdirSync(root, { recursive: true });
  if (opts.shareCcache) symlinkSync(sharedCcache, join(root, 'ccache'));
  const saved = process.env.URINGLET_CACHE;
  process.env.URINGLET_CACHE = root;
  try {
    return await fn({ root, kernelSrc: shared.repo });
  } finally {
    if (saved === undefined) delete process.env.URINGLET_CACHE;
    else process.env.URINGLET_CACHE = saved;
    rmSync(root, { recursive: true, force: true });
  }
}
