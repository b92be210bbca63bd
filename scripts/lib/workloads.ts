// Workloads and profiles are data (tests/workloads/*.json, fio job files,
// tests/bench/*.c). This module loads and validates them, expands a profile
// into the list of measurement points, estimates run time, and compiles the
// benchmark C programs for the guest.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { UserError, InfraError } from './errors.ts';
import { cacheRoot, paths } from './paths.ts';
import { ensureHost } from './host.ts';

export type Target = 'xfs' | 'ext4' | 'null_blk';
export const fsTargets: readonly Target[] = ['xfs', 'ext4'];

export interface Axis {
  /** What the value means in reports ("iodepth"). */
  name: string;
  /** Variable the value is passed as (IODEPTH). */
  var: string;
  values: number[];
}

export interface Workload {
  id: string;
  title: string;
  kind: 'fio' | 'program';
  /** fio job file, relative to tests/workloads. */
  job?: string;
  /** C program name in tests/bench (without .c). */
  program?: string;
  /** Program arguments run once per boot before measuring (with ${VAR}s). */
  setup?: string[];
  args?: string[];
  target: Target;
  vars: Record<string, string>;
  axis?: Axis;
  dropCaches: boolean;
  /** The metric that decides win/loss and the exit code. */
  primary: string;
  /** A documented, expected loss: still reported as a loss, but does not fail the exit code. */
  knownLoss?: string;
  expect?: string;
  /** Seconds one run of a program takes (fio runs take ramp + runtime). */
  estimateSec?: number;
}

export interface RfcReference {
  source: string;
  workload: string;
  stockIops: Record<string, number>;
  uringletIops: Record<string, number>;
  ratio: Record<string, number>;
}

export interface Matrix {
  rfc: RfcReference;
  workloads: Workload[];
}

export type BenchMode = 'compare' | 'smoke' | 'none';

export interface Variant {
  /** Kernel build variant (default, debug). */
  name: string;
  benchmarks: BenchMode;
  tests: boolean;
}

export interface Profile {
  name: string;
  bootsPerKernel: number;
  runsPerBoot: number;
  runtimeSec: number;
  rampSec: number;
  /** A/A noise floor: 'split' compares odd and even stock boots, 'extra' boots stock a second time as its own arm. */
  aa: 'split' | 'extra';
  variants: Variant[];
  alpha: number;
  correction: 'holm' | 'bh' | 'none';
  practicalThresholdPct: number;
  /** cmdline: appended to the guest kernel command line of both kernels (after vm/qemu.json's). */
  vm: { vcpus: number; memoryMiB: number; dataDiskMiB: number; cmdline?: string[] };
  workloads: Record<string, { values?: number[]; vars?: Record<string, string> }>;
  budgetMinutes: number;
}

/** One measured configuration: a workload at one axis value. */
export interface Point {
  workload: Workload;
  /** Axis value, undefined for a workload without axis. */
  value: number | undefined;
  /** Stable id, e.g. "rfc-xfs-randwrite@iodepth=8". */
  key: string;
  /** Workload vars with profile overrides and the axis value (runner-provided vars not included). */
  vars: Record<string, string>;
}

/** Variables the runner provides to every job. */
export const runnerVars = ['DIR', 'DEVICE', 'RUNTIME', 'RAMP'] as const;

export function workloadsDir(): string {
  return join(paths.tests(), 'workloads');
}

