// `uringlet iterate`: the maintainer's inner loop. Edit (or commit) in the
// managed uringlet tree, then: incremental rebuild, boot, the chosen guest
// tests, the result, and where the time went.
import { parseArgs } from 'node:util';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildKernel } from '../lib/kbuild.ts';
import { buildGuestTests, fastGuestTests, runGuestTests } from '../lib/guest-tests.ts';
import { buildPeerSuite, loadSuiteSpec, runPeerSuite } from '../lib/liburing-suite.ts';
import { log } from '../lib/log.ts';
import { withVm } from '../lib/vm.ts';
import { guestOf } from '../lib/compare-platform.ts';
import { formatTapRuns } from '../lib/tap-print.ts';

const help = `usage: uringlet iterate [--test NAME]... [--liburing NAME]... [--variant default|debug] [--kernel uringlet|stock]
  Rebuilds the uringlet kernel incrementally from its managed tree (your
  commits and uncommitted edits included), boots it and runs guest tests
  (default: ${fastGuestTests.join(', ')}). --test all runs the whole guest suite;
  --liburing NAME adds tests of liburing's own suite (forced uringlet).
  Exit: 0 pass, 1 test failure, 2 user/infrastructure error, 3 kernel crash.`;

const command: Command = {
  summary: 'rebuild the uringlet kernel incrementally, boot it, run the chosen guest tests, print the result',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          test: { type: 'string', multiple: true },
          liburing: { type: 'string', multiple: true },
          variant: { type: 'string', default: 'default' },
          kernel: { type: 'string', default: 'uringlet' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      },
      help,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const variant = values.variant;
    if (variant !== 'default' && variant !== 'debug') throw new UserError('--variant must be default or debug');
    const kernel = values.kernel;
    if (kernel !== 'stock' && kernel !== 'uringlet') throw new UserError('--kernel must be uringlet or stock');
    const tests = values.test === undefined ? fastGuestTests : values.test.includes('all') ? [undefined] : values.test;

    const t0 = Date.now();
    const build = await buildKernel({ kernel, variant });
    const headers = kernel === 'uringlet' && variant === 'default' ? build.headersDir : (await buildKernel({ kernel: 'uringlet', variant: 'default' })).headersDir;
    const bin = await buildGuestTests(headers);
    const peer = values.liburing !== undefined ? await buildPeerSuite() : undefined;
    const tBuilt = Date.now();

    let failed = 0;
    let tBooted = 0;
    const lines: string[] = [];
    await withVm({ kernel: build.bzImage, ...(variant === 'debug' ? { bootTimeoutMs: 300000, debugKernel: true } : {}) }, async (vm) => {
      tBooted = Date.now();
      for (const only of tests) {
        const runs = await runGuestTests(vm, bin, { ...(only !== undefined ? { only } : {}), timeoutMs: variant === 'debug' ? 900000 : 180000 });
        const printed = formatTapRuns(runs, { style: 'summary', only });
        // An empty block pushed as a line would print a blank line.
        if (printed.text !== '') lines.push(printed.text);
        failed += printed.failed;
      }
      if (peer !== undefined && values.liburing !== undefined) {
        const guest = guestOf(vm);
        const spec = loadSuiteSpec();
        const rs = await runPeerSuite(guest, peer, { knob: kernel === 'uringlet' ? spec.uringletKnob : 0, spec, only: values.liburing });
        for (const r of rs) {
          lines.push(`${r.status === 'pass' ? 'ok  ' : r.status === 'skip' || r.status === 'not-run' ? 'skip' : 'FAIL'} liburing ${r.name}${r.status === 'pass' ? '' : ` (${r.status})`}`);
          if (r.status === 'fail' || r.status === 'timeout' || r.status === 'hang') {
            failed++;
            lines.push(...r.tail.map((l) => `       ${l}`));
          }
        }
      }
      vm.checkConsole();
    });
    const tEnd = Date.now();
    process.stdout.write(lines.join('\n') + '\n');
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    log.info(
      `${failed === 0 ? 'PASS' : `${failed} FAILED`} on ${kernel}/${variant} in ${s(tEnd - t0)}: build ${s(tBuilt - t0)}${build.upToDate ? ' (up to date)' : ''}, boot ${s(tBooted - tBuilt)}, tests ${s(tEnd - tBooted)}`,
    );
    return failed === 0 ? 0 : 1;
  },
};
export default command;
