// A comparison run's directory: results/<run-id>/.
//
// While running, everything goes to results/<run-id>.partial/; each finished
// boot is one atomically written file under boots/, so an interrupted run
// keeps every finished boot and `--resume <run-id>` continues with the next
// one. When the run ends (whatever the verdict) the directory is renamed to
// results/<run-id>/ and results/latest points at it. Run ids are unique and
// a directory is never reused, so no run overwrites an earlier one.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic, writeJsonAtomic } from './atomic.ts';
import { UserError } from './errors.ts';
import type { HostInfo } from './hostinfo.ts';
import { analyze, bootRatioCi, failingRegressions, runsByBoot, type Analysis, type Arm, type PointInfo, type RunRecord } from './compare.ts';
import type { Matrix, Point, Profile } from './workloads.ts';
import type { KernelFailureType } from './errors.ts';
import { hashSeed } from './stats.ts';

export const summarySchema = 1;

export interface KernelMeta {
  arm: Arm;
  kernel: 'stock' | 'uringlet';
  variant: string;
  /** Kernel release as `uname -r` says in the guest. */
  release?: string;
  bzImage?: string;
  /** Anything the build layer reports (commit, config hash, duration...). */
  build?: Record<string, unknown>;
}

export type TestStatus = 'pass' | 'fail' | 'skip';

export interface TestSuiteResult {
  suite: string;
  arm: Arm;
  variant: string;
  /** 'not-run' when the suite's module is missing or could not run: said loudly in every report. */
  state: 'ran' | 'not-run';
  reason?: string;
  /**
   * flaky: the reason a suite lists the test as failing now and then on stock
   * too (liburing's flakyTests); its failure on uringlet alone is reported,
   * not counted, unless it failed in every one of several boots.
   */
  tests: { name: string; status: TestStatus; runs: number; fails: number; flaky?: string }[];
  /** TAP file, relative to the run directory. */
  tap?: string;
}

export interface KernelFailureRecord {
  arm: Arm;
  variant: string;
  boot: number;
  type: KernelFailureType;
  title: string;
  details: string[];
  /** Console log, relative to the run directory. */
  log?: string;
}

/** One finished (or crashed) boot: the unit of resume. */
export interface BootRecord {
  arm: Arm;
  variant: string;
  boot: number;
  status: 'ok' | 'crashed';
  startedAt: string;
  durationSec: number;
  release?: string;
  records: RunRecord[];
  tests: TestSuiteResult[];
  failure?: KernelFailureRecord;
  /** Guest facts worth keeping (fio version, accelerator...). */
  facts?: Record<string, string>;
}

export interface RfcRow {
  depth: number;
  rfcRatio: number;
  rfcStockIops: number;
  rfcUringletIops: number;
  /** Our ratio of mean IOPS, uringlet / stock, if the depth was measured. */
  ourRatio?: number;
  /** 95 % CI of ourRatio, bootstrap over boot pairs or boots (clusterRatioCi), with >= 2 of them. */
  ourRatioCi?: [number, number];
  ourRatioCiBy?: 'boot pairs' | 'boots';
  /** Boots per kernel behind ourRatio. */
  ourBoots?: { stock: number; uringlet: number };
  ourStockIops?: number;
  ourUringletIops?: number;
}

export interface SmokeRow {
  arm: Arm;
  variant: string;
  point: string;
  ok: boolean;
  error?: string;
}

export interface Summary {
  schema: typeof summarySchema;
  runId: string;
  profile: string;
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  /** The exact command line and the per-run guest commands (commands.txt). */
  command: string;
  complete: boolean;
  host: HostInfo;
  kernels: KernelMeta[];
  boots: { arm: Arm; variant: string; boot: number; status: 'ok' | 'crashed'; durationSec: number }[];
  points: PointInfo[];
  analysis: Analysis;
  rfc: { source: string; workload: string; rows: RfcRow[] };
  tests: TestSuiteResult[];
  smoke: SmokeRow[];
  kernelFailures: KernelFailureRecord[];
  exitCode: number;
  /** Why the exit code is what it is, one line per reason. */
  exitReasons: string[];
  /** perf.md beside the report (compare --perf), relative to the run directory. */
  perfReport?: string;
}