export function benchDir(): string {
  return join(paths.tests(), 'bench');
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new UserError(`missing file ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** ${VAR} names used in a text. */
export function varsUsed(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!))].sort();
}

/** Replace ${VAR}; an unknown variable is an error (fio would silently drop the job). */
export function substitute(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new UserError(`${where}: variable \${${name}} is not set`);
    return v;
  });
}

function check(cond: boolean, msg: string, file: string): asserts cond {
  if (!cond) throw new UserError(`${file}: ${msg}`);
}

export function loadMatrix(dir = workloadsDir()): Matrix {
  const file = join(dir, 'matrix.json');
  const m = readJson(file) as Matrix;
  check(Array.isArray(m.workloads) && m.workloads.length > 0, 'no workloads', file);
  check(typeof m.rfc === 'object' && m.rfc !== null, 'no rfc reference block', file);
  const ids = new Set<string>();
  for (const w of m.workloads) {
    const where = `${file}: workload '${w.id}'`;
    check(typeof w.id === 'string' && /^[a-z0-9-]+$/.test(w.id), `bad id '${String(w.id)}'`, file);
    check(!ids.has(w.id), `duplicate id '${w.id}'`, file);
    ids.add(w.id);
    check(['xfs', 'ext4', 'null_blk'].includes(w.target), `target must be xfs, ext4 or null_blk`, where);
    check(typeof w.primary === 'string', 'needs a primary metric', where);
    w.vars ??= {};
    w.dropCaches ??= false;
    const provided = new Set<string>([...Object.keys(w.vars), ...runnerVars, ...(w.axis ? [w.axis.var] : [])]);
    let used: string[];
    if (w.kind === 'fio') {
      check(typeof w.job === 'string', 'fio workload needs a job file', where);
      const jobPath = join(dir, w.job);
      check(existsSync(jobPath), `job file ${jobPath} does not exist`, where);
      used = varsUsed(readFileSync(jobPath, 'utf8'));
    } else if (w.kind === 'program') {
      check(typeof w.program === 'string', 'program workload needs a program', where);
      check(existsSync(join(benchDir(), `${w.program}.c`)), `tests/bench/${w.program}.c does not exist`, where);
      check(Array.isArray(w.args), 'program workload needs args', where);
      used = varsUsed([...(w.setup ?? []), ...(w.args ?? [])].join(' '));
    } else {
      throw new UserError(`${where}: kind must be fio or program`);
    }
    const missing = used.filter((v) => !provided.has(v));
    check(missing.length === 0, `uses unset variables ${missing.join(', ')}`, where);
    if (w.axis) check(w.axis.values.length > 0, 'axis has no values', where);
  }
  check(ids.has(m.rfc.workload), `rfc.workload '${m.rfc.workload}' is not a workload`, file);
  return m;
}

export function profileNames(dir = workloadsDir()): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'matrix.json')
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

export function loadProfile(name: string, matrix: Matrix, dir = workloadsDir()): Profile {
  const file = join(dir, `${name}.json`);
  if (!/^[a-z0-9-]+$/.test(name) || !existsSync(file)) {
    throw new UserError(`unknown profile '${name}'`, { details: [`available: ${profileNames(dir).join(', ')}`] });
  }
  const p = readJson(file) as Profile;
  check(p.name === name, `name must be '${name}'`, file);
  for (const k of ['bootsPerKernel', 'runsPerBoot', 'runtimeSec', 'rampSec', 'alpha', 'practicalThresholdPct', 'budgetMinutes'] as const) {
    check(typeof p[k] === 'number' && p[k] >= 0, `${k} must be a non-negative number`, file);
  }
  check(p.bootsPerKernel >= 1 && p.runsPerBoot >= 1, 'needs at least one boot and one run', file);
  check(p.aa === 'split' || p.aa === 'extra', "aa must be 'split' or 'extra'", file);
  check(['holm', 'bh', 'none'].includes(p.correction), 'correction must be holm, bh or none', file);
  check(Array.isArray(p.variants) && p.variants.length > 0, 'needs variants', file);
  for (const v of p.variants) check(['compare', 'smoke', 'none'].includes(v.benchmarks), `variant ${v.name}: benchmarks must be compare, smoke or none`, file);
  check(p.vm.cmdline === undefined || (Array.isArray(p.vm.cmdline) && p.vm.cmdline.every((a) => typeof a === 'string' && a.length > 0 && !/\s/.test(a))), 'vm.cmdline must be a list of kernel arguments without spaces', file);
  const known = new Set(matrix.workloads.map((w) => w.id));
  for (const [id, sel] of Object.entries(p.workloads)) {
    check(known.has(id), `workload '${id}' is not in matrix.json`, file);
    const w = matrix.workloads.find((x) => x.id === id)!;
    for (const v of sel.values ?? []) {
      check(w.axis !== undefined && w.axis.values.includes(v), `workload '${id}': value ${v} is not on its axis`, file);
    }
  }
  return p;
}

/**
 * A --workloads entry: a workload id (its points in the profile), or one point
 * `id@axis=value` (any value on the matrix's axis), so that a maintainer can
 * rerun just the point that moved. A named workload the profile leaves out
 * runs with the matrix's points and variables.
 */
interface Selector {
  id: string;
  value: number | undefined;
}

function parseSelectors(matrix: Matrix, only: string[]): Selector[] {
  const out: Selector[] = [];
  const bad: string[] = [];
  for (const entry of only) {
    const m = /^([^@]+)@([^=]+)=(.+)$/.exec(entry);
    const id = m === null ? entry : m[1]!;
    const w = matrix.workloads.find((x) => x.id === id);
    if (w === undefined) {
      bad.push(`unknown workload '${id}'`);
      continue;
    }
    if (m === null) {
      out.push({ id, value: undefined });
      continue;
    }
    const value = Number(m[3]);
    if (w.axis === undefined) bad.push(`${id} has no axis (give it as '${id}')`);
    else if (m[2] !== w.axis.name) bad.push(`${id}'s axis is '${w.axis.name}', not '${m[2]}'`);
    else if (!w.axis.values.includes(value)) bad.push(`${id}: ${w.axis.name}=${m[3]} is not one of ${w.axis.values.join(', ')}`);
    else out.push({ id, value });
  }
  if (bad.length > 0) {
    throw new UserError(`bad --workloads: ${bad.join('; ')}`, {
      details: [`workloads: ${matrix.workloads.map((w) => w.id).join(', ')}`, 'a single point: ID@AXIS=VALUE, e.g. rfc-xfs-randwrite@iodepth=1'],
    });
  }
  return out;
}

