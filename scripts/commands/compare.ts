// `uringlet compare`: the main job. Builds (or reuses) both kernels and the
// image, runs the functional suites and the benchmark matrix on stock and
// uringlet, and writes results/<run-id>/ with report.md and report.html.
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { estimateSeconds, fmtDuration, kernelOverrideProblem, listRuns, reanalyzeRun, runCompare, bootSlots } from '../lib/compare-run.ts';
import { loadMatrix, loadProfile, planPoints, profileNames } from '../lib/workloads.ts';
import { realPlatform } from '../lib/compare-platform.ts';
import { ensureHost } from '../lib/host.ts';

const help = `usage: uringlet compare [options]

  --profile NAME     workload profile (tests/workloads/NAME.json): quick (default; a 2-core TCG
                     machine), nightly (KVM hardware), rfc-sweep (the 2022 RFC's table), idle-poll
                     (diagnostic: guest idle=poll, no emulated wake-up IPIs)
  --workloads A,B    only these workloads (ids from tests/workloads/matrix.json), or single
                     points ID@AXIS=VALUE (e.g. rfc-xfs-randwrite@iodepth=1, any value on the axis)
  --boots N          boots per kernel (overrides the profile)
  --runs N           runs per boot (overrides the profile)
  --runtime S        fio runtime in seconds (overrides the profile)
  --ramp S           fio ramp time in seconds (overrides the profile)
  --no-tests         skip the functional suites
  --perf             after each fio point's measured runs, one more under perf record in the guest
                     (cpu-clock, all CPUs); perf.md: guest CPU time per I/O by thread and symbol,
                     stock beside uringlet
  --uringlet-kernel BZIMAGE
                     boot this bzImage as the uringlet kernel instead of building patches/ (a
                     prototype, an older build); benchmarks of the default variant only, so with
                     --no-tests; recorded with its sha256, --resume refuses if it changed
  --resume RUN_ID    continue an interrupted run with its original plan
  --reanalyze RUN_ID build a finished run's summary and reports again from its recorded
                     boots with the current statistics (measures nothing)
  --results DIR      results directory (default: results/ in the checkout, or $URINGLET_RESULTS)
  --dry-run          print the plan and the time estimate, run nothing
  --list             list runs in the results directory

exit codes: 0 nothing wrong; 1 test failure or significant regression;
            2 user or infrastructure error; 3 kernel failure (crash, hang, lost SSH, console report, kmemleak leak)`;

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} needs a non-negative integer, got '${v}'`);
  return n;
}

const command: Command = {
  summary: 'run tests and benchmarks on stock and uringlet, report honestly (results/<run-id>/)',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          profile: { type: 'string', default: 'quick' },
          workloads: { type: 'string' },
          boots: { type: 'string' },
          runs: { type: 'string' },
          runtime: { type: 'string' },
          ramp: { type: 'string' },
          'no-tests': { type: 'boolean', default: false },
          perf: { type: 'boolean', default: false },
          'uringlet-kernel': { type: 'string' },
          resume: { type: 'string' },
          reanalyze: { type: 'string' },
          results: { type: 'string' },
          'dry-run': { type: 'boolean', default: false },
          list: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h', default: false },
        },
        strict: true,
      },
      help,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    if (values.list) {
      for (const l of listRuns(values.results)) process.stdout.write(l + '\n');
      return 0;
    }
    if (values.reanalyze !== undefined) return reanalyzeRun(values.reanalyze, values.results).exitCode;
    if (!profileNames().includes(values.profile)) throw new UserError(`unknown profile '${values.profile}'`, { details: [`available: ${profileNames().join(', ')}`] });
    const workloads = values.workloads?.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const opts = {
      profile: values.profile,
      ...(workloads !== undefined ? { workloads } : {}),
      ...(values.boots !== undefined ? { boots: int(values.boots, 'boots')! } : {}),
      ...(values.runs !== undefined ? { runs: int(values.runs, 'runs')! } : {}),
      ...(values.runtime !== undefined ? { runtimeSec: int(values.runtime, 'runtime')! } : {}),
      ...(values.ramp !== undefined ? { rampSec: int(values.ramp, 'ramp')! } : {}),
      ...(values['no-tests'] ? { tests: false } : {}),
      ...(values.perf ? { perf: true } : {}),
      ...(values.resume !== undefined ? { resume: values.resume } : {}),
      ...(values.results !== undefined ? { resultsRoot: values.results } : {}),
      ...(values['uringlet-kernel'] !== undefined ? { uringletKernel: values['uringlet-kernel'] } : {}),
      command: ['uringlet', 'compare', ...argv].join(' '),
    };
    if (values['dry-run']) {
      const m = loadMatrix();
      const p = loadProfile(opts.profile, m);
      if (opts.boots !== undefined) p.bootsPerKernel = opts.boots;
      if (opts.runs !== undefined) p.runsPerBoot = opts.runs;
      if (opts.runtimeSec !== undefined) p.runtimeSec = opts.runtimeSec;
      if (opts.rampSec !== undefined) p.rampSec = opts.rampSec;
      if (opts.tests === false) p.variants = p.variants.map((v) => ({ ...v, tests: false }));
      const problem = opts.uringletKernel !== undefined ? kernelOverrideProblem(p) : null;
      if (problem !== null) throw new UserError(problem);
      const points = planPoints(m, p, workloads);
      process.stdout.write(`profile ${p.name}: ${points.length} points, ${p.runsPerBoot} runs/boot, ${p.bootsPerKernel} boots/kernel, A/A ${p.aa}\n`);
      for (const pt of points) process.stdout.write(`  ${pt.key}\n`);
      process.stdout.write(`boot order: ${bootSlots(p).map((s) => `${s.variant.name}/${s.arm}#${s.boot}`).join(' ')}\n`);
      process.stdout.write(`estimated: ${fmtDuration(estimateSeconds(p, points, { perf: opts.perf === true }))} (budget ${p.budgetMinutes} min, kernels and image cached)\n`);
      return 0;
    }
    // every host tool the run will need, before 20 minutes of kernel builds rather than after
    await ensureHost('compare');
    // liburing's whole suite takes long under TCG: the nightly profile runs all of it, others the quick subset.
    const outcome = await runCompare(opts, await realPlatform({ liburing: opts.profile === 'nightly' ? 'all' : 'quick' }));
    return outcome.exitCode;
  },
};

export default command;
