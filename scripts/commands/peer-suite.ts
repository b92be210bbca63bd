// `uringlet peer-suite`: liburing's own tests on stock and on uringlet (forced
// by the knob), and the verdict: every test that passes on stock passes on
// uringlet. Writes results/peer-<time>/ (TAP per kernel, results.json).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Command, parseCommandArgs } from './types.ts';
import { ExitCode, UserError } from '../lib/errors.ts';
import { buildKernel } from '../lib/kbuild.ts';
import { buildPeerSuite, flakyEntry, flakyOverrideRuns, loadSuiteSpec, peerVerdict, runPeerSuite, toTap, type PeerTestResult } from '../lib/liburing-suite.ts';
import { log } from '../lib/log.ts';
import { writeJsonAtomic } from '../lib/atomic.ts';
import { paths } from '../lib/paths.ts';
import { withVm } from '../lib/vm.ts';
import { guestOf } from '../lib/compare-platform.ts';

type KernelName = 'stock' | 'uringlet';

// KASAN, lockdep and kmemleak under TCG: poll-mshot-update took 792 s forced
// on the debug kernel (1010 s on 2026-12-02), 16-20x its 49.8 s on the default
// one; most tests take < 1 s.
const debugTimeoutScale = 8;

const usage = `usage: uringlet peer-suite [--kernel stock|uringlet|both] [--variant default|debug]
                           [--test NAME]... [--knob 1|2] [--timeout-scale X] [--repeat N]
  Runs liburing's own tests (tests/liburing/suite.json) on each kernel, uringlet forced
  by kernel.io_uring_uringlet_force (default: the suite's uringletKnob). Exit 1 if a test
  that passes on stock fails on uringlet (a test in flakyTests is reported, not counted,
  unless it failed every one of ${flakyOverrideRuns}+ runs), or a known failure is stale; 3 if the kernel
  crashed, hung or printed a report (each test during which one appeared is named).
  --timeout-scale multiplies every test's timeout (default 1, on the debug variant ${debugTimeoutScale}).
  --repeat N runs each test N times in a row per boot, for a test suspected flaky: a test
  fails on a kernel if any run failed, and runs that disagree are reported with counts.`;

