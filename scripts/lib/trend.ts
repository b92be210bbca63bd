// Night-to-night trend of comparison runs: is tonight's run worse than last
// night's? Pure functions over two (or more) summary.json files; the command
// (commands/trend.ts) reads and writes files.
//
// Per benchmark point and metric, three series are compared across the two
// runs: the stock kernel, the uringlet kernel and the uringlet/stock ratio.
// Each run's per-boot means (primary metrics, bootMeans, when both nights have
// >= 3 boots per kernel: runs of one boot are not independent) or else its
// per-repetition values (analysis.comparisons[].{stock,uringlet}.values) give
// the spread:
//   - stock and uringlet: Welch's t-test of tonight's values against last night's;
//   - ratio: a percentile bootstrap (seeded, reproducible) of the change of the
//     ratio of means, resampling all four groups.
// p-values are adjusted (Benjamini-Hochberg) within two families: primary
// metrics, everything else. A change is a regression only when it is
// significant after adjustment AND at least the threshold (in %) in the worse
// direction; with fewer than 3 values per side there is no verdict at all.
//
// The exit code (see decideExit) is 1 when
//   - the primary metric's uringlet/stock ratio regressed, or
//   - uringlet's own primary metric regressed while stock's did not (when both
//     moved, the host or the base changed, and the ratio decides), or
//   - a functional test that passed last night fails tonight (any arm);
// otherwise 0. Stock-only changes are reported as drift of the machine or the
// base, never as a failure of the series.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from './errors.ts';
import type { MetricComparison, MetricIdentity, Verdict } from './compare.ts';
import type { Summary, TestSuiteResult } from './results.ts';
import { summarySchema } from './results.ts';
import { adjustP, hashSeed, mean, pctChange, percentileInterval, rng, stddev, tCdf, tQuantile } from './stats.ts';
import { fmtNum, fmtPct } from './report.ts';

export const trendSchema = 1;

export type Series = 'stock' | 'uringlet' | 'ratio';
export type TrendVerdict = 'regression' | 'improvement' | 'no-change' | 'insufficient';

export interface RunRef {
  runId: string;
  dir: string;
  profile: string;
  startedAt: string;
  accelerator: string | undefined;
  exitCode: number;
}

export interface SideStats {
  n: number;
  mean: number;
  stddev: number;
}

export interface MetricTrend extends MetricIdentity {
  /** "<point> <metric> <series>": stable across runs. */
  key: string;
  series: Series;
  previous: SideStats;
  current: SideStats;
  /** Change of the mean (of the ratio for 'ratio'), tonight against last night, in %. */
  changePct: number;
  /** Positive = better tonight, whatever the metric's direction. */
  gainPct: number;
  p: number;
  pAdj: number;
  test: 'welch' | 'bootstrap' | 'exact' | 'none';
  /** What the test's samples are: each boot's mean (primary metrics with >= 3 boots a night), or single runs. */
  samples?: 'boots' | 'runs';
  /** 95 % confidence interval of changePct. */
  ciPct: [number, number] | undefined;
  verdict: TrendVerdict;
  /** True when this row alone makes the exit code 1. */
  failsExit: boolean;
  reasons: string[];
  /** uringlet-vs-stock verdict of each night's own comparison (ratio rows only). */
  compareVerdict?: { previous: Verdict; current: Verdict };
}

export type TestState = 'pass' | 'fail' | 'skip' | 'not-run' | 'absent';

export interface TestTrend {
  suite: string;
  variant: string;
  arm: string;
  name: string;
  previous: TestState;
  current: TestState;
  change: 'new-failure' | 'fixed' | 'still-failing' | 'missing' | 'new' | 'same';
}

export interface TrendSettings {
  alpha: number;
  thresholdPct: number;
  correction: 'bh';
  bootstrapResamples: number;
}

export interface TrendReport {
  schema: typeof trendSchema;
  generatedAt: string;
  previous: RunRef;
  current: RunRef;
  settings: TrendSettings;
  metrics: MetricTrend[];
  tests: TestTrend[];
  notes: string[];
  exitCode: 0 | 1;
  exitReasons: string[];
}

export const defaultSettings: TrendSettings = { alpha: 0.05, thresholdPct: 5, correction: 'bh', bootstrapResamples: 4000 };

// ---- reading --------------------------------------------------------------------------

