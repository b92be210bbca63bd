// A results directory as KernelCI KCIDB report data (I/O schema v4.4: the
// first 4.x with a test's numeric output, "number"). Pure: a Summary in,
// plain JSON out; the command reads the files and writes the result.
//
//   checkouts  one per kernel source: stock (the 6.1 base) and uringlet (the
//              base + patches/), from the builds' metadata.json
//   builds     one per built kernel (stock/uringlet x default/debug)
//   tests      guest suite tests (uringlet.<suite>.<test>), one boot test per
//              boot (uringlet.boot: FAIL with the console excerpt when the
//              kernel crashed) and every benchmark metric per kernel
//              (uringlet.bench.<workload>.<axis>_<value>.<metric>, status DONE
//              with "number"; FAIL for a flagged uringlet regression, ERROR
//              when the runs produced no numbers), and smoke runs of the
//              other variants (uringlet.smoke.<point>: PASS/FAIL)
//
// Ids are "<origin>:<run-id>/<...>", unique per run. URLs are paths relative
// to the results directory unless a base URL is given (KCIDB wants absolute
// URIs on submission: pass --url-base where the directory is published).
import { createHash } from 'node:crypto';
import type { Arm, MetricComparison } from './compare.ts';
import { failingRegressions } from './compare.ts';
import type { BuildMetadata } from './metadata.ts';
import type { KernelMeta, Summary, TestSuiteResult } from './results.ts';

export const kcidbVersion = { major: 4, minor: 4 } as const;

export const originPattern = /^[a-z0-9_]+$/;
const idPattern = /^[a-z0-9_]+:.*$/;
const pathPattern = /^[.a-zA-Z0-9_-]*$/;
const archPattern = /^[a-z0-9_]*$/;
const sha1Pattern = /^[0-9a-f]{40}$/;
const sha256Pattern = /^[0-9a-f]{64}$/;
export const kcidbStatuses = ['FAIL', 'ERROR', 'MISS', 'PASS', 'DONE', 'SKIP'] as const;
export type KcidbStatus = (typeof kcidbStatuses)[number];

type Misc = Record<string, unknown>;

export interface KcidbCheckout {
  id: string;
  origin: string;
  tree_name?: string;
  git_commit_hash?: string;
  git_commit_name?: string;
  patchset_hash?: string;
  comment?: string;
  start_time?: string;
  valid?: boolean;
  misc?: Misc;
}

export interface KcidbBuild {
  checkout_id: string;
  id: string;
  origin: string;
  comment?: string;
  start_time?: string;
  duration?: number;
  architecture?: string;
  command?: string;
  compiler?: string;
  config_name?: string;
  config_url?: string;
  log_url?: string;
  log_excerpt?: string;
  valid?: boolean;
  misc?: Misc;
}

export interface KcidbTest {
  build_id: string;
  id: string;
  origin: string;
  environment?: { comment?: string; misc?: Misc };
  path?: string;
  comment?: string;
  log_url?: string;
  log_excerpt?: string;
  status?: KcidbStatus;
  number?: { value: number; unit?: string; prefix?: 'metric' | 'binary' };
  waived?: boolean;
  start_time?: string;
  duration?: number;
  misc?: Misc;
}

export interface KcidbReport {
  version: { major: 4; minor: number };
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
}

export interface KcidbOptions {
  origin: string;
  /** Prefix for relative paths in *_url fields ("https://host/results/<run-id>"); relative paths when absent. */
  urlBase?: string;
  /** Run-relative paths of build logs and configs collected into the results directory, by "<kernel>-<variant>". */
  buildFiles?: Record<string, { log?: string; config?: string }>;
  /** KCIDB patchset hash of patches/ (sha256 of each patch's sha256 + newline), when it is the series that was built. */
  patchsetHash?: string;
}

/** KCIDB's patchset hash: sha256 over the newline-terminated sha256 hex digests of the patches, in order. */
export function patchsetHash(patchTexts: readonly (string | Uint8Array)[]): string {
  if (patchTexts.length === 0) return '';
  const lines = patchTexts.map((t) => `${createHash('sha256').update(t).digest('hex')}\n`).join('');
  return createHash('sha256').update(lines).digest('hex');
}

