// Resolving `--kernel stock|uringlet|<path>` to a bzImage (building it when needed).
import { existsSync } from 'node:fs';
import { buildKernel, type KernelBuild, type Variant } from './kbuild.ts';
import { UserError } from './errors.ts';

export async function resolveKernel(spec: string, variant: Variant = 'default'): Promise<{ bzImage: string; build: KernelBuild | null }> {
  if (spec === 'stock' || spec === 'uringlet') {
    const build = await buildKernel({ kernel: spec, variant });
    return { bzImage: build.bzImage, build };
  }
  if (existsSync(spec)) return { bzImage: spec, build: null };
  throw new UserError(`--kernel must be stock, uringlet or a bzImage path, not ${spec}`);
}
