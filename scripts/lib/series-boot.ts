// Booting every commit of the series, as ktest.pl does: a series is
// bisectable only if each commit also boots and keeps io_uring working, not
// just compiles. Used by `patches check --boot`, on the scratch check tree
// after its build pass: each commit is checked out, its bzImage built
// incrementally, booted, and the chosen guest tests run on it. Commits before
// the one that enables IORING_SETUP_URINGLET reject the flag, so there the
// tests check that stock io_uring still works (the uringlet-only tests skip).
import { join } from 'node:path';
import { InfraError, KernelFailure, type KernelFailureType } from './errors.ts';
import { runGuestTests, type GuestTestRun } from './guest-tests.ts';
import { log, type LogFile } from './log.ts';
import { incompleteRun } from './tap-print.ts';
import { run } from './proc.ts';
import { withVm } from './vm.ts';

export interface BootResult {
  /** make bzImage succeeded */
  builds: boolean;
  /** what the kernel did wrong (boot, console report, lost SSH); null: nothing */
  kernelFailure: { type: KernelFailureType; title: string; details: string[]; log: string | null } | null;
  passed: number;
  failed: number;
  skipped: number;
  /** "program: test name" of each failed test (or a program that died) */
  failedTests: string[];
  sec: number;
}

/** Pure: the counts and failed names of guest test runs (a program without a complete TAP plan counts as one failure). */
export function summarizeRuns(runs: readonly GuestTestRun[]): Pick<BootResult, 'passed' | 'failed' | 'skipped' | 'failedTests'> {
  let passed = 0;
  let skipped = 0;
  const failedTests: string[] = [];
  for (const r of runs) {
    for (const t of r.tap.tests) {
      if (!t.ok) failedTests.push(`${r.program}: ${t.name}`);
      else if (t.skip) skipped++;
      else passed++;
    }
    const incomplete = incompleteRun(r);
    if (incomplete !== null) failedTests.push(`${r.program}: ${incomplete}`);
  }
  return { passed, failed: failedTests.length, skipped, failedTests };
}

/** Pure: why a booted commit fails (empty: it passes). */
export function bootVerdict(b: BootResult): string[] {
  if (!b.builds) return ['bzImage does not build'];
  const out: string[] = [];
  if (b.kernelFailure !== null) out.push(`kernel failure: ${b.kernelFailure.type}: ${b.kernelFailure.title}`);
  if (b.failed > 0) out.push(`${b.failed} guest test${b.failed === 1 ? '' : 's'} fail`);
  return out;
}

export interface SeriesBootOptions {
  /** the scratch tree (its commits are checked out one by one) and its build directory */
  tree: string;
  buildDir: string;
  makeArgs: string[];
  env: Record<string, string>;
  jobs: number;
  logFile: LogFile;
  /** the guest test binaries, built once for every commit (against the uapi of the series' last commit) */
  bin: string;
  /** guest test groups to run; [undefined] runs the whole suite */
  tests: (string | undefined)[];
}

/** Build, boot and test one commit. Infrastructure errors (QEMU will not start, no image) propagate. */
export async function bootCommit(label: string, commit: string, o: SeriesBootOptions): Promise<BootResult> {
  const t0 = Date.now();
  const sec = (): number => Math.round((Date.now() - t0) / 100) / 10;
  const co = await run('git', ['-C', o.tree, 'checkout', '-q', '-f', '--detach', commit], { log: o.logFile });
  if (co.exitCode !== 0) throw new InfraError(`git checkout ${commit} failed in ${o.tree}`, { details: co.stderr.trim().split('\n').slice(-5), logPath: o.logFile.path });
  o.logFile.write(`\n# ${label}: make bzImage at ${commit}\n`);
  const mk = await log.step(`${label}: building bzImage`, () =>
    run('nice', ['-n', '10', 'make', ...o.makeArgs, `-j${o.jobs}`, 'bzImage'], { cwd: o.tree, env: o.env, log: o.logFile }));
  const empty = { passed: 0, failed: 0, skipped: 0, failedTests: [] };
  if (mk.exitCode !== 0) return { builds: false, kernelFailure: null, ...empty, sec: sec() };
  const bzImage = join(o.buildDir, 'arch/x86/boot/bzImage');
  const runs: GuestTestRun[] = [];
  let failure: KernelFailure | null = null;
  try {
    await log.step(`${label}: booting and running guest tests (${o.tests.map((t) => t ?? 'all').join(', ')})`, () =>
      withVm({ kernel: bzImage }, async (vm) => {
        for (const only of o.tests) runs.push(...(await runGuestTests(vm, o.bin, { ...(only !== undefined ? { only } : {}), timeoutMs: 180_000 })));
        vm.checkConsole();
      }));
  } catch (e) {
    if (!(e instanceof KernelFailure)) throw e;
    failure = e;
  } finally {
    o.logFile.write(`\n# ${label}: guest test output\n${runs.map((r) => r.output).join('')}`);
  }
  const kernelFailure = failure === null ? null : { type: failure.type, title: failure.title, details: failure.details.slice(-20), log: failure.logPath ?? null };
  return { builds: true, kernelFailure, ...summarizeRuns(runs), sec: sec() };
}