export interface LoadedRun {
  dir: string;
  file: string;
  summary: Summary;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Reads <dir>/summary.json (or a summary.json path) and checks it is a
 * comparison summary this code understands. Every problem is a UserError
 * naming the file.
 */
export function loadRun(pathArg: string): LoadedRun {
  const p = resolve(pathArg);
  let dir = p;
  let file = join(p, 'summary.json');
  if (existsSync(p) && statSync(p).isFile()) {
    file = p;
    dir = resolve(p, '..');
  } else if (!existsSync(p)) {
    throw new UserError(`results directory ${p} does not exist`, { details: [`expected ${file}`] });
  }
  if (!existsSync(file)) {
    const partial = existsSync(`${p}.partial`) ? [`${p}.partial exists: the run was interrupted (resume it with uringlet compare --resume ${basename(p)})`] : [];
    throw new UserError(`missing ${file}`, { details: ['not a finished comparison run (uringlet compare writes summary.json at the end)', ...partial] });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const problems = summaryProblems(raw);
  if (problems.length > 0) throw new UserError(`${file} is not a comparison summary this version understands`, { details: problems });
  return { dir, file, summary: raw as Summary };
}

/** Structural check of what trend needs from a summary.json. */
export function summaryProblems(raw: unknown): string[] {
  if (!isRecord(raw)) return ['top level is not an object'];
  const out: string[] = [];
  if (raw['schema'] !== summarySchema) out.push(`schema is ${JSON.stringify(raw['schema'])}, expected ${summarySchema}`);
  if (typeof raw['runId'] !== 'string') out.push('runId is missing');
  if (typeof raw['profile'] !== 'string') out.push('profile is missing');
  const a = raw['analysis'];
  if (!isRecord(a) || !Array.isArray(a['comparisons'])) out.push('analysis.comparisons is missing');
  else {
    a['comparisons'].forEach((c: unknown, i: number) => {
      if (out.length > 8) return;
      if (!isRecord(c) || typeof c['point'] !== 'string' || typeof c['metric'] !== 'string') out.push(`analysis.comparisons[${i}] has no point/metric`);
      else if (!isRecord(c['stock']) || !Array.isArray(c['stock']['values']) || !isRecord(c['uringlet']) || !Array.isArray(c['uringlet']['values'])) {
        out.push(`analysis.comparisons[${i}] (${c['point']} ${c['metric']}) has no per-repetition values`);
      }
    });
  }
  if (!Array.isArray(raw['tests'])) out.push('tests is missing');
  if (!isRecord(raw['host'])) out.push('host is missing');
  return out;
}

function runRef(r: LoadedRun): RunRef {
  return {
    runId: r.summary.runId,
    dir: r.dir,
    profile: r.summary.profile,
    startedAt: r.summary.startedAt,
    accelerator: r.summary.host.accelerator,
    exitCode: r.summary.exitCode,
  };
}

/** Two runs can be compared only with the same profile on the same accelerator. */
export function incompatibility(prev: LoadedRun, cur: LoadedRun): string[] {
  const out: string[] = [];
  if (prev.summary.profile !== cur.summary.profile) out.push(`profile '${prev.summary.profile}' (${prev.file}) vs '${cur.summary.profile}' (${cur.file})`);
  const pa = prev.summary.host.accelerator;
  const ca = cur.summary.host.accelerator;
  if (pa !== undefined && ca !== undefined && pa !== ca) {
    out.push(`accelerator '${pa}' (${prev.file}) vs '${ca}' (${cur.file}): numbers under TCG and KVM are not comparable`);
  }
  return out;
}

// ---- statistics -----------------------------------------------------------------------

function side(xs: readonly number[]): SideStats {
  return { n: xs.length, mean: mean(xs), stddev: stddev(xs) };
}

/** Welch's t-test of cur against prev, as %change of prev's mean with a 95 % CI. */
export function welchChange(prev: readonly number[], cur: readonly number[], confidence = 0.95): { changePct: number; p: number; ciPct: [number, number]; test: 'welch' | 'exact' } {
  const mp = mean(prev);
  const mc = mean(cur);
  const changePct = pctChange(mp, mc);
  const vp = stddev(prev) ** 2 / prev.length;
  const vc = stddev(cur) ** 2 / cur.length;
  const se = Math.sqrt(vp + vc);
  if (se === 0) {
    // No spread at all on either side: the values are what they are.
    return { changePct, p: mc === mp ? 1 : 0, ciPct: [changePct, changePct], test: 'exact' };
  }
  const df = (vp + vc) ** 2 / (vp ** 2 / (prev.length - 1) + vc ** 2 / (cur.length - 1));
  const t = (mc - mp) / se;
  const p = Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)));
  const q = tQuantile(1 - (1 - confidence) / 2, df);
  const toPct = (d: number) => (d / Math.abs(mp)) * 100;
  return { changePct, p, ciPct: [toPct(mc - mp - q * se), toPct(mc - mp + q * se)], test: 'welch' };
}