/** A test path component: KCIDB allows [.a-zA-Z0-9_-]; "prog: some name" becomes "prog.some_name". */
export function pathComponent(name: string): string {
  return name
    .split(/:\s+/)
    .map((part) =>
      part
        .replace(/[^a-zA-Z0-9_-]+/g, '_')
        .replace(/_+/g, '_')
        .replace(/^_|_$/g, ''),
    )
    .filter((p) => p !== '')
    .join('.');
}

function metaOf(k: KernelMeta): Partial<BuildMetadata> | undefined {
  const b = k.build;
  return b !== undefined && typeof b === 'object' ? (b as Partial<BuildMetadata>) : undefined;
}

function url(rel: string | undefined, base: string | undefined): string | undefined {
  if (rel === undefined) return undefined;
  return base === undefined ? rel : `${base.replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`;
}

function excerpt(lines: readonly string[]): string | undefined {
  if (lines.length === 0) return undefined;
  const s = lines.join('\n');
  return s.length > 16384 ? s.slice(s.length - 16384) : s;
}

/** Drops undefined members (KCIDB forbids null and we never want "undefined" keys). */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function configName(m: Partial<BuildMetadata> | undefined, variant: string): string {
  const frags = m?.config?.fragments?.map((f) => (f.split('/').pop() ?? f).replace(/\.config$/, '')) ?? [];
  return ['tinyconfig', ...(frags.length > 0 ? frags : variant === 'debug' ? ['base', 'debug'] : ['base'])].join('+');
}

const kernelOfArm = (a: Arm): 'stock' | 'uringlet' => (a === 'uringlet' ? 'uringlet' : 'stock');

