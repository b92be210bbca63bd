// `uringlet build-kernel`: stock and uringlet (default variant) unless told
// otherwise; prints where the artifacts are.
import { resolve } from 'node:path';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildAll, buildKernel, type BuildOptions, type KernelBuild } from '../lib/kbuild.ts';

const help = `usage: uringlet build-kernel [--kernel stock|uringlet|all] [--variant default|debug]
                             [--kernel-src DIR [--kernel-ref REF]] [--patches DIR] [-j N]
  Builds the stock kernel and the kernel with patches/ applied (all, the default),
  out of tree with ccache; a no-op when nothing changed. --patches takes the
  series from another directory than patches/. Each build writes metadata.json
  next to its bzImage.`;

function show(b: KernelBuild): string {
  return `${b.kernel}/${b.variant}: ${b.bzImage}${b.upToDate ? ' (up to date)' : ''}\n  headers ${b.headersDir}\n  metadata ${b.metadataPath}\n`;
}

const command: Command = {
  summary: 'build stock and patched kernels from the 6.1 base and patches/',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          kernel: { type: 'string', default: 'all' },
          variant: { type: 'string', default: 'default' },
          'kernel-src': { type: 'string' },
          'kernel-ref': { type: 'string' },
          patches: { type: 'string' },
          jobs: { type: 'string', short: 'j' },
          help: { type: 'boolean', short: 'h' },
        },
      },
      help,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const variant = values.variant;
    if (variant !== 'default' && variant !== 'debug') throw new UserError(`--variant must be default or debug, not ${variant}`);
    const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
    if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new UserError(`-j needs a positive integer, not ${values.jobs}`);
    const common: Omit<BuildOptions, 'kernel'> = {
      variant,
      ...(values['kernel-src'] !== undefined ? { kernelSrc: values['kernel-src'] } : {}),
      ...(values['kernel-ref'] !== undefined ? { kernelRef: values['kernel-ref'] } : {}),
      ...(values.patches !== undefined ? { patchesDir: resolve(values.patches) } : {}),
      ...(jobs !== undefined ? { jobs } : {}),
    };
    if (values.kernel === 'all') {
      const r = await buildAll(common);
      process.stdout.write(show(r.stock));
      if (r.uringlet !== null) process.stdout.write(show(r.uringlet));
      else process.stdout.write('uringlet: not built (patches/ is empty)\n');
      return 0;
    }
    if (values.kernel !== 'stock' && values.kernel !== 'uringlet') throw new UserError(`--kernel must be stock, uringlet or all, not ${values.kernel}`);
    process.stdout.write(show(await buildKernel({ ...common, kernel: values.kernel })));
    return 0;
  },
};
export default command;