function resampleMean(xs: readonly number[], r: () => number): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[Math.floor(r() * xs.length)]!;
  return s / xs.length;
}

/**
 * Change of the ratio mean(u)/mean(s) from the previous run to the current
 * one, in %, with a percentile bootstrap CI and a two-sided bootstrap p
 * (the share of resampled changes on the other side of 0, doubled).
 */
export function bootstrapRatioChange(
  prev: { stock: readonly number[]; uringlet: readonly number[] },
  cur: { stock: readonly number[]; uringlet: readonly number[] },
  opts: { resamples: number; seed: number; confidence?: number },
): { changePct: number; p: number; ciPct: [number, number]; prevRatio: number; curRatio: number } {
  const ratio = (u: number, s: number) => u / s;
  const prevRatio = ratio(mean(prev.uringlet), mean(prev.stock));
  const curRatio = ratio(mean(cur.uringlet), mean(cur.stock));
  const changePct = pctChange(prevRatio, curRatio);
  const r = rng(opts.seed);
  const d: number[] = [];
  for (let b = 0; b < opts.resamples; b++) {
    const rp = ratio(resampleMean(prev.uringlet, r), resampleMean(prev.stock, r));
    const rc = ratio(resampleMean(cur.uringlet, r), resampleMean(cur.stock, r));
    const x = pctChange(rp, rc);
    if (Number.isFinite(x)) d.push(x);
  }
  if (d.length === 0) return { changePct, p: Number.NaN, ciPct: [Number.NaN, Number.NaN], prevRatio, curRatio };
  d.sort((a, b) => a - b);
  const below = d.filter((x) => x <= 0).length;
  const above = d.filter((x) => x >= 0).length;
  const p = Math.min(1, (2 * (Math.min(below, above) + 1)) / (d.length + 1));
  return { changePct, p, ciPct: percentileInterval(d, opts.confidence ?? 0.95), prevRatio, curRatio };
}

// ---- the trend ------------------------------------------------------------------------

function compKey(c: Pick<MetricComparison, 'point' | 'metric'>): string {
  return `${c.point}\u0000${c.metric}`;
}

function finite(xs: readonly number[] | undefined): number[] {
  return (xs ?? []).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
}