export function newRunId(profile: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return `${stamp}-${profile}-${randomBytes(2).toString('hex')}`;
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class RunDir {
  private constructor(
    readonly root: string,
    readonly id: string,
    /** Where files go now: the .partial directory until finish(). */
    public dir: string,
  ) {}

  static partialPath(root: string, id: string): string {
    return join(root, `${id}.partial`);
  }

  /** A finished run, to analyze again (its boots, plan and host facts stay as they are). */
  static complete(root: string, id: string): RunDir {
    if (!idPattern.test(id)) throw new UserError(`bad run id '${id}'`);
    const dir = join(root, id);
    if (!existsSync(join(dir, 'plan.json'))) {
      const done = RunDir.list(root).filter((r) => r.complete && existsSync(join(root, r.id, 'plan.json'))).map((r) => r.id);
      throw new UserError(`no finished run '${id}' in ${root}`, { details: [done.length ? `finished: ${done.slice(-5).join(', ')}${done.length > 5 ? ', ...' : ''}` : 'there is no finished run'] });
    }
    return new RunDir(root, id, dir);
  }

  /** A new run. Refuses an id that exists in any form. */
  static create(root: string, id: string): RunDir {
    if (!idPattern.test(id)) throw new UserError(`bad run id '${id}'`);
    const partial = RunDir.partialPath(root, id);
    if (existsSync(join(root, id)) || existsSync(partial)) throw new UserError(`run '${id}' already exists in ${root}`);
    mkdirSync(join(partial, 'boots'), { recursive: true });
    return new RunDir(root, id, partial);
  }

  /** Continue an interrupted run. */
  static resume(root: string, id: string): RunDir {
    if (!idPattern.test(id)) throw new UserError(`bad run id '${id}'`);
    if (existsSync(join(root, id))) throw new UserError(`run '${id}' is already complete: ${join(root, id)}`, { details: ['start a new run instead'] });
    const partial = RunDir.partialPath(root, id);
    if (!existsSync(partial)) {
      const resumable = RunDir.list(root).filter((r) => !r.complete).map((r) => r.id);
      throw new UserError(`no interrupted run '${id}' in ${root}`, {
        details: [resumable.length ? `resumable: ${resumable.join(', ')}` : 'there is no interrupted run'],
      });
    }
    return new RunDir(root, id, partial);
  }

  static list(root: string): { id: string; complete: boolean }[] {
    if (!existsSync(root)) return [];
    return readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && idPattern.test(d.name))
      .map((d) => (d.name.endsWith('.partial') ? { id: d.name.slice(0, -'.partial'.length), complete: false } : { id: d.name, complete: true }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  path(...rel: string[]): string {
    return join(this.dir, ...rel);
  }

  write(rel: string, data: string | Uint8Array): string {
    const p = this.path(rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileAtomic(p, data);
    return p;
  }

  writeJson(rel: string, value: unknown): string {
    const p = this.path(rel);
    writeJsonAtomic(p, value);
    return p;
  }

  readJson<T>(rel: string): T | undefined {
    const p = this.path(rel);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as T) : undefined;
  }

  static bootFile(arm: Arm, variant: string, boot: number): string {
    return join('boots', `${variant}-${arm}-${boot}.json`);
  }

  saveBoot(b: BootRecord): void {
    this.writeJson(RunDir.bootFile(b.arm, b.variant, b.boot), b);
  }

  hasBoot(arm: Arm, variant: string, boot: number): boolean {
    return existsSync(this.path(RunDir.bootFile(arm, variant, boot)));
  }

  boots(): BootRecord[] {
    const d = this.path('boots');
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(d, f), 'utf8')) as BootRecord);
  }

  /** Drop leftovers of a boot that did not finish (raw files written before the interruption). */
  clearUnfinishedBoot(arm: Arm, variant: string, boot: number): void {
    rmSync(this.path('raw', `${variant}-${arm}-${boot}`), { recursive: true, force: true });
  }

  /** Move the finished run to results/<id>/ and point results/latest at it. */
  finish(): string {
    const final = join(this.root, this.id);
    renameSync(this.dir, final);
    this.dir = final;
    const tmpLink = join(this.root, `.latest.${process.pid}`);
    rmSync(tmpLink, { force: true });
    symlinkSync(this.id, tmpLink);
    renameSync(tmpLink, join(this.root, 'latest'));
    return final;
  }
}

// ---- building the summary (pure) ------------------------------------------------

export interface SummaryInput {
  runId: string;
  profile: Profile;
  matrix: Matrix;
  points: Point[];
  boots: BootRecord[];
  host: HostInfo;
  kernels: KernelMeta[];
  startedAt: string;
  finishedAt: string;
  command: string;
  complete: boolean;
}