export function toKcidb(s: Summary, o: KcidbOptions): KcidbReport {
  if (!originPattern.test(o.origin)) throw new Error(`bad KCIDB origin '${o.origin}' (lowercase letters, digits, _)`);
  const run = `${o.origin}:${s.runId}`;
  const checkoutId = (kernel: string) => `${run}/checkout/${kernel}`;
  const buildId = (kernel: string, variant: string) => `${run}/build/${kernel}-${variant}`;

  // ---- checkouts: one per kernel, from the first build's metadata that has a source
  const checkouts: KcidbCheckout[] = [];
  for (const kernel of ['stock', 'uringlet'] as const) {
    const ks = s.kernels.filter((k) => k.kernel === kernel);
    if (ks.length === 0) continue;
    const m = ks.map(metaOf).find((x) => x?.source !== undefined);
    const src = m?.source;
    const series = kernel === 'uringlet' ? m?.series : null;
    const commit = src?.baseCommit;
    checkouts.push(
      clean({
        id: checkoutId(kernel),
        origin: o.origin,
        tree_name: src?.kind === 'debian' || /debian/i.test(src?.id ?? '') ? 'debian-linux-6.1' : src !== undefined ? 'linux-6.1' : undefined,
        git_commit_hash: commit !== undefined && sha1Pattern.test(commit) ? commit : undefined,
        git_commit_name: src?.packageVersion !== undefined ? `debian/${src.packageVersion}` : undefined,
        patchset_hash: kernel === 'stock' ? '' : o.patchsetHash !== undefined && sha256Pattern.test(o.patchsetHash) ? o.patchsetHash : undefined,
        comment: kernel === 'stock' ? `stock Linux 6.1 base${src ? `: ${src.description}` : ''}` : `uringlet RFC series on the 6.1 base${series ? ` (${series.patches.length} patches)` : ''}`,
        start_time: s.startedAt,
        valid: true,
        misc: clean({
          kernel,
          source_id: src?.id,
          source_kind: src?.kind,
          base_tree: src?.baseTree,
          head_commit: src?.headCommit,
          dirty_files: src?.dirtyFiles?.length ? src.dirtyFiles : undefined,
          series_hash: series?.hash,
          patches: series?.patches.map((p) => p.subject),
        }),
      }),
    );
  }

  // ---- builds
  const builds: KcidbBuild[] = s.kernels.map((k) => {
    const m = metaOf(k);
    const files = o.buildFiles?.[`${k.kernel}-${k.variant}`];
    const built = m?.builtAt !== undefined ? Date.parse(m.builtAt) : Number.NaN;
    const duration = m?.durationSec;
    const newWarnings = m?.warnings?.newOverStock;
    return clean({
      checkout_id: checkoutId(k.kernel),
      id: buildId(k.kernel, k.variant),
      origin: o.origin,
      comment: `${k.kernel} ${k.variant}${k.release ? ` (${k.release})` : ''}`,
      start_time: Number.isFinite(built) ? new Date(built - (duration ?? 0) * 1000).toISOString() : undefined,
      duration,
      architecture: 'x86_64',
      command: m?.reproducer,
      compiler: m?.toolchain?.compiler,
      config_name: configName(m, k.variant),
      config_url: url(files?.config, o.urlBase),
      log_url: url(files?.log, o.urlBase),
      log_excerpt: m?.status === 'fail' ? excerpt(m.errors ?? []) : undefined,
      // The comparison only runs kernels that built; without metadata the bzImage still booted.
      valid: m?.status === undefined ? true : m.status === 'pass',
      misc: clean({
        kernel: k.kernel,
        variant: k.variant,
        release: k.release,
        config_hash: m?.config?.configHash,
        build_kind: m?.build?.kind,
        compiled_files: m?.build?.compiledFiles,
        warnings: m?.warnings?.count,
        new_warnings_over_stock: newWarnings === null ? undefined : newWarnings,
        ccache_hit_rate: m?.ccache?.hitRate ?? undefined,
        metadata: m === undefined ? 'no build metadata in the results directory' : undefined,
      }),
    });
  });
  const haveBuild = new Set(builds.map((b) => b.id));

  const environment = {
    comment: `QEMU guest (${s.host.accelerator ?? 'unknown accelerator'}, ${s.host.vcpus ?? '?'} vCPUs, ${s.host.guestMemoryMiB ?? '?'} MiB) on ${s.host.cpuModel}`,
    misc: clean({
      host_cpus: s.host.cpus,
      host_memory_gib: s.host.memoryGiB,
      host_os: s.host.os,
      qemu: s.host.qemu,
      accelerator: s.host.accelerator,
      guest_fio: s.host.guestFio,
      profile: s.profile,
    }),
  };
  const tests: KcidbTest[] = [];
  const push = (t: KcidbTest) => {
    if (!haveBuild.has(t.build_id)) return; // no build for it in this run: nothing to attach to
    tests.push(clean(t));
  };

  // ---- boots
  for (const b of s.boots) {
    const kernel = kernelOfArm(b.arm);
    const f = s.kernelFailures.find((x) => x.arm === b.arm && x.variant === b.variant && x.boot === b.boot);
    push({
      build_id: buildId(kernel, b.variant),
      id: `${run}/${b.arm}/${b.variant}/boot/${b.boot}`,
      origin: o.origin,
      environment,
      path: 'uringlet.boot',
      comment: `boot ${b.boot} of ${b.arm} (${b.variant})`,
      status: b.status === 'crashed' ? 'FAIL' : 'PASS',
      log_url: url(f?.log ?? `logs/${b.variant}-${b.arm}-${b.boot}.console.log`, o.urlBase),
      log_excerpt: f !== undefined ? excerpt([`${f.type}: ${f.title}`, ...f.details]) : undefined,
      start_time: s.startedAt,
      duration: b.durationSec,
      misc: clean({ arm: b.arm, boot: b.boot, failure_type: f?.type }),
    });
  }

  // ---- functional suites
  const suiteTests = (suite: TestSuiteResult) => {
    const kernel = kernelOfArm(suite.arm);
    const base = `uringlet.${pathComponent(suite.suite) || 'suite'}`;
    if (suite.state === 'not-run') {
      push({
        build_id: buildId(kernel, suite.variant),
        id: `${run}/${suite.arm}/${suite.variant}/${suite.suite}`,
        origin: o.origin,
        environment,
        path: base,
        comment: `${suite.suite} suite NOT RUN: ${suite.reason ?? 'no reason given'}`,
        status: 'SKIP',
        start_time: s.startedAt,
        misc: clean({ arm: suite.arm, state: 'not-run', reason: suite.reason }),
      });
      return;
    }
    for (const t of suite.tests) {
      const status: KcidbStatus = t.fails > 0 || t.status === 'fail' ? 'FAIL' : t.status === 'skip' ? 'SKIP' : 'PASS';
      const comp = pathComponent(t.name);
      push({
        build_id: buildId(kernel, suite.variant),
        id: `${run}/${suite.arm}/${suite.variant}/${suite.suite}/${t.name}`,
        origin: o.origin,
        environment,
        path: comp === '' ? base : `${base}.${comp}`,
        comment: t.name,
        status,
        log_url: url(suite.tap, o.urlBase),
        start_time: s.startedAt,
        misc: { arm: suite.arm, runs: t.runs, fails: t.fails },
      });
    }
  };
  for (const suite of s.tests) suiteTests(suite);

  // ---- smoke runs (other variants, e.g. the debug kernel): ran or failed, no numbers compared
  s.smoke.forEach((x, i) => {
    push({
      build_id: buildId(kernelOfArm(x.arm), x.variant),
      id: `${run}/${x.arm}/${x.variant}/smoke/${x.point}/${i}`,
      origin: o.origin,
      environment,
      path: `uringlet.smoke.${pathComponent(x.point)}`,
      comment: `smoke run of ${x.point} on ${x.arm} (${x.variant})${x.error !== undefined ? `: ${x.error}` : ''}`,
      status: x.ok ? 'PASS' : 'FAIL',
      log_excerpt: x.error !== undefined ? excerpt([x.error]) : undefined,
      start_time: s.startedAt,
      misc: { arm: x.arm, point: x.point },
    });
  });

  // ---- benchmarks: compared variant only (comparisons carry no variant; it is the 'compare' variant)
  const failing = new Set(failingRegressions(s.analysis).map((c) => `${c.point}\u0000${c.metric}`));
  const comparedVariant = comparedVariantOf(s);
  const points = new Map(s.points.map((p) => [p.key, p]));
  for (const c of s.analysis.comparisons) {
    const p = points.get(c.point);
    const pointPath = [pathComponent(c.workload), p?.axisName !== undefined && c.axisValue !== undefined ? pathComponent(`${p.axisName}_${c.axisValue}`) : undefined]
      .filter((x): x is string => x !== undefined && x !== '')
      .join('.');
    for (const arm of ['stock', 'uringlet'] as const) {
      const d = c[arm];
      const isFailingRegression = arm === 'uringlet' && failing.has(`${c.point}\u0000${c.metric}`);
      const status: KcidbStatus = d.n === 0 ? 'ERROR' : isFailingRegression ? 'FAIL' : 'DONE';
      push({
        build_id: buildId(arm, comparedVariant),
        id: `${run}/${arm}/${comparedVariant}/bench/${c.point}/${c.metric}`,
        origin: o.origin,
        environment,
        path: `uringlet.bench.${pointPath}.${pathComponent(c.metric)}`,
        comment: `${c.point} ${c.label} on ${arm}${arm === 'uringlet' ? `: ${fmtChange(c)} vs stock, ${c.verdict}` : ''}`,
        status,
        number: d.n > 0 && Number.isFinite(d.mean) ? clean({ value: d.mean, unit: c.unit || undefined }) : undefined,
        start_time: s.startedAt,
        misc: benchMisc(c, arm),
      });
    }
  }

  return { version: { major: kcidbVersion.major, minor: kcidbVersion.minor }, checkouts, builds, tests };
}