function metricRows(prev: Summary, cur: Summary, settings: TrendSettings, notes: string[]): MetricTrend[] {
  const prevBy = new Map(prev.analysis.comparisons.map((c) => [compKey(c), c]));
  const rows: MetricTrend[] = [];
  const seen = new Set<string>();
  for (const c of cur.analysis.comparisons) {
    const k = compKey(c);
    seen.add(k);
    const p = prevBy.get(k);
    if (p === undefined) {
      if (c.primary) notes.push(`new point/metric tonight (no baseline): ${c.point} ${c.label}`);
      continue;
    }
    const base: MetricIdentity = {
      point: c.point,
      workload: c.workload,
      ...(c.axisValue !== undefined ? { axisValue: c.axisValue } : {}),
      metric: c.metric,
      label: c.label,
      unit: c.unit,
      better: c.better,
      primary: c.primary,
    };
    // Runs of one boot share its state and are not independent: where both nights recorded
    // each boot's mean (primary metrics) with >= 3 boots per kernel, the boots are the samples.
    const pb = p.bootMeans;
    const cb = c.bootMeans;
    const byBoots = pb !== undefined && cb !== undefined && [pb.stock, pb.uringlet, cb.stock, cb.uringlet].every((x) => finite(x).length >= 3);
    const vals = byBoots
      ? { prev: { stock: finite(pb.stock), uringlet: finite(pb.uringlet) }, cur: { stock: finite(cb.stock), uringlet: finite(cb.uringlet) } }
      : { prev: { stock: finite(p.stock.values), uringlet: finite(p.uringlet.values) }, cur: { stock: finite(c.stock.values), uringlet: finite(c.uringlet.values) } };
    const samples = byBoots ? ('boots' as const) : ('runs' as const);
    for (const series of ['stock', 'uringlet'] as const) {
      const a = vals.prev[series];
      const b = vals.cur[series];
      const row: MetricTrend = {
        key: `${c.point} ${c.metric} ${series}`,
        ...base,
        series,
        samples,
        previous: side(a),
        current: side(b),
        changePct: pctChange(mean(a), mean(b)),
        gainPct: Number.NaN,
        p: Number.NaN,
        pAdj: Number.NaN,
        test: 'none',
        ciPct: undefined,
        verdict: 'insufficient',
        failsExit: false,
        reasons: [],
      };
      if (a.length >= 3 && b.length >= 3) {
        const w = welchChange(a, b);
        row.p = w.p;
        row.ciPct = w.ciPct;
        row.test = w.test;
      }
      rows.push(row);
    }
    const ratioRow: MetricTrend = {
      key: `${c.point} ${c.metric} ratio`,
      ...base,
      series: 'ratio',
      samples,
      previous: { n: Math.min(vals.prev.stock.length, vals.prev.uringlet.length), mean: mean(vals.prev.uringlet) / mean(vals.prev.stock), stddev: Number.NaN },
      current: { n: Math.min(vals.cur.stock.length, vals.cur.uringlet.length), mean: mean(vals.cur.uringlet) / mean(vals.cur.stock), stddev: Number.NaN },
      changePct: Number.NaN,
      gainPct: Number.NaN,
      p: Number.NaN,
      pAdj: Number.NaN,
      test: 'none',
      ciPct: undefined,
      verdict: 'insufficient',
      failsExit: false,
      reasons: [],
      compareVerdict: { previous: p.verdict, current: c.verdict },
    };
    ratioRow.changePct = pctChange(ratioRow.previous.mean, ratioRow.current.mean);
    if ([vals.prev.stock, vals.prev.uringlet, vals.cur.stock, vals.cur.uringlet].every((x) => x.length >= 3)) {
      const b = bootstrapRatioChange(vals.prev, vals.cur, { resamples: settings.bootstrapResamples, seed: hashSeed(ratioRow.key) });
      ratioRow.p = b.p;
      ratioRow.ciPct = b.ciPct;
      ratioRow.test = 'bootstrap';
    }
    rows.push(ratioRow);
  }
  for (const p of prev.analysis.comparisons) {
    if (p.primary && !seen.has(compKey(p))) notes.push(`measured last night but not tonight: ${p.point} ${p.label}`);
  }
  for (const r of rows) r.gainPct = r.better === 'higher' ? r.changePct : -r.changePct;

  for (const family of [rows.filter((r) => r.primary), rows.filter((r) => !r.primary)]) {
    const adj = adjustP(
      family.map((r) => r.p),
      'bh',
    );
    family.forEach((r, i) => (r.pAdj = adj[i]!));
  }
  for (const r of rows) r.verdict = decideTrend(r, settings);
  return rows;
}

export function decideTrend(r: MetricTrend, s: Pick<TrendSettings, 'alpha' | 'thresholdPct'>): TrendVerdict {
  const reasons: string[] = [];
  r.reasons = reasons;
  if (r.test === 'none' || Number.isNaN(r.pAdj)) {
    reasons.push(`not enough values for a verdict (last night ${r.previous.n}, tonight ${r.current.n}; need >= 3 per kernel and night)`);
    return 'insufficient';
  }
  const size = Math.abs(r.changePct);
  const significant = r.pAdj < s.alpha;
  const large = size >= s.thresholdPct;
  reasons.push(`p(adj) ${r.pAdj.toPrecision(2)} ${significant ? '<' : '>='} ${s.alpha}${r.samples === 'boots' ? ' (boot means)' : ''}`);
  reasons.push(`|Δ| ${Number.isFinite(size) ? size.toFixed(1) : 'n/a'}% ${large ? '>=' : '<'} threshold ${s.thresholdPct}%`);
  if (!(significant && large)) return 'no-change';
  return r.gainPct > 0 ? 'improvement' : 'regression';
}