export function pointInfo(p: Point): PointInfo {
  return {
    key: p.key,
    workload: p.workload.id,
    title: p.workload.title,
    ...(p.workload.axis ? { axisName: p.workload.axis.name } : {}),
    ...(p.value !== undefined ? { axisValue: p.value } : {}),
    primary: p.workload.primary,
    ...(p.workload.knownLoss !== undefined ? { knownLoss: p.workload.knownLoss } : {}),
  };
}

/** Fewest runs in which "failed every time" outweighs a flaky listing (compare and the peer suite). */
export const flakyOverrideRuns = 3;

/** Pure: failed in every one of enough runs that a flaky listing no longer covers it. */
export const failedEveryRun = (fails: number, runs: number): boolean => runs >= flakyOverrideRuns && fails === runs;

export interface UringletOnlyFailure {
  suite: string;
  name: string;
  variant: string;
  /** Set when the suite lists the test as flaky on stock too. */
  flaky?: string;
  fails: number;
  runs: number;
}

/** Tests failing on a uringlet arm that do not fail on stock (same variant), once per test with its runs. */
function uringletOnlyFailures(tests: readonly TestSuiteResult[]): UringletOnlyFailure[] {
  const byTest = new Map<string, UringletOnlyFailure>();
  for (const u of tests.filter((t) => t.arm === 'uringlet' && t.state === 'ran')) {
    for (const t of u.tests) {
      const key = `${u.suite}\0${u.variant}\0${t.name}`;
      const f = byTest.get(key) ?? { suite: u.suite, name: t.name, variant: u.variant, fails: 0, runs: 0 };
      f.fails += t.fails;
      f.runs += t.runs;
      if (t.flaky !== undefined) f.flaky = t.flaky;
      byTest.set(key, f);
    }
  }
  const failsOnStock = (f: UringletOnlyFailure): boolean =>
    tests.some((s) => s.arm !== 'uringlet' && s.suite === f.suite && s.variant === f.variant && s.state === 'ran' && s.tests.some((x) => x.name === f.name && x.fails > 0));
  return [...byTest.values()].filter((f) => f.fails > 0 && !failsOnStock(f));
}

const countsDespiteFlaky = (f: UringletOnlyFailure): boolean => f.flaky === undefined || failedEveryRun(f.fails, f.runs);

/** Tests failing on a uringlet arm that do not fail on stock (same variant): regressions. */
export function newTestFailures(tests: readonly TestSuiteResult[]): { suite: string; name: string; variant: string }[] {
  return uringletOnlyFailures(tests)
    .filter(countsDespiteFlaky)
    .map(({ suite, name, variant }) => ({ suite, name, variant }));
}

/** Such failures of tests the suite lists as flaky on stock too: reported, not counted. */
export function flakyTestFailures(tests: readonly TestSuiteResult[]): UringletOnlyFailure[] {
  return uringletOnlyFailures(tests).filter((f) => !countsDespiteFlaky(f));
}

