import { parseArgs } from 'node:util';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildKernel } from '../lib/kbuild.ts';
import { buildGuestTests, runGuestTests } from '../lib/guest-tests.ts';
import { withVm } from '../lib/vm.ts';
import { formatTapRuns } from '../lib/tap-print.ts';

const help = `usage: uringlet guest-test [--kernel stock|uringlet] [--variant default|debug] [--test GROUP]
  Boots the kernel (default: uringlet) and runs the guest suite (tests/guest, TAP) over SSH;
  --test runs one group (setup, nops, never-blocks, links, mix, ...). On stock the uringlet
  flag is rejected and the tests record the baseline. Exit 1 if a test fails.`;

const command: Command = {
  summary: 'boot a kernel and run the guest test suite (TAP) over SSH',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          kernel: { type: 'string', default: 'uringlet' },
          variant: { type: 'string', default: 'default' },
          test: { type: 'string' },
          help: { type: 'boolean', short: 'h', default: false },
        },
        strict: true,
      },
      help,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const kernel = values.kernel;
    const variant = values.variant;
    if (kernel !== 'stock' && kernel !== 'uringlet') throw new UserError('--kernel must be stock or uringlet');
    if (variant !== 'default' && variant !== 'debug') throw new UserError('--variant must be default or debug');
    // The tests always use the patched headers: the same binary runs on both kernels.
    const headers = (await buildKernel({ kernel: 'uringlet', variant: 'default' })).headersDir;
    const build = await buildKernel({ kernel, variant });
    const bin = await buildGuestTests(headers);
    return withVm({ kernel: build.bzImage, ...(variant === 'debug' ? { bootTimeoutMs: 300000, debugKernel: true } : {}) }, async (vm) => {
      const runs = await runGuestTests(vm, bin, { ...(values.test ? { only: values.test } : {}), timeoutMs: variant === 'debug' ? 900000 : 180000 });
      const { text, failed } = formatTapRuns(runs, { style: 'raw' });
      process.stdout.write(text);
      vm.checkConsole();
      return failed === 0 ? 0 : 1;
    });
  },
};
export default command;