function testState(t: { status: string; fails: number } | undefined, suiteState: 'ran' | 'not-run' | undefined): TestState {
  if (suiteState === undefined) return 'absent';
  if (suiteState === 'not-run') return 'not-run';
  if (t === undefined) return 'absent';
  if (t.fails > 0 || t.status === 'fail') return 'fail';
  return t.status === 'skip' ? 'skip' : 'pass';
}

/** Per (suite, variant, arm, test) state on both nights. */
export function testTrends(prev: readonly TestSuiteResult[], cur: readonly TestSuiteResult[]): TestTrend[] {
  type Cell = { suiteState: 'ran' | 'not-run'; tests: Map<string, { status: string; fails: number }> };
  const index = (suites: readonly TestSuiteResult[]) => {
    const m = new Map<string, Cell>();
    for (const s of suites) {
      const k = `${s.suite}\u0000${s.variant}\u0000${s.arm}`;
      const cell = m.get(k) ?? { suiteState: s.state, tests: new Map() };
      if (s.state === 'ran') cell.suiteState = 'ran';
      for (const t of s.tests) {
        const old = cell.tests.get(t.name);
        // several runs of a suite (boots) fold into one: any failure is a failure
        cell.tests.set(t.name, old === undefined ? { status: t.status, fails: t.fails } : { status: old.fails + t.fails > 0 ? 'fail' : old.status, fails: old.fails + t.fails });
      }
      m.set(k, cell);
    }
    return m;
  };
  const p = index(prev);
  const c = index(cur);
  const out: TestTrend[] = [];
  for (const k of [...new Set([...p.keys(), ...c.keys()])].sort()) {
    const [suite, variant, arm] = k.split('\u0000') as [string, string, string];
    const pc = p.get(k);
    const cc = c.get(k);
    const names = [...new Set([...(pc?.tests.keys() ?? []), ...(cc?.tests.keys() ?? [])])].sort();
    for (const name of names) {
      const ps = testState(pc?.tests.get(name), pc?.suiteState);
      const cs = testState(cc?.tests.get(name), cc?.suiteState);
      let change: TestTrend['change'] = 'same';
      if (ps === 'pass' && cs === 'fail') change = 'new-failure';
      else if (ps === 'fail' && cs === 'fail') change = 'still-failing';
      else if (ps === 'fail' && cs === 'pass') change = 'fixed';
      else if ((ps === 'pass' || ps === 'fail') && (cs === 'absent' || cs === 'not-run')) change = 'missing';
      else if ((ps === 'absent' || ps === 'not-run') && cs === 'fail') change = 'new-failure';
      else if (ps === 'absent' || ps === 'not-run') change = 'new';
      out.push({ suite, variant, arm, name, previous: ps, current: cs, change });
    }
  }
  return out;
}

