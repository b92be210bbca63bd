// The liburing peer suite: liburing's own regression tests, for the liburing
// version the guest has (Debian's `liburing` source package), built statically
// on the host, pushed over SSH and run test by test on stock and on uringlet
// (forced on every ring by kernel.io_uring_uringlet_force).
//
// The source is fetched without touching the host's apt configuration: a
// private sources list (deb-src of the host's own mirror) and private state and
// cache directories under the uringlet cache.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError, KernelFailure, UserError } from './errors.ts';
import { ensureHost } from './host.ts';
import { hostMirror } from './image.ts';
import { withFileLock } from './lifecycle.ts';
import { LogFile, log } from './log.ts';
import { cacheRoot, paths } from './paths.ts';
import { run, runOk } from './proc.ts';
import { failedEveryRun, flakyOverrideRuns } from './results.ts';

export type PeerStatus = 'pass' | 'fail' | 'skip' | 'timeout' | 'hang' | 'not-run';

export interface PeerTestResult {
  name: string;
  status: PeerStatus;
  exitCode: number | null;
  seconds: number;
  /** Last lines the test printed (its own diagnostics). */
  tail: string[];
  /** Title of a kernel report (splat) that appeared on the console while the test ran. */
  console?: string;
  /** With --repeat: which run of the test this is (1-based) and how many there were. */
  run?: { index: number; of: number };
}

export interface SuiteSpec {
  timeoutSec: number;
  /** Value written to the knob on the uringlet kernel (2: forced, enter waits for consumption). */
  uringletKnob: number;
  notRun: Record<string, string>;
  knownFailures: Record<string, string>;
  /** Tests given a longer timeout than timeoutSec on both kernels, each with its reason. */
  slowTests: Record<string, { timeoutSec: number; reason: string }>;
  /**
   * Tests seen failing now and then on stock as well (on the variants given,
   * all if none): a failure on uringlet alone is reported, not counted as a
   * regression, unless every one of at least 3 runs failed on uringlet.
   */
  flakyTests: Record<string, { reason: string; variants?: string[] }>;
  /** The subset `compare` runs outside the nightly profile. */
  quick: string[];
}

export { flakyOverrideRuns };

/** A test's timeout: its slowTests entry, else the suite's. */
export const testTimeoutSec = (spec: SuiteSpec, name: string): number => spec.slowTests[name]?.timeoutSec ?? spec.timeoutSec;

export const specFile = (): string => join(paths.tests(), 'liburing', 'suite.json');