export function buildSummary(i: SummaryInput): Summary {
  // A profile without a 'compare' variant (smoke only) compares nothing.
  const compared = i.profile.variants.find((v) => v.benchmarks === 'compare')?.name ?? '';
  const records = i.boots.flatMap((b) => b.records);
  const infos = i.points.map(pointInfo);
  const analysis = analyze(infos, records, {
    alpha: i.profile.alpha,
    correction: i.profile.correction,
    practicalThresholdPct: i.profile.practicalThresholdPct,
    aa: i.profile.aa,
    variant: compared,
  });
  const smokeVariants = new Set(i.profile.variants.filter((v) => v.benchmarks === 'smoke').map((v) => v.name));
  const smoke: SmokeRow[] = records
    .filter((r) => smokeVariants.has(r.variant))
    .map((r) => ({ arm: r.arm, variant: r.variant, point: r.point, ok: r.error === undefined, ...(r.error !== undefined ? { error: r.error } : {}) }));
  const tests = i.boots.flatMap((b) => b.tests);
  const kernelFailures = i.boots.flatMap((b) => (b.failure ? [b.failure] : []));

  const rfcRows: RfcRow[] = Object.keys(i.matrix.rfc.ratio)
    .map(Number)
    .sort((a, b) => a - b)
    .map((depth) => {
      const c = analysis.comparisons.find((x) => x.workload === i.matrix.rfc.workload && x.metric === 'iops' && x.axisValue === depth);
      const row: RfcRow = {
        depth,
        rfcRatio: i.matrix.rfc.ratio[String(depth)]!,
        rfcStockIops: i.matrix.rfc.stockIops[String(depth)]!,
        rfcUringletIops: i.matrix.rfc.uringletIops[String(depth)]!,
      };
      if (c !== undefined && c.stock.n > 0 && c.uringlet.n > 0) {
        row.ourStockIops = c.stock.mean;
        row.ourUringletIops = c.uringlet.mean;
        row.ourRatio = c.uringlet.mean / c.stock.mean;
        const runs = (arm: Arm): RunRecord[] => records.filter((r) => r.variant === compared && r.arm === arm && r.point === c.point && r.error === undefined);
        const sb = runsByBoot(runs('stock'), 'iops');
        const ub = runsByBoot(runs('uringlet'), 'iops');
        row.ourBoots = { stock: sb.size, uringlet: ub.size };
        const ci = bootRatioCi(sb, ub, { seed: hashSeed(c.point) });
        if (ci !== undefined) {
          row.ourRatioCi = ci.ci;
          row.ourRatioCiBy = ci.by;
        }
      }
      return row;
    });

  // Exit code: 3 kernel failure > 1 test failure / regression > 2 infrastructure > 0.
  const reasons: string[] = [];
  let code = 0;
  const raise = (c: number, why: string) => {
    reasons.push(why);
    const rank = (x: number) => [0, 2, 1, 3].indexOf(x);
    if (rank(c) > rank(code)) code = c;
  };
  for (const f of kernelFailures) raise(3, `kernel failure on ${f.variant}/${f.arm} boot ${f.boot}: ${f.type}: ${f.title}`);
  const newFails = newTestFailures(tests);
  if (newFails.length > 0) {
    raise(1, `${newFails.length} test(s) fail on uringlet but not on stock: ${newFails.slice(0, 5).map((f) => `${f.suite}/${f.name}`).join(', ')}${newFails.length > 5 ? ', ...' : ''}`);
  }
  for (const f of flakyTestFailures(tests)) {
    reasons.push(`${f.suite}/${f.name} failed on ${f.variant}/uringlet in ${f.fails} of ${f.runs} runs and passed on stock: listed as flaky on stock too, not counted (${f.flaky})`);
  }
  const regs = failingRegressions(analysis);
  if (regs.length > 0) raise(1, `significant regression: ${regs.map((r) => `${r.point} ${r.label} ${r.changePct.toFixed(1)}%`).join(', ')}`);
  const failedOn = (arm: Arm) => new Set(analysis.failures.filter((f) => f.arm === arm).map((f) => f.point));
  const stockFailed = new Set([...failedOn('stock'), ...failedOn('stock-aa')]);
  const uringletOnly = [...failedOn('uringlet')].filter((p) => !stockFailed.has(p));
  if (uringletOnly.length > 0) raise(1, `benchmark runs failed on uringlet only: ${uringletOnly.join(', ')}`);
  if (stockFailed.size > 0) raise(2, `benchmark runs failed on stock too (workload or guest problem): ${[...stockFailed].join(', ')}`);
  const smokeFails = smoke.filter((x) => !x.ok && x.arm === 'uringlet');
  if (smokeFails.length > 0) raise(1, `smoke runs failed on uringlet: ${[...new Set(smokeFails.map((x) => `${x.variant}/${x.point}`))].join(', ')}`);
  const undecided = analysis.comparisons.filter((c) => c.primary && c.verdict === 'insufficient');
  if (undecided.length > 0) {
    reasons.push(`${undecided.length} of ${analysis.comparisons.filter((c) => c.primary).length} benchmark points without a verdict (${undecided[0]!.reasons[0] ?? 'insufficient data'})`);
  }
  const notRun = tests.filter((t) => t.state === 'not-run');
  if (notRun.length > 0) reasons.push(`NOT RUN: ${[...new Set(notRun.map((t) => t.suite))].join(', ')} (see report)`);
  if (!i.complete) raise(2, 'the run is incomplete');

  const started = Date.parse(i.startedAt);
  const finished = Date.parse(i.finishedAt);
  return {
    schema: summarySchema,
    runId: i.runId,
    profile: i.profile.name,
    startedAt: i.startedAt,
    finishedAt: i.finishedAt,
    durationSec: Math.round((finished - started) / 1000),
    command: i.command,
    complete: i.complete,
    host: i.host,
    kernels: i.kernels,
    boots: i.boots.map((b) => ({ arm: b.arm, variant: b.variant, boot: b.boot, status: b.status, durationSec: b.durationSec })),
    points: infos,
    analysis,
    rfc: { source: i.matrix.rfc.source, workload: i.matrix.rfc.workload, rows: rfcRows },
    tests,
    smoke,
    kernelFailures,
    exitCode: code,
    exitReasons: reasons,
  };
}