/** Which rows fail the exit, and why (see the header comment). */
export function decideExit(metrics: MetricTrend[], tests: TestTrend[], notes: string[]): { exitCode: 0 | 1; reasons: string[] } {
  const reasons: string[] = [];
  const byPointMetric = (r: MetricTrend, s: Series) => metrics.find((x) => x.point === r.point && x.metric === r.metric && x.series === s);
  for (const r of metrics) {
    if (!r.primary || r.verdict !== 'regression') continue;
    if (r.series === 'ratio') {
      r.failsExit = true;
      reasons.push(`uringlet/stock ${r.label} ratio at ${r.point} fell ${fmtPct(r.changePct)} (${fmtNum(r.previous.mean)} -> ${fmtNum(r.current.mean)}, p(adj) ${r.pAdj.toPrecision(2)})`);
    } else if (r.series === 'uringlet') {
      const stock = byPointMetric(r, 'stock');
      if (stock?.verdict === 'regression') {
        r.reasons.push('stock regressed too: the host or the base changed; the ratio decides');
        notes.push(`${r.point} ${r.label}: uringlet ${fmtPct(r.changePct)} and stock ${fmtPct(stock.changePct)} both worse tonight: the machine or the base changed`);
      } else {
        r.failsExit = true;
        reasons.push(`uringlet ${r.label} at ${r.point} ${fmtPct(r.changePct)} (${fmtNum(r.previous.mean)} -> ${fmtNum(r.current.mean)} ${r.unit}, p(adj) ${r.pAdj.toPrecision(2)}) while stock did not regress`);
      }
    } else {
      notes.push(`stock ${r.label} at ${r.point} ${fmtPct(r.changePct)}: the stock kernel did not change, so the host (or the Debian base) did`);
    }
  }
  const newFails = tests.filter((t) => t.change === 'new-failure' && t.previous === 'pass');
  if (newFails.length > 0) {
    reasons.push(`${newFails.length} test(s) passed last night and fail tonight: ${newFails.slice(0, 5).map((t) => `${t.suite}/${t.name} on ${t.variant}/${t.arm}`).join(', ')}${newFails.length > 5 ? ', ...' : ''}`);
  }
  const brandNew = tests.filter((t) => t.change === 'new-failure' && t.previous !== 'pass');
  if (brandNew.length > 0) notes.push(`${brandNew.length} test(s) fail tonight without a result last night: ${brandNew.slice(0, 5).map((t) => `${t.suite}/${t.name} on ${t.variant}/${t.arm}`).join(', ')}`);
  const missing = tests.filter((t) => t.change === 'missing');
  if (missing.length > 0) notes.push(`${missing.length} test(s) ran last night and not tonight (suite not run or test gone): ${missing.slice(0, 5).map((t) => `${t.suite}/${t.name}`).join(', ')}`);
  return { exitCode: reasons.length > 0 ? 1 : 0, reasons };
}

export function computeTrend(prev: LoadedRun, cur: LoadedRun, settings: TrendSettings = defaultSettings, now = new Date()): TrendReport {
  const bad = incompatibility(prev, cur);
  if (bad.length > 0) throw new UserError(`runs ${prev.summary.runId} and ${cur.summary.runId} cannot be compared`, { details: bad });
  const notes: string[] = [];
  if (prev.summary.host.cpuModel !== cur.summary.host.cpuModel || prev.summary.host.cpus !== cur.summary.host.cpus) {
    notes.push(`different host: ${prev.summary.host.cpuModel} (${prev.summary.host.cpus} CPUs) last night, ${cur.summary.host.cpuModel} (${cur.summary.host.cpus} CPUs) tonight`);
  }
  if (!cur.summary.complete) notes.push('tonight\'s run is incomplete');
  for (const f of cur.summary.kernelFailures) notes.push(`kernel failure tonight on ${f.variant}/${f.arm} boot ${f.boot}: ${f.type}: ${f.title}`);
  const metrics = metricRows(prev.summary, cur.summary, settings, notes);
  const tests = testTrends(prev.summary.tests, cur.summary.tests);
  const { exitCode, reasons } = decideExit(metrics, tests, notes);
  return {
    schema: trendSchema,
    generatedAt: now.toISOString(),
    previous: runRef(prev),
    current: runRef(cur),
    settings,
    metrics,
    tests,
    notes,
    exitCode,
    exitReasons: reasons,
  };
}

// ---- rendering ------------------------------------------------------------------------

const mark: Record<TrendVerdict, string> = {
  regression: '▼ WORSE',
  improvement: '▲ better',
  'no-change': '~',
  insufficient: '?',
};

function ciCell(r: MetricTrend): string {
  return r.ciPct === undefined || !Number.isFinite(r.ciPct[0]) ? '—' : `[${fmtPct(r.ciPct[0])}, ${fmtPct(r.ciPct[1])}]`;
}

function verdictCell(r: MetricTrend): string {
  return `${mark[r.verdict]}${r.failsExit ? ' **FAIL**' : ''}`;
}