function fmtChange(c: MetricComparison): string {
  return Number.isFinite(c.changePct) ? `${c.changePct > 0 ? '+' : ''}${c.changePct.toFixed(1)}%` : 'n/a';
}

function finiteOrUndef(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}

function benchMisc(c: MetricComparison, arm: 'stock' | 'uringlet'): Misc {
  const d = c[arm];
  return clean({
    point: c.point,
    metric: c.metric,
    better: c.better,
    primary: c.primary,
    n: d.n,
    median: finiteOrUndef(d.median),
    stddev: finiteOrUndef(d.stddev),
    cov_pct: finiteOrUndef(d.covPct),
    min: finiteOrUndef(d.min),
    max: finiteOrUndef(d.max),
    values: d.values.filter((v) => Number.isFinite(v)),
    ...(arm === 'uringlet'
      ? {
          change_pct_vs_stock: finiteOrUndef(c.changePct),
          p_adj: finiteOrUndef(c.pAdj),
          noise_floor_pct: finiteOrUndef(c.noiseFloorPct),
          verdict: c.verdict,
          known_loss: c.knownLoss,
        }
      : {}),
  });
}

/** The variant whose benchmarks were compared ('default' in every profile; the first kernel variant otherwise). */
function comparedVariantOf(s: Summary): string {
  const variants = [...new Set(s.kernels.map((k) => k.variant))];
  return variants.includes('default') ? 'default' : (variants[0] ?? 'default');
}

