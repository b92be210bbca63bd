import { parseArgs } from 'node:util';
import type { Command } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildAll, buildKernel, type KernelName, type Variant } from '../lib/kbuild.ts';

const command: Command = {
  summary: 'build stock and patched kernels from the 6.1 base and patches/',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        kernel: { type: 'string', default: 'all' },
        variant: { type: 'string', default: 'default' },
        'kernel-src': { type: 'string' },
        'kernel-ref': { type: 'string' },
        jobs: { type: 'string', short: 'j' },
      },
    });
    const variant = values.variant;
    if (variant !== 'default' && variant !== 'debug') throw new UserError(`--variant must be default or debug, not ${variant}`);
    const common = {
      variant: variant as Variant,
      ...(values['kernel-src'] !== undefined ? { kernelSrc: values['kernel-src'] } : {}),
      ...(values['kernel-ref'] !== undefined ? { kernelRef: values['kernel-ref'] } : {}),
      ...(values.jobs !== undefined ? { jobs: Number(values.jobs) } : {}),
    };
    if (values.kernel === 'all') {
      const r = await buildAll(common);
      process.stdout.write(`stock:    ${r.stock.bzImage}\n`);
      if (r.uringlet) process.stdout.write(`uringlet: ${r.uringlet.bzImage}\n`);
      return 0;
    }
    if (values.kernel !== 'stock' && values.kernel !== 'uringlet') throw new UserError(`--kernel must be stock, uringlet or all, not ${values.kernel}`);
    const b = await buildKernel({ ...common, kernel: values.kernel as KernelName });
    process.stdout.write(`${b.kernel}: ${b.bzImage}\n`);
    return 0;
  },
};
export default command;