const command: Command = {
  summary: "run liburing's own tests on stock and on uringlet (forced); fail if uringlet breaks one that passes on stock",
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          kernel: { type: 'string', default: 'both' },
          variant: { type: 'string', default: 'default' },
          test: { type: 'string', multiple: true },
          knob: { type: 'string' },
          'timeout-scale': { type: 'string' },
          repeat: { type: 'string', default: '1' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      },
      usage,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const variant = values.variant;
    if (variant !== 'default' && variant !== 'debug') throw new UserError('--variant must be default or debug');
    const kernels: KernelName[] = values.kernel === 'both' ? ['stock', 'uringlet'] : values.kernel === 'stock' || values.kernel === 'uringlet' ? [values.kernel] : [];
    if (kernels.length === 0) throw new UserError('--kernel must be stock, uringlet or both');
    const spec = loadSuiteSpec();
    const knob = values.knob !== undefined ? Number(values.knob) : spec.uringletKnob;
    if (![1, 2].includes(knob)) throw new UserError('--knob must be 1 (forced, asynchronous SQ consumption) or 2 (forced, enter waits for consumption)');
    const timeoutScale = values['timeout-scale'] !== undefined ? Number(values['timeout-scale']) : variant === 'debug' ? debugTimeoutScale : 1;
    if (!Number.isFinite(timeoutScale) || timeoutScale <= 0) throw new UserError(`--timeout-scale needs a positive number, got '${values['timeout-scale']}'`);
    const repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000) throw new UserError(`--repeat needs a whole number from 1 to 1000, got '${values.repeat}'`);
    const suite = await buildPeerSuite();

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = join(paths.results(), `peer-${stamp}`);
    const partial = `${dir}.partial`;
    mkdirSync(partial, { recursive: true });
    const results: Partial<Record<KernelName, PeerTestResult[]>> = {};
    const hungTests: string[] = [];
    for (const k of kernels) {
      const build = await buildKernel({ kernel: k, variant });
      log.info(`liburing ${suite.version}: ${values.test?.length ?? suite.tests.length} tests${repeat > 1 ? ` x ${repeat} runs` : ''} on ${k}/${variant}${k === 'uringlet' ? ` (kernel.io_uring_uringlet_force=${knob})` : ''}`);
      const r = await withVm({ kernel: build.bzImage, runDir: join(paths.runs(), `peer-${process.pid}-${k}`), ...(variant === 'debug' ? { bootTimeoutMs: 300000, debugKernel: true } : {}) }, async (vm) => {
        const guest = guestOf(vm);
        const out = await runPeerSuite(guest, suite, {
          knob: k === 'uringlet' ? knob : 0,
          spec,
          timeoutScale,
          repeat,
          console: { mark: () => vm.consoleMark(), report: (since) => vm.crash(since)?.title ?? null },
          ...(values.test !== undefined ? { only: values.test } : {}),
          progress: (done, total, name, status, consoleReport) => {
            if (consoleReport !== undefined) log.warn(`[${k} ${done}/${total}] ${name}: ${status}, and the console showed ${consoleReport} while it ran`);
            else if (status !== 'pass' && status !== 'skip') log.warn(`[${k} ${done}/${total}] ${name}: ${status}`);
            else if (done % 10 === 0 || done === total) log.info(`[${k} ${done}/${total}] ${name}: ${status}`);
          },
        });
        // Kept before the console check: a splat fails the run, the results stay in the .partial directory.
        writeFileSync(join(partial, `${k}-${variant}.tap`), toTap(out, `liburing ${suite.version} on ${k}/${variant}${k === 'uringlet' ? `, knob ${knob}` : ''}`));
        const hung = out.filter((x) => x.status === 'hang').map((x) => x.name);
        if (hung.length > 0) {
          // timeout(1)'s SIGKILL did not end it: a task stuck in the kernel, whatever the test says
          log.warn(`${k}/${variant}: ${hung.join(', ')} could not be killed (a task stuck in the kernel); console tail:\n  ${vm.consoleTail(20).join('\n  ')}`);
          hungTests.push(...hung.map((n) => `${k}: ${n}`));
        }
        const during = out.filter((x) => x.console !== undefined).map((x) => `${x.name}: ${x.console}`);
        if (during.length > 0) log.warn(`${k}/${variant}: kernel reports appeared during ${during.join('; ')} (TAP: ${partial})`);
        // A splat in the console fails the run even if every test passed.
        vm.checkConsole();
        return out;
      });
      results[k] = r;
    }

    const failing = (rs: PeerTestResult[]) => rs.filter((r) => r.status === 'fail' || r.status === 'timeout' || r.status === 'hang');
    let exit = 0;
    const summary: Record<string, unknown> = { liburing: suite.version, variant, knob, repeat, kernels, results };
    if (results.stock !== undefined && results.uringlet !== undefined) {
      const v = peerVerdict(results.stock, results.uringlet, spec, variant);
      summary.verdict = v;
      process.stdout.write(`\nliburing ${suite.version} peer suite (${variant}): ${v.passedBoth} pass on both kernels\n`);
      const runs = (n: string, k: KernelName): string => {
        const f = v.failures[n]?.[k];
        return f !== undefined && f.runs > 1 ? ` (${f.failed} of ${f.runs} runs failed)` : '';
      };
      for (const n of v.regressions) {
        const failed = failing(results.uringlet).filter((r) => r.name === n);
        const s = results.stock.find((r) => r.name === n);
        process.stdout.write(`  REGRESSION ${n}: stock ${s?.status}${runs(n, 'stock')}, uringlet ${failed[0]?.status}${runs(n, 'uringlet')}\n${(failed[0]?.tail ?? []).map((l) => `      ${l}\n`).join('')}`);
      }
      for (const f of v.flaky) process.stdout.write(`  flaky on ${f.kernel}: ${f.name} failed ${f.failed} of ${f.runs} runs\n`);
      for (const f of v.flakyListed) {
        process.stdout.write(`  FLAKY (listed, not a regression) ${f.name}: uringlet failed ${f.uringlet.failed} of ${f.uringlet.runs} runs, stock ${f.stock.failed} of ${f.stock.runs}; ${f.reason}\n`);
      }
      for (const k of v.known) process.stdout.write(`  known (fails on stock too) ${k.name}: ${k.reason}\n`);
      for (const n of v.unlistedStockFailures) process.stdout.write(`  fails on both kernels, not in tests/liburing/suite.json knownFailures: ${n}\n`);
      for (const n of v.staleKnown) process.stdout.write(`  STALE known failure ${n}: passes on stock, remove it from knownFailures\n`);
      for (const n of v.skipMismatch) process.stdout.write(`  skipped on one kernel only: ${n}\n`);
      for (const x of v.slower) process.stdout.write(`  slower on uringlet: ${x.name} ${x.uringletSec.toFixed(1)} s vs ${x.stockSec.toFixed(1)} s on stock (${x.ratio.toFixed(1)}x)\n`);
      if (v.regressions.length > 0 || v.staleKnown.length > 0) exit = 1;
    } else {
      for (const [k, rs] of Object.entries(results)) {
        for (const r of failing(rs)) {
          const known = spec.knownFailures[r.name];
          const flaky = flakyEntry(spec, r.name, variant);
          const why = known !== undefined ? ` (known: ${known})` : flaky !== undefined ? ` (listed flaky: ${flaky.reason})` : '';
          process.stdout.write(`  ${k} ${r.name}: ${r.status}${why}\n`);
          if (known === undefined && flaky === undefined) exit = 1;
        }
      }
    }
    if (hungTests.length > 0) {
      process.stdout.write(`  KERNEL HANG: ${hungTests.join(', ')} outlived SIGKILL (exit ${ExitCode.kernelFailure})\n`);
      exit = ExitCode.kernelFailure;
      summary.unkillable = hungTests;
    }
    writeJsonAtomic(join(partial, 'results.json'), summary);
    renameSync(partial, dir);
    process.stdout.write(`results: ${dir}\n`);
    return exit;
  },
};
export default command;