// ---- validation ------------------------------------------------------------------------

const allowed: Record<'checkout' | 'build' | 'test', readonly string[]> = {
  checkout: ['_timestamp', 'id', 'origin', 'tree_name', 'git_repository_url', 'git_commit_hash', 'git_commit_name', 'git_repository_branch', 'patchset_files', 'patchset_hash', 'message_id', 'comment', 'start_time', 'contacts', 'log_url', 'log_excerpt', 'valid', 'misc'],
  build: ['_timestamp', 'checkout_id', 'id', 'origin', 'comment', 'start_time', 'duration', 'architecture', 'command', 'compiler', 'input_files', 'output_files', 'config_name', 'config_url', 'log_url', 'log_excerpt', 'valid', 'misc'],
  test: ['_timestamp', 'build_id', 'id', 'origin', 'environment', 'path', 'comment', 'log_url', 'log_excerpt', 'status', 'number', 'waived', 'start_time', 'duration', 'output_files', 'misc'],
};
const required: Record<'checkout' | 'build' | 'test', readonly string[]> = {
  checkout: ['id', 'origin'],
  build: ['checkout_id', 'id', 'origin'],
  test: ['build_id', 'id', 'origin'],
};

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function findNull(x: unknown, path: string, out: string[]): void {
  if (x === null) out.push(`${path} is null (KCIDB allows no nulls)`);
  else if (typeof x === 'number' && !Number.isFinite(x)) out.push(`${path} is not a finite number`);
  else if (Array.isArray(x)) x.forEach((v, i) => findNull(v, `${path}[${i}]`, out));
  else if (isObj(x)) for (const [k, v] of Object.entries(x)) findNull(v, `${path}.${k}`, out);
}

/**
 * Hand-written structural check of KCIDB v4 report data (the parts we emit):
 * required fields, id/origin/path/architecture patterns, status enum, no
 * unknown properties, no nulls, unique ids, and every reference resolving.
 * Returns the problems; empty when valid.
 */