export function renderTrendMarkdown(t: TrendReport): string {
  const out: string[] = [];
  const w = (l = '') => out.push(l);
  w(`# Trend: ${t.current.runId} against ${t.previous.runId}`);
  w();
  w(`**Exit code ${t.exitCode}**: ${t.exitReasons.join('; ') || 'no significant regression, no newly failing test'}`);
  w();
  w(
    `Profile \`${t.current.profile}\`, accelerator ${t.current.accelerator ?? 'unknown'}. Last night ${t.previous.startedAt} (compare exit ${t.previous.exitCode}), tonight ${t.current.startedAt} (compare exit ${t.current.exitCode}). ` +
      `A change is marked only when p, Benjamini-Hochberg adjusted (primary metrics; others separately), is < ${t.settings.alpha} and |change| ≥ ${t.settings.thresholdPct}%: ` +
      `Welch's t-test on each kernel's values, a bootstrap (${t.settings.bootstrapResamples} resamples) for the uringlet/stock ratio; the values are each boot's mean for primary metrics (runs of one boot are not independent), single runs for the others. ` +
      `Only primary metrics (★) decide the exit code; a change of stock alone means the machine or the base changed.`,
  );
  w();
  if (t.notes.length > 0) {
    for (const n of t.notes) w(`- ${n}`);
    w();
  }
  const flagged = t.metrics.filter((r) => r.verdict === 'regression' || r.verdict === 'improvement');
  w(`## Significant changes (${flagged.length})`);
  w();
  if (flagged.length === 0) w('None: every difference is within the spread of the two runs or below the threshold.');
  else {
    w('| point | metric | series | last night | tonight | change | 95% CI | p(adj) | verdict |');
    w('|---|---|---|---|---|---|---|---|---|');
    for (const r of flagged.sort((a, b) => Number(b.failsExit) - Number(a.failsExit) || a.gainPct - b.gainPct)) {
      w(`| ${r.point} | ${r.label}${r.primary ? ' ★' : ''} | ${r.series} | ${fmtNum(r.previous.mean)} | ${fmtNum(r.current.mean)} | **${fmtPct(r.changePct)}** | ${ciCell(r)} | ${r.pAdj.toPrecision(2)} | ${verdictCell(r)} |`);
    }
  }
  w();
  w('## Functional tests');
  w();
  const changed = t.tests.filter((x) => x.change !== 'same');
  const ran = t.tests.filter((x) => x.current === 'pass' || x.current === 'fail');
  w(`${ran.length} test results tonight, ${ran.filter((x) => x.current === 'fail').length} failing; ${changed.length} changed since last night.`);
  if (changed.length > 0) {
    w();
    w('| suite | test | kernel | last night | tonight | change |');
    w('|---|---|---|---|---|---|');
    for (const x of changed) w(`| ${x.suite} | ${x.name} | ${x.variant}/${x.arm} | ${x.previous} | ${x.current} | ${x.change === 'new-failure' ? '**NEW FAILURE**' : x.change} |`);
  }
  w();
  w('## Primary metrics');
  w();
  w('| point | metric | series | last night ±sd (n) | tonight ±sd (n) | change | 95% CI | p(adj) | verdict |');
  w('|---|---|---|---|---|---|---|---|---|');
  const sd = (s: SideStats, series: Series) => (series === 'ratio' ? `${fmtNum(s.mean)} (${s.n})` : `${fmtNum(s.mean)} ±${fmtNum(s.stddev)} (${s.n})`);
  for (const r of t.metrics.filter((x) => x.primary)) {
    w(`| ${r.point} | ${r.label}${r.series === 'ratio' ? ' (u/s)' : r.unit !== r.label ? ` (${r.unit})` : ''} | ${r.series} | ${sd(r.previous, r.series)} | ${sd(r.current, r.series)} | ${fmtPct(r.changePct)} | ${ciCell(r)} | ${Number.isFinite(r.pAdj) ? r.pAdj.toPrecision(2) : '—'} | ${verdictCell(r)} |`);
  }
  w();
  w(`All ${t.metrics.length} rows (secondary metrics too) with their reasons are in \`trend.json\`.`);
  return out.join('\n') + '\n';
}

export function renderTrendTerminal(t: TrendReport, mdPath: string): string {
  const out = [`uringlet trend ${t.previous.runId} -> ${t.current.runId}: exit ${t.exitCode} — ${t.exitReasons.join('; ') || 'no significant regression, no newly failing test'}`];
  for (const r of t.metrics.filter((x) => x.verdict === 'regression' || x.verdict === 'improvement')) {
    out.push(`  ${r.point.padEnd(38)} ${`${r.label} ${r.series}`.padEnd(22)} ${fmtNum(r.previous.mean).padStart(9)} -> ${fmtNum(r.current.mean).padStart(9)} ${fmtPct(r.changePct).padStart(8)}  ${mark[r.verdict]}${r.failsExit ? ' FAIL' : ''}`);
  }
  for (const n of t.notes) out.push(`  note: ${n}`);
  out.push(`  report: ${mdPath}`);
  return out.join('\n') + '\n';
}