/** Pure: validate tests/liburing/suite.json. */
export function parseSuiteSpec(text: string, file = 'suite.json'): SuiteSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new UserError(`${file}: expected an object`);
  const o = raw as Record<string, unknown>;
  const num = (k: string, d: number): number => {
    const v = o[k] ?? d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new UserError(`${file}: ${k} must be a non-negative integer`);
    return v;
  };
  const reasons = (k: string): Record<string, string> => {
    const v = o[k] ?? {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${file}: ${k} must map test names to reasons`);
    for (const [name, why] of Object.entries(v)) {
      if (!/^[\w.-]+\.t$/.test(name)) throw new UserError(`${file}: ${k}: '${name}' is not a liburing test name (like accept.t)`);
      if (typeof why !== 'string' || why.trim().length < 10) throw new UserError(`${file}: ${k}: '${name}' needs a reason (a sentence, not '${String(why)}')`);
    }
    return v as Record<string, string>;
  };
  const slowRaw = o.slowTests ?? {};
  if (typeof slowRaw !== 'object' || slowRaw === null || Array.isArray(slowRaw)) throw new UserError(`${file}: slowTests must map test names to {timeoutSec, reason}`);
  const slowTests: SuiteSpec['slowTests'] = {};
  for (const [name, v] of Object.entries(slowRaw)) {
    if (!/^[\w.-]+\.t$/.test(name)) throw new UserError(`${file}: slowTests: '${name}' is not a liburing test name (like accept.t)`);
    const e = v as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.timeoutSec !== 'number' || !Number.isInteger(e.timeoutSec) || e.timeoutSec < 1) {
      throw new UserError(`${file}: slowTests: '${name}' needs an integer timeoutSec of at least 1`);
    }
    if (typeof e.reason !== 'string' || e.reason.trim().length < 10) throw new UserError(`${file}: slowTests: '${name}' needs a reason (a sentence)`);
    slowTests[name] = { timeoutSec: e.timeoutSec, reason: e.reason };
  }
  const knownFailures = reasons('knownFailures');
  const flakyRaw = o.flakyTests ?? {};
  if (typeof flakyRaw !== 'object' || flakyRaw === null || Array.isArray(flakyRaw)) throw new UserError(`${file}: flakyTests must map test names to {reason, variants?}`);
  const flakyTests: SuiteSpec['flakyTests'] = {};
  for (const [name, v] of Object.entries(flakyRaw)) {
    if (!/^[\w.-]+\.t$/.test(name)) throw new UserError(`${file}: flakyTests: '${name}' is not a liburing test name (like accept.t)`);
    const e = v as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.reason !== 'string' || e.reason.trim().length < 10) {
      throw new UserError(`${file}: flakyTests: '${name}' needs a reason (a sentence saying where it failed on stock)`);
    }
    if (e.variants !== undefined && (!Array.isArray(e.variants) || e.variants.length === 0 || !e.variants.every((x) => x === 'default' || x === 'debug'))) {
      throw new UserError(`${file}: flakyTests: '${name}': variants must be a non-empty list of default and debug`);
    }
    if (Object.hasOwn(knownFailures, name)) throw new UserError(`${file}: '${name}' is in both knownFailures and flakyTests: a test fails always or now and then, not both`);
    flakyTests[name] = { reason: e.reason, ...(e.variants !== undefined ? { variants: e.variants as string[] } : {}) };
  }
  const quick = o.quick ?? [];
  if (!Array.isArray(quick) || !quick.every((q): q is string => typeof q === 'string' && /^[\w.-]+\.t$/.test(q))) {
    throw new UserError(`${file}: quick must be a list of liburing test names (like nop.t)`);
  }
  const spec = { timeoutSec: num('timeoutSec', 60), uringletKnob: num('uringletKnob', 2), notRun: reasons('notRun'), knownFailures, slowTests, flakyTests, quick };
  if (spec.timeoutSec < 1) throw new UserError(`${file}: timeoutSec must be at least 1`);
  if (spec.uringletKnob < 1 || spec.uringletKnob > 2) throw new UserError(`${file}: uringletKnob must be 1 or 2`);
  return spec;
}

export function loadSuiteSpec(): SuiteSpec {
  return parseSuiteSpec(readFileSync(specFile(), 'utf8'), specFile());
}

/** Pure: a test's status from how it ended (liburing: 0 pass, 77 skip; timeout(1): 124, or 137 after -k). */
export function classify(exitCode: number | null, hostTimedOut: boolean): PeerStatus {
  if (hostTimedOut) return 'hang';
  if (exitCode === 0) return 'pass';
  if (exitCode === 77) return 'skip';
  if (exitCode === 124 || exitCode === 137) return 'timeout';
  return 'fail';
}

const bad = (s: PeerStatus): boolean => s === 'fail' || s === 'timeout' || s === 'hang';

export interface PeerVerdict {
  /** Pass (or skip) on stock, failing on uringlet: the series broke it. */
  regressions: string[];
  /** Failing on both kernels and listed in knownFailures (with its reason). */
  known: { name: string; reason: string }[];
  /** Failing on both kernels but not listed: listed in the report, not a regression of the series. */
  unlistedStockFailures: string[];
  /** Listed as known failures but passing on stock: the list is wrong (it may hold only stock failures). */
  staleKnown: string[];
  /** Skipped on stock but run on uringlet, or the other way around. */
  skipMismatch: string[];
  passedBoth: number;
  /**
   * With repeated runs: tests that failed in some runs of a kernel and passed
   * in others. A test counts as failing on a kernel if any run failed.
   */
  flaky: { name: string; kernel: 'stock' | 'uringlet'; failed: number; runs: number }[];
  /**
   * Failing on uringlet and listed in flakyTests for this variant: reported
   * with the runs and the reason, not a regression (see flakyOverrideRuns).
   */
  flakyListed: { name: string; reason: string; stock: { failed: number; runs: number }; uringlet: { failed: number; runs: number } }[];
  /** Failed and total runs per test that failed anywhere, for the report. */
  failures: Record<string, { stock: { failed: number; runs: number }; uringlet: { failed: number; runs: number } }>;
  /**
   * Passing on both, but uringlet took at least twice as long and 2 s more:
   * not a failure, a cost to report (slowest ratio first).
   */
  slower: { name: string; stockSec: number; uringletSec: number; ratio: number }[];
}

/** One test's runs on one kernel (several with --repeat). */
interface Tally {
  name: string;
  /** The worst status: any failing run, else pass if one passed, else skip, else not-run. */
  status: PeerStatus;
  runs: number;
  failed: number;
  passed: number;
  /** Mean seconds over the runs. */
  seconds: number;
}

/** Pure: one kernel's results by test, in first-seen order. */
export function tallyRuns(results: PeerTestResult[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const r of results) {
    const t = out.get(r.name) ?? { name: r.name, status: 'not-run', runs: 0, failed: 0, passed: 0, seconds: 0 };
    if (r.status !== 'not-run') {
      t.seconds = (t.seconds * t.runs + r.seconds) / (t.runs + 1);
      t.runs++;
    }
    if (bad(r.status)) t.failed++;
    if (r.status === 'pass') t.passed++;
    if (!bad(t.status) && (bad(r.status) || (r.status === 'pass' && t.status !== 'pass') || (r.status === 'skip' && t.status === 'not-run'))) t.status = r.status;
    out.set(r.name, t);
  }
  return out;
}

/** Pure: the flakyTests entry that applies to `name` on `variant`, if any. */
export function flakyEntry(spec: SuiteSpec, name: string, variant: string): { reason: string } | undefined {
  const e = spec.flakyTests[name];
  return e !== undefined && (e.variants === undefined || e.variants.includes(variant)) ? e : undefined;
}

/** Pure: compare the two kernels' results (several runs per test are tallied). */
export function peerVerdict(stock: PeerTestResult[], uringlet: PeerTestResult[], spec: SuiteSpec, variant = 'default'): PeerVerdict {
  const stockRuns = tallyRuns(stock);
  const uringletRuns = tallyRuns(uringlet);
  const v: PeerVerdict = { regressions: [], known: [], unlistedStockFailures: [], staleKnown: [], skipMismatch: [], passedBoth: 0, slower: [], flaky: [], flakyListed: [], failures: {} };
  for (const [kernel, runs] of [['stock', stockRuns], ['uringlet', uringletRuns]] as const) {
    for (const t of runs.values()) if (t.failed > 0 && t.passed > 0) v.flaky.push({ name: t.name, kernel, failed: t.failed, runs: t.runs });
  }
  for (const name of new Set([...stockRuns.keys(), ...uringletRuns.keys()])) {
    const st = stockRuns.get(name);
    const ut = uringletRuns.get(name);
    if ((st?.failed ?? 0) + (ut?.failed ?? 0) > 0) {
      v.failures[name] = { stock: { failed: st?.failed ?? 0, runs: st?.runs ?? 0 }, uringlet: { failed: ut?.failed ?? 0, runs: ut?.runs ?? 0 } };
    }
  }
  for (const r of uringletRuns.values()) {
    const st = stockRuns.get(r.name)?.status;
    if (st === undefined || st === 'not-run' || r.status === 'not-run') continue;
    const flaky = flakyEntry(spec, r.name, variant);
    // Failing in every one of several runs is not "now and then": the entry does not cover it.
    if (bad(r.status) && flaky !== undefined && !failedEveryRun(r.failed, r.runs)) {
      v.flakyListed.push({ name: r.name, reason: flaky.reason, stock: { failed: stockRuns.get(r.name)?.failed ?? 0, runs: stockRuns.get(r.name)?.runs ?? 0 }, uringlet: { failed: r.failed, runs: r.runs } });
      continue;
    }
    if (bad(r.status) && !bad(st)) v.regressions.push(r.name);
    else if (bad(r.status) && bad(st)) {
      const reason = spec.knownFailures[r.name];
      if (reason !== undefined) v.known.push({ name: r.name, reason });
      else v.unlistedStockFailures.push(r.name);
    } else if (r.status === 'pass' && st === 'pass') {
      v.passedBoth++;
      const ss = stockRuns.get(r.name)?.seconds ?? 0;
      if (r.seconds >= 2 * ss && r.seconds - ss >= 2) v.slower.push({ name: r.name, stockSec: ss, uringletSec: r.seconds, ratio: r.seconds / Math.max(ss, 0.01) });
    }
    if ((r.status === 'skip') !== (st === 'skip') && !bad(r.status) && !bad(st)) v.skipMismatch.push(r.name);
  }
  for (const name of Object.keys(spec.knownFailures)) {
    const st = stockRuns.get(name)?.status;
    if (st !== undefined && !bad(st)) v.staleKnown.push(name);
  }
  v.slower.sort((a, b) => b.ratio - a.ratio);
  return v;
}

/** Pure: the results as TAP (one line per test, the test's last lines as diagnostics when it did not pass). */
export function toTap(results: PeerTestResult[], header: string): string {
  const out = [`TAP version 13`, `# ${header}`, `1..${results.length}`];
  results.forEach((r, i) => {
    const ok = r.status === 'pass' || r.status === 'skip' || r.status === 'not-run';
    const directive = r.status === 'skip' || r.status === 'not-run' ? ` # SKIP ${r.status}` : r.status === 'pass' ? '' : ` # ${r.status} (exit ${r.exitCode ?? 'none'}, ${r.seconds.toFixed(1)} s)`;
    const run = r.run !== undefined ? ` (run ${r.run.index}/${r.run.of})` : '';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name}${run}${directive}`);
    if (!ok) for (const l of r.tail) out.push(`#   ${l}`);
    if (r.console !== undefined) out.push(`#   console while it ran: ${r.console}`);
  });
  return out.join('\n') + '\n';
}