export function validateKcidb(x: unknown): string[] {
  const out: string[] = [];
  if (!isObj(x)) return ['report is not an object'];
  for (const k of Object.keys(x)) if (!['version', 'checkouts', 'builds', 'tests', 'issues', 'incidents'].includes(k)) out.push(`unknown top-level property '${k}'`);
  const v = x['version'];
  if (!isObj(v) || v['major'] !== 4) out.push('version.major must be 4');
  else if (v['minor'] !== undefined && (!Number.isInteger(v['minor']) || (v['minor'] as number) < 0)) out.push('version.minor must be a non-negative integer');
  findNull(x, '$', out);

  const ids = { checkout: new Set<string>(), build: new Set<string>(), test: new Set<string>() };
  const refs: [string, string, 'checkout' | 'build'][] = [];
  for (const [key, kind] of [
    ['checkouts', 'checkout'],
    ['builds', 'build'],
    ['tests', 'test'],
  ] as const) {
    const list = x[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      out.push(`${key} is not an array`);
      continue;
    }
    list.forEach((o: unknown, i: number) => {
      const where = `${key}[${i}]`;
      if (!isObj(o)) {
        out.push(`${where} is not an object`);
        return;
      }
      for (const r of required[kind]) if (o[r] === undefined) out.push(`${where} lacks required '${r}'`);
      for (const k of Object.keys(o)) if (!allowed[kind].includes(k)) out.push(`${where} has unknown property '${k}'`);
      const id = o['id'];
      if (typeof id !== 'string' || !idPattern.test(id)) out.push(`${where}.id '${String(id)}' is not "<origin>:<id>"`);
      else {
        if (ids[kind].has(id)) out.push(`${where}.id '${id}' is not unique`);
        ids[kind].add(id);
        if (typeof o['origin'] === 'string' && !id.startsWith(`${o['origin']}:`)) out.push(`${where}.id does not start with its origin`);
      }
      if (typeof o['origin'] !== 'string' || !originPattern.test(o['origin'])) out.push(`${where}.origin '${String(o['origin'])}' is not [a-z0-9_]+`);
      for (const f of ['comment', 'log_url', 'config_url', 'start_time', 'compiler', 'command', 'config_name', 'tree_name', 'git_commit_name']) {
        if (o[f] !== undefined && typeof o[f] !== 'string') out.push(`${where}.${f} is not a string`);
      }
      if (typeof o['start_time'] === 'string' && Number.isNaN(Date.parse(o['start_time']))) out.push(`${where}.start_time is not a date-time`);
      if (typeof o['log_excerpt'] === 'string' && o['log_excerpt'].length > 16384) out.push(`${where}.log_excerpt is longer than 16384`);
      if (o['log_excerpt'] !== undefined && typeof o['log_excerpt'] !== 'string') out.push(`${where}.log_excerpt is not a string`);
      if (o['valid'] !== undefined && typeof o['valid'] !== 'boolean') out.push(`${where}.valid is not a boolean`);
      if (o['duration'] !== undefined && typeof o['duration'] !== 'number') out.push(`${where}.duration is not a number`);
      if (o['misc'] !== undefined && !isObj(o['misc'])) out.push(`${where}.misc is not an object`);
      if (kind === 'checkout') {
        if (o['git_commit_hash'] !== undefined && (typeof o['git_commit_hash'] !== 'string' || !sha1Pattern.test(o['git_commit_hash']))) out.push(`${where}.git_commit_hash is not a full sha1`);
        if (o['patchset_hash'] !== undefined && (typeof o['patchset_hash'] !== 'string' || !(o['patchset_hash'] === '' || sha256Pattern.test(o['patchset_hash'])))) out.push(`${where}.patchset_hash is not '' or a sha256`);
      }
      if (kind === 'build') {
        if (typeof o['checkout_id'] === 'string') refs.push([where, o['checkout_id'], 'checkout']);
        if (o['architecture'] !== undefined && (typeof o['architecture'] !== 'string' || !archPattern.test(o['architecture']))) out.push(`${where}.architecture is not [a-z0-9_]*`);
      }
      if (kind === 'test') {
        if (typeof o['build_id'] === 'string') refs.push([where, o['build_id'], 'build']);
        if (o['path'] !== undefined && (typeof o['path'] !== 'string' || !pathPattern.test(o['path']))) out.push(`${where}.path '${String(o['path'])}' is not [.a-zA-Z0-9_-]*`);
        if (o['status'] !== undefined && !(kcidbStatuses as readonly unknown[]).includes(o['status'])) out.push(`${where}.status '${String(o['status'])}' is not one of ${kcidbStatuses.join(', ')}`);
        if (o['waived'] !== undefined && typeof o['waived'] !== 'boolean') out.push(`${where}.waived is not a boolean`);
        const n = o['number'];
        if (n !== undefined) {
          if (!isObj(n) || typeof n['value'] !== 'number') out.push(`${where}.number.value is not a number`);
          else {
            for (const k of Object.keys(n)) if (!['value', 'unit', 'prefix'].includes(k)) out.push(`${where}.number has unknown property '${k}'`);
            if (n['unit'] !== undefined && typeof n['unit'] !== 'string') out.push(`${where}.number.unit is not a string`);
            if (n['prefix'] !== undefined && n['prefix'] !== 'metric' && n['prefix'] !== 'binary') out.push(`${where}.number.prefix is not metric/binary`);
          }
        }
        const e = o['environment'];
        if (e !== undefined) {
          if (!isObj(e)) out.push(`${where}.environment is not an object`);
          else for (const k of Object.keys(e)) if (!['comment', 'misc'].includes(k)) out.push(`${where}.environment has unknown property '${k}'`);
        }
      }
    });
  }
  for (const [where, id, kind] of refs) if (!ids[kind].has(id)) out.push(`${where} refers to ${kind} '${id}', which is not in the report`);
  return out;
}