// ---- history --------------------------------------------------------------------------

/** Finished runs (directories with a summary.json) under root, oldest first. Unreadable ones are skipped with a note. */
export function listHistory(root: string, notes: string[] = []): LoadedRun[] {
  const r = resolve(root);
  if (!existsSync(r) || !statSync(r).isDirectory()) throw new UserError(`history directory ${r} does not exist`);
  const out: LoadedRun[] = [];
  for (const d of readdirSync(r, { withFileTypes: true })) {
    if (!d.isDirectory() || d.name.endsWith('.partial') || d.name.startsWith('.')) continue;
    if (!existsSync(join(r, d.name, 'summary.json'))) continue;
    try {
      out.push(loadRun(join(r, d.name)));
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      notes.push(`skipped ${d.name}: ${e.message}`);
    }
  }
  return out.sort((a, b) => a.summary.startedAt.localeCompare(b.summary.startedAt) || a.summary.runId.localeCompare(b.summary.runId));
}

/** The newest run in history started before `cur` (same profile and accelerator), excluding cur itself. */
export function previousOf(history: LoadedRun[], cur: LoadedRun): LoadedRun | undefined {
  return history
    .filter((h) => h.summary.runId !== cur.summary.runId && h.summary.startedAt < cur.summary.startedAt && incompatibility(h, cur).length === 0)
    .at(-1);
}

export interface HistoryPoint {
  runId: string;
  startedAt: string;
  stock: number;
  uringlet: number;
  ratio: number;
  verdict: Verdict;
}

export interface HistorySeries {
  point: string;
  metric: string;
  label: string;
  unit: string;
  primary: boolean;
  runs: (HistoryPoint | null)[];
}

/** Per point and metric, the means of the last `last` runs (null where a run did not measure it). */
export function historySeries(runs: LoadedRun[], opts: { last: number; allMetrics?: boolean; filter?: string }): { runs: RunRef[]; series: HistorySeries[] } {
  const picked = runs.slice(-opts.last);
  const keys = new Map<string, { point: string; metric: string; label: string; unit: string; primary: boolean }>();
  for (const r of picked) {
    for (const c of r.summary.analysis.comparisons) {
      if (!opts.allMetrics && !c.primary) continue;
      if (opts.filter !== undefined && !`${c.point} ${c.metric}`.includes(opts.filter)) continue;
      keys.set(compKey(c), { point: c.point, metric: c.metric, label: c.label, unit: c.unit, primary: c.primary });
    }
  }
  const series: HistorySeries[] = [...keys.entries()].map(([k, info]) => ({
    ...info,
    runs: picked.map((r) => {
      const c = r.summary.analysis.comparisons.find((x) => compKey(x) === k);
      if (c === undefined || c.stock.n === 0 || c.uringlet.n === 0) return null;
      return { runId: r.summary.runId, startedAt: r.summary.startedAt, stock: c.stock.mean, uringlet: c.uringlet.mean, ratio: c.uringlet.mean / c.stock.mean, verdict: c.verdict };
    }),
  }));
  return { runs: picked.map(runRef), series };
}

export function renderHistory(h: { runs: RunRef[]; series: HistorySeries[] }): string {
  const out: string[] = [];
  out.push(`# History: last ${h.runs.length} runs`);
  out.push('');
  h.runs.forEach((r, i) => out.push(`${i + 1}. ${r.runId} (${r.profile}, ${r.accelerator ?? '?'}, compare exit ${r.exitCode})`));
  out.push('');
  out.push('Cells: uringlet/stock ratio (uringlet mean; stock mean); — = not measured.');
  out.push('');
  out.push(`| point | metric | ${h.runs.map((_, i) => `#${i + 1}`).join(' | ')} |`);
  out.push(`|---|---|${h.runs.map(() => '---').join('|')}|`);
  for (const s of h.series) {
    const cells = s.runs.map((p) => (p === null ? '—' : `${p.ratio.toFixed(2)} (${fmtNum(p.uringlet)}; ${fmtNum(p.stock)})`));
    out.push(`| ${s.point} | ${s.label}${s.primary ? ' ★' : ''} | ${cells.join(' | ')} |`);
  }
  return out.join('\n') + '\n';
}