// ---- source and build -----------------------------------------------------------------

const root = (): string => join(cacheRoot(), 'liburing');

/** The liburing version of this Debian release (the host's liburing-dev comes from the archive the guest image uses). */
export async function liburingVersion(): Promise<string> {
  const r = await run('dpkg-query', ['-W', '-f=${Version}', 'liburing-dev']);
  if (r.exitCode !== 0 || r.stdout.trim() === '') {
    throw new UserError('liburing-dev is not installed: its version names the liburing source to test', { details: ['run `uringlet doctor` (as root it installs it)'] });
  }
  return r.stdout.trim();
}

async function fetchSource(version: string, dir: string, logFile: LogFile): Promise<void> {
  const apt = join(root(), 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc']) mkdirSync(join(apt, d), { recursive: true });
  writeFileSync(join(apt, 'etc', 'sources.list'), `deb-src ${hostMirror('bookworm')} bookworm main\n`);
  const opts = [
    '-o', `Dir::Etc::SourceList=${join(apt, 'etc', 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`,
    '-o', `Dir::Cache=${join(apt, 'cache')}`,
    '-o', 'APT::Sandbox::User=root',
  ];
  const dl = join(root(), `.download-${process.pid}`);
  rmSync(dl, { recursive: true, force: true });
  mkdirSync(dl, { recursive: true });
  try {
    await runOk('apt-get', [...opts, 'update'], { log: logFile, fail: () => new InfraError('apt-get update with the private deb-src list failed', { details: logFile.tail(5), logPath: logFile.path }) });
    await runOk('apt-get', [...opts, 'source', '--download-only', `liburing=${version}`], {
      cwd: dl, log: logFile,
      fail: () => new InfraError(`cannot download the Debian source of liburing ${version}`, { details: logFile.tail(5), logPath: logFile.path }),
    });
    const dsc = readdirSync(dl).find((f) => f.endsWith('.dsc'));
    if (dsc === undefined) throw new InfraError(`apt-get source left no .dsc in ${dl}`);
    await runOk('dpkg-source', ['--no-check', '-x', dsc, 'src'], { cwd: dl, log: logFile });
    renameSync(join(dl, 'src'), dir);
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
}

export interface BuiltPeerSuite {
  version: string;
  /** Directory holding the *.t binaries. */
  binDir: string;
  tarball: string;
  tests: string[];
}

/** Fetch (once) and build (once) liburing's tests, statically, for `version`. */
export async function buildPeerSuite(version?: string): Promise<BuiltPeerSuite> {
  const v = version ?? (await liburingVersion());
  const base = join(root(), v.replace(/[^\w.+-]/g, '_'));
  const src = join(base, 'src');
  const tarball = join(base, 'tests.tgz');
  const listFile = join(base, 'tests.txt');
  mkdirSync(base, { recursive: true });
  await withFileLock(join(base, '.lock'), async () => {
    if (existsSync(tarball) && existsSync(listFile)) return;
    await ensureHost('guest-programs'); // gcc, make, dpkg-source, liburing-dev
    const logFile = new LogFile(join(paths.logs(), `liburing-${v}.log`));
    await log.step(`fetching and building liburing ${v}'s tests (once; log: ${logFile.path})`, async () => {
      if (!existsSync(src)) await fetchSource(v, src, logFile);
      const fail = (what: string) => () =>
        new InfraError(`building liburing's tests failed at ${what}`, { details: logFile.tail(12), logPath: logFile.path });
      await runOk('./configure', [], { cwd: src, log: logFile, fail: fail('configure') });
      await runOk('make', ['-j', '2', '-C', 'src'], { cwd: src, log: logFile, fail: fail('make -C src') });
      // Static: the guest has liburing2 but the tests link what they were built with.
      await runOk('make', ['-j', '2', '-C', 'test', 'LDFLAGS=-static'], { cwd: src, log: logFile, fail: fail('make -C test') });
      const tests = readdirSync(join(src, 'test')).filter((f) => f.endsWith('.t')).sort();
      if (tests.length < 50) throw new InfraError(`only ${tests.length} liburing tests were built (expected more than 100)`, { logPath: logFile.path });
      const tmp = `${tarball}.tmp-${process.pid}`;
      await runOk('tar', ['-czf', tmp, '-C', join(src, 'test'), ...tests], { log: logFile });
      renameSync(tmp, tarball);
      writeFileSync(listFile, tests.join('\n') + '\n');
    });
  }, { timeoutMs: 30 * 60_000, what: `building liburing ${v} tests` });
  const tests = readFileSync(listFile, 'utf8').split('\n').filter((l) => l !== '');
  return { version: v, binDir: join(src, 'test'), tarball, tests };
}

// ---- running in the guest -------------------------------------------------------------

/** What the suite needs from a guest; compare-run's Guest has this shape. */
export interface PeerGuest {
  exec(cmd: string, opts?: { timeoutSec?: number }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  put(local: string, remote: string): Promise<void>;
}

export const knobPath = '/proc/sys/kernel/io_uring_uringlet_force';
const guestDir = '/root/liburing';

export interface RunPeerOptions {
  /** Knob value to set first (0 on stock: the knob does not exist there). */
  knob: number;
  only?: string[];
  spec: SuiteSpec;
  log?: (line: string) => void;
  progress?: (done: number, total: number, name: string, status: PeerStatus, consoleReport?: string) => void;
  /** Multiplies every test's timeout (a debug kernel under TCG is many times slower). */
  timeoutScale?: number;
  /** Runs of each test, one after the other in the same boot (default 1): for a test suspected flaky. */
  repeat?: number;
  /**
   * The VM's console, to name the test during which a kernel report appeared
   * (the run fails on it anyway; this says which test to rerun).
   */
  console?: { mark(): number; report(since: number): string | null };
}

function tailLines(s: string, n = 8): string[] {
  return s.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').slice(-n);
}

/**
 * Run the tests one by one. A test the guest's timeout(1) cannot end (an
 * unkillable task) is a 'hang'; the run goes on if the guest still answers,
 * otherwise the rest are 'not-run' and the failure is rethrown for the caller
 * (a kernel failure, with the console).
 */
export async function runPeerSuite(g: PeerGuest, built: BuiltPeerSuite, opts: RunPeerOptions): Promise<PeerTestResult[]> {
  const names = built.tests.filter((t) => opts.only === undefined || opts.only.some((o) => t === o || t === `${o}.t`));
  if (opts.only !== undefined && names.length === 0) throw new UserError(`no liburing test matches ${opts.only.join(', ')}`);
  await g.put(built.tarball, '/root/liburing-tests.tgz');
  const prep = await g.exec(`rm -rf ${guestDir} && mkdir -p ${guestDir}/work && tar -xzf /root/liburing-tests.tgz -C ${guestDir}`, { timeoutSec: 120 });
  if (prep.exitCode !== 0) throw new InfraError('cannot unpack the liburing tests in the guest', { details: tailLines(prep.stderr) });
  if (opts.knob > 0) {
    const k = await g.exec(`echo ${opts.knob} > ${knobPath} && cat ${knobPath}`, { timeoutSec: 10 });
    if (k.exitCode !== 0 || k.stdout.trim() !== String(opts.knob)) {
      throw new InfraError(`cannot set ${knobPath} to ${opts.knob} (is this the uringlet kernel?)`, { details: tailLines(k.stderr + k.stdout) });
    }
  }
  const results: PeerTestResult[] = [];
  let dead: unknown;
  const repeat = opts.repeat ?? 1;
  const todo = names.flatMap((name) => Array.from({ length: repeat }, (_, k) => ({ name, run: repeat > 1 ? { index: k + 1, of: repeat } : undefined })));
  for (const [i, { name, run }] of todo.entries()) {
    const why = opts.spec.notRun[name];
    if (dead !== undefined || why !== undefined) {
      results.push({ name, status: 'not-run', exitCode: null, seconds: 0, tail: [why ?? 'the guest stopped answering after an earlier test'], ...(run !== undefined ? { run } : {}) });
      continue;
    }
    const t = Math.ceil(testTimeoutSec(opts.spec, name) * (opts.timeoutScale ?? 1));
    const started = Date.now();
    const mark = opts.console?.mark();
    let r: PeerTestResult;
    try {
      // A fresh work dir per test: tests leave files behind.
      const x = await g.exec(`cd ${guestDir}/work && rm -rf ./* && timeout -k 5 ${t} ${guestDir}/${name} 2>&1`, { timeoutSec: t + 30 });
      r = { name, status: classify(x.exitCode, false), exitCode: x.exitCode, seconds: (Date.now() - started) / 1000, tail: tailLines(x.stdout + x.stderr) };
    } catch (e) {
      if (!(e instanceof KernelFailure) || e.type !== 'command-timeout') throw e;
      r = { name, status: 'hang', exitCode: null, seconds: (Date.now() - started) / 1000, tail: [`still running ${t + 30} s after start: timeout(1) could not kill it (an unkillable task)`] };
      try {
        await g.exec('true', { timeoutSec: 20 });
      } catch (e2) {
        dead = e2;
      }
    }
    const splat = mark === undefined ? null : (opts.console?.report(mark) ?? null);
    if (splat !== null) r.console = splat;
    if (run !== undefined) r.run = run;
    results.push(r);
    opts.log?.(`${name}: ${r.status} (${r.seconds.toFixed(1)} s)${r.status === 'pass' || r.status === 'skip' ? '' : '\n  ' + r.tail.join('\n  ')}`);
    opts.progress?.(i + 1, todo.length, name, r.status, r.console);
  }
  if (opts.knob > 0 && dead === undefined) await g.exec(`echo 0 > ${knobPath}`, { timeoutSec: 10 }).catch(() => undefined);
  if (dead !== undefined) throw dead;
  return results;
}