/** Expand a profile (or the --workloads selection) into measurement points, in matrix order. */
export function planPoints(matrix: Matrix, profile: Profile, only?: string[]): Point[] {
  const selectors = only === undefined ? undefined : parseSelectors(matrix, only);
  const out: Point[] = [];
  for (const w of matrix.workloads) {
    const sel = profile.workloads[w.id];
    const picked = selectors?.filter((s) => s.id === w.id);
    if (picked !== undefined && picked.length === 0) continue;
    // a workload the profile leaves out runs when named (with the matrix's points)
    if (sel === undefined && picked === undefined) continue;
    const vars = { ...w.vars, ...(sel?.vars ?? {}) };
    if (w.axis === undefined) {
      out.push({ workload: w, value: undefined, key: w.id, vars });
      continue;
    }
    const profileValues = sel?.values ?? w.axis.values;
    const values =
      picked === undefined || picked.some((s) => s.value === undefined)
        ? profileValues
        : w.axis.values.filter((v) => picked.some((s) => s.value === v));
    for (const v of values) {
      out.push({ workload: w, value: v, key: `${w.id}@${w.axis.name}=${v}`, vars: { ...vars, [w.axis.var]: String(v) } });
    }
  }
  return out;
}

/** Whether a program takes the profile's runtime (`${RUNTIME}` in its args): it then runs that long plus its estimateSec. */
export function takesRuntime(w: Workload): boolean {
  return w.kind === 'program' && (w.args ?? []).some((a) => a.includes('${RUNTIME}'));
}

/** Seconds one run of a point takes, for ETA and budgets (overheads measured under TCG: fio start ~1.5 s, drop_caches ~1 s). */
export function runSeconds(p: Point, profile: Profile): number {
  const overhead = 2 + (p.workload.dropCaches ? 1 : 0);
  if (p.workload.kind === 'fio') return profile.runtimeSec + profile.rampSec + overhead;
  return (takesRuntime(p.workload) ? profile.runtimeSec : 0) + (p.workload.estimateSec ?? 10) + overhead;
}

// ---- benchmark programs ----------------------------------------------------------

/**
 * Compile tests/bench/*.c statically (so the guest needs no liburing-dev) into
 * the cache, keyed by the sources' hash. Returns program name -> host path.
 */
export async function buildBenchPrograms(): Promise<Record<string, string>> {
  const dir = benchDir();
  const sources = readdirSync(dir).filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
  const h = createHash('sha256');
  for (const f of sources) h.update(f).update(readFileSync(join(dir, f)));
  const out = join(cacheRoot(), 'bench', h.digest('hex').slice(0, 16));
  const programs = sources.filter((f) => f.endsWith('.c')).map((f) => f.replace(/\.c$/, ''));
  const result = Object.fromEntries(programs.map((p) => [p, join(out, p)]));
  if (programs.every((p) => existsSync(join(out, p)))) return result;
  // a fresh machine has no liburing-dev: installs it (as root) or names the apt command
  await ensureHost('guest-programs');
  const tmp = `${out}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  for (const p of programs) {
    const r = await execa('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', join(tmp, p), join(dir, `${p}.c`), '-luring', '-lpthread'], {
      reject: false,
      all: true,
    });
    if (r.exitCode !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      throw new InfraError(`compiling tests/bench/${p}.c failed`, { details: (r.all ?? '').split('\n').slice(-20) });
    }
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return result;
}
