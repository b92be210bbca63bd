// uringlet trend: night-to-night regressions with the runs' spread, newly
// failing tests, bad input, the files it writes, history.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { welchT } from '../../scripts/lib/stats.ts';
import type { Summary } from '../../scripts/lib/results.ts';
import {
  bootstrapRatioChange,
  computeTrend,
  defaultSettings,
  historySeries,
  listHistory,
  loadRun,
  previousOf,
  renderTrendMarkdown,
  welchChange,
  type LoadedRun,
  type TrendReport,
} from '../../scripts/lib/trend.ts';
import trendCommand from '../../scripts/commands/trend.ts';
import { depth8, night, writeNight, type NightOptions } from '../fixtures/trend/runs.ts';

const loaded = (s: Summary): LoadedRun => ({ dir: `/results/${s.runId}`, file: `/results/${s.runId}/summary.json`, summary: s });
const mon = (o: Partial<NightOptions> = {}) => night({ runId: 'n1-mon', startedAt: '2026-12-01T01:00:00Z', seed: 1, ...o });
const tue = (o: Partial<NightOptions> = {}) => night({ runId: 'n2-tue', startedAt: '2026-12-02T01:00:00Z', seed: 2, ...o });
const trend = (a: Summary, b: Summary, s = defaultSettings): TrendReport => computeTrend(loaded(a), loaded(b), s);
const row = (t: TrendReport, point: string, metric: string, series: string) => {
  const r = t.metrics.find((x) => x.point === point && x.metric === metric && x.series === series);
  if (r === undefined) throw new Error(`no row ${point} ${metric} ${series}`);
  return r;
};
const uringletAt = (point: string, f: number) => (r: { arm: string; point: string }) => (r.arm === 'uringlet' && r.point === point ? f : 1);

/** Silences the commands' terminal output during a test. */
async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  const werr = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
    process.stderr.write = werr;
  }
}

test('two nights with only noise: every row compared with its spread, nothing flagged, exit 0', (t) => {
  const r = trend(mon(), tue());
  t.is(r.exitCode, 0, r.exitReasons.join('; '));
  t.deepEqual(r.exitReasons, []);
  t.true(r.metrics.length > 20);
  t.is(r.metrics.filter((x) => x.verdict === 'regression' && x.primary).length, 0);
  const s = row(r, depth8, 'iops', 'stock');
  t.is(s.test, 'welch');
  // a primary metric: each night's 3 boot means are the samples, not its 6 runs
  t.is(s.samples, 'boots');
  t.is(s.previous.n, 3);
  const secondary = r.metrics.find((x) => !x.primary && x.series === 'stock' && x.test === 'welch');
  t.is(secondary?.samples, 'runs');
  t.true(s.previous.stddev > 0);
  t.is(row(r, depth8, 'iops', 'ratio').test, 'bootstrap');
  t.deepEqual(row(r, depth8, 'iops', 'ratio').compareVerdict?.current, row(r, depth8, 'iops', 'ratio').compareVerdict?.previous);
});

test('uringlet 20 % slower at one point: ratio and uringlet regress, exit 1 names the point', (t) => {
  const r = trend(mon(), tue({ factor: uringletAt(depth8, 0.8) }));
  t.is(r.exitCode, 1);
  const ratio = row(r, depth8, 'iops', 'ratio');
  t.is(ratio.verdict, 'regression');
  t.true(ratio.failsExit);
  t.true(ratio.changePct < -15 && ratio.changePct > -25, String(ratio.changePct));
  t.true(ratio.pAdj < 0.05);
  t.true(ratio.ciPct![1] < 0, 'the CI of the change excludes 0');
  t.is(row(r, depth8, 'iops', 'uringlet').verdict, 'regression');
  t.not(row(r, depth8, 'iops', 'stock').verdict, 'regression');
  t.regex(r.exitReasons.join('\n'), /rfc-xfs-randwrite@iodepth=8/);
  // other points are untouched
  t.not(row(r, 'rfc-xfs-randwrite@iodepth=1', 'iops', 'ratio').verdict, 'regression');
  const md = renderTrendMarkdown(r);
  t.regex(md, /\*\*Exit code 1\*\*/);
  t.regex(md, /rfc-xfs-randwrite@iodepth=8 \| IOPS ★ \| ratio .*▼ WORSE \*\*FAIL\*\*/);
});

test('a large mean change inside a wide spread is not a regression', (t) => {
  // tonight's depth-8 uringlet boots scatter between 0.5x and 1.2x: mean -15 %, p far above alpha
  const byBoot = [0.5, 1.2, 0.85];
  const cur = tue({ factor: (rec) => (rec.arm === 'uringlet' && rec.point === depth8 ? byBoot[rec.boot % byBoot.length]! : 1) });
  const r = trend(mon(), cur);
  const u = row(r, depth8, 'iops', 'uringlet');
  t.true(u.changePct < -10, `the mean did move: ${u.changePct}`);
  t.true(u.pAdj > 0.05, `p(adj) ${u.pAdj}`);
  t.is(u.verdict, 'no-change');
  t.false(u.failsExit);
  t.not(row(r, depth8, 'iops', 'ratio').verdict, 'regression');
  t.is(r.exitCode, 0, r.exitReasons.join('; '));
});

test('a significant change below the threshold is not a regression; a lower threshold makes it one', (t) => {
  const cur = tue({ factor: uringletAt(depth8, 0.96) });
  const r = trend(mon(), cur);
  const u = row(r, depth8, 'iops', 'ratio');
  t.true(Math.abs(u.changePct) < 5 && Math.abs(u.changePct) > 2, String(u.changePct));
  t.is(u.verdict, 'no-change');
  t.is(r.exitCode, 0);
  const strict = trend(mon(), cur, { ...defaultSettings, thresholdPct: 1 });
  t.is(row(strict, depth8, 'iops', 'ratio').verdict, 'regression');
  t.is(strict.exitCode, 1);
});

test('with fewer than 3 values per night there is no verdict, whatever the change', (t) => {
  const cur = tue({ factor: uringletAt(depth8, 0.5) });
  for (const c of cur.analysis.comparisons) {
    c.uringlet.values = c.uringlet.values.slice(0, 2);
    c.uringlet.n = 2;
    if (c.bootMeans !== undefined) c.bootMeans.uringlet = c.bootMeans.uringlet.slice(0, 1);
  }
  const r = trend(mon(), cur);
  const u = row(r, depth8, 'iops', 'uringlet');
  t.true(u.changePct < -40);
  t.is(u.verdict, 'insufficient');
  t.is(row(r, depth8, 'iops', 'ratio').verdict, 'insufficient');
  t.is(r.exitCode, 0);
});

test('both kernels slower (the host changed): reported, ratio unchanged, exit 0', (t) => {
  const cur = tue({ factor: (rec) => (rec.point === depth8 ? 0.8 : 1) });
  const r = trend(mon(), cur);
  t.is(row(r, depth8, 'iops', 'stock').verdict, 'regression');
  t.is(row(r, depth8, 'iops', 'uringlet').verdict, 'regression');
  t.false(row(r, depth8, 'iops', 'uringlet').failsExit);
  t.not(row(r, depth8, 'iops', 'ratio').verdict, 'regression');
  t.is(r.exitCode, 0, r.exitReasons.join('; '));
  t.regex(r.notes.join('\n'), /machine or the base changed/);
});

test('a test that passed last night and fails tonight fails the exit; a fixed one does not', (t) => {
  const r = trend(mon(), tue({ uringletTestFail: true }));
  t.is(r.exitCode, 1);
  const x = r.tests.find((y) => y.name === 'submitter-never-blocks' && y.arm === 'uringlet');
  t.is(x?.change, 'new-failure');
  t.regex(r.exitReasons.join('\n'), /guest\/submitter-never-blocks on default\/uringlet/);
  t.regex(renderTrendMarkdown(r), /NEW FAILURE/);

  const stock = trend(mon(), tue({ stockTestFail: true }));
  t.is(stock.exitCode, 1, 'a new failure on stock counts too');

  const fixed = trend(mon({ uringletTestFail: true }), tue());
  t.is(fixed.exitCode, 0);
  t.is(fixed.tests.find((y) => y.name === 'submitter-never-blocks' && y.arm === 'uringlet')?.change, 'fixed');

  const still = trend(mon({ uringletTestFail: true }), tue({ uringletTestFail: true }));
  t.is(still.exitCode, 0, 'a known failure is compare\'s business, not a trend');
  t.is(still.tests.find((y) => y.name === 'submitter-never-blocks' && y.arm === 'uringlet')?.change, 'still-failing');
});

test('welchChange agrees with stats.welchT; the ratio bootstrap is reproducible', (t) => {
  const a = [100, 102, 98, 101, 99, 100];
  const b = [90, 93, 88, 91, 92, 89];
  const w = welchChange(a, b);
  t.true(Math.abs(w.p - welchT(b, a).p) < 1e-12);
  t.true(Math.abs(w.changePct - -9.5) < 1e-9);
  t.true(w.ciPct[0] < w.changePct && w.changePct < w.ciPct[1]);
  const prev = { stock: a, uringlet: a.map((x) => x * 1.5) };
  const cur = { stock: a, uringlet: b.map((x) => x * 1.5) };
  const b1 = bootstrapRatioChange(prev, cur, { resamples: 2000, seed: 7 });
  const b2 = bootstrapRatioChange(prev, cur, { resamples: 2000, seed: 7 });
  t.deepEqual(b1, b2);
  t.true(Math.abs(b1.changePct - -9.5) < 1e-9);
  t.true(b1.p < 0.01);
  t.true(b1.ciPct[1] < 0);
});

test('bad input is a UserError naming the file', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'trend-bad-'));
  t.throws(() => loadRun(join(root, 'nope')), { instanceOf: UserError, message: /nope/ });
  mkdirSync(join(root, 'empty'));
  t.throws(() => loadRun(join(root, 'empty')), { instanceOf: UserError, message: /missing .*empty\/summary\.json/ });
  mkdirSync(join(root, 'garbage'));
  writeFileSync(join(root, 'garbage', 'summary.json'), '{ not json');
  t.throws(() => loadRun(join(root, 'garbage')), { instanceOf: UserError, message: /garbage\/summary\.json is not valid JSON/ });
  mkdirSync(join(root, 'future'));
  writeFileSync(join(root, 'future', 'summary.json'), JSON.stringify({ ...mon(), schema: 99 }));
  const e = t.throws(() => loadRun(join(root, 'future')), { instanceOf: UserError, message: /future\/summary\.json/ });
  t.regex(e!.details.join('\n'), /schema is 99/);
  mkdirSync(join(root, 'novalues'));
  const nv = mon();
  const stripped = { ...nv, analysis: { ...nv.analysis, comparisons: nv.analysis.comparisons.map((c) => ({ ...c, stock: { n: c.stock.n, mean: c.stock.mean } })) } };
  writeFileSync(join(root, 'novalues', 'summary.json'), JSON.stringify(stripped));
  const e2 = t.throws(() => loadRun(join(root, 'novalues')), { instanceOf: UserError });
  t.regex(e2!.details.join('\n'), /no per-repetition values/);

  t.throws(() => trend(mon(), tue({ accelerator: 'tcg' })), { instanceOf: UserError, message: /cannot be compared/ });
  t.throws(() => trend(mon(), tue({ profileName: 'nightly' })), { instanceOf: UserError, message: /cannot be compared/ });
});

test('the command writes trend.json and trend.md atomically into the current run and returns the exit code', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'trend-cmd-'));
  const prev = writeNight(root, mon());
  const cur = writeNight(root, tue({ factor: uringletAt(depth8, 0.8) }));
  const code = await quiet(() => trendCommand.run(['--previous', prev, '--current', cur]));
  t.is(code, 1);
  const j = JSON.parse(readFileSync(join(cur, 'trend.json'), 'utf8')) as TrendReport;
  t.is(j.exitCode, 1);
  t.is(j.previous.runId, 'n1-mon');
  t.regex(readFileSync(join(cur, 'trend.md'), 'utf8'), /^# Trend: n2-tue against n1-mon/);
  t.deepEqual(readdirSync(cur).filter((f) => f.endsWith('.tmp')), []);
  t.false(existsSync(join(prev, 'trend.json')), 'nothing is written into the previous run');

  const ok = writeNight(root, night({ runId: 'n3-wed', startedAt: '2026-12-03T01:00:00Z', seed: 3 }));
  t.is(await quiet(() => trendCommand.run(['--previous', prev, '--current', ok, '--threshold', '5'])), 0);

  await t.throwsAsync(quiet(() => trendCommand.run(['--previous', join(root, 'missing'), '--current', cur])), { instanceOf: UserError, message: /missing/ });
  await t.throwsAsync(quiet(() => trendCommand.run(['--current', cur])), { instanceOf: UserError });
  await t.throwsAsync(quiet(() => trendCommand.run(['--previous', prev, '--current', cur, '--threshold', 'x'])), { instanceOf: UserError });
});

test('--history with --current takes the newest earlier compatible run; the first night exits 0', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'trend-hist-'));
  const first = writeNight(root, mon());
  t.is(await quiet(() => trendCommand.run(['--history', root, '--current', first])), 0);
  t.false(existsSync(join(first, 'trend.json')));

  writeNight(root, night({ runId: 'n0-tcg', startedAt: '2026-12-01T12:00:00Z', seed: 9, accelerator: 'tcg' }));
  mkdirSync(join(root, 'n1b-broken.partial'));
  const cur = writeNight(root, tue({ uringletTestFail: true }));
  const hist = listHistory(root);
  t.deepEqual(
    hist.map((h) => h.summary.runId),
    ['n1-mon', 'n0-tcg', 'n2-tue'],
  );
  t.is(previousOf(hist, loadRun(cur))?.summary.runId, 'n1-mon', 'the TCG night is skipped');
  t.is(await quiet(() => trendCommand.run(['--history', root, '--current', cur])), 1);
  const j = JSON.parse(readFileSync(join(cur, 'trend.json'), 'utf8')) as TrendReport;
  t.is(j.previous.runId, 'n1-mon');
  t.true(existsSync(join(cur, 'trend-history.md')));
});

test('history series: the last N runs, one row per point and primary metric', (t) => {
  const runs = [mon(), tue({ factor: uringletAt(depth8, 0.8) }), night({ runId: 'n3-wed', startedAt: '2026-12-03T01:00:00Z', seed: 3 })].map(loaded);
  const h = historySeries(runs, { last: 2 });
  t.deepEqual(
    h.runs.map((r) => r.runId),
    ['n2-tue', 'n3-wed'],
  );
  const s = h.series.find((x) => x.point === depth8 && x.metric === 'iops');
  t.truthy(s);
  t.true(s!.primary);
  t.true(h.series.every((x) => x.primary));
  const [a, b] = s!.runs;
  t.true(a!.ratio < b!.ratio * 0.9, 'the slow night shows in the series');
  t.true(historySeries(runs, { last: 5, allMetrics: true }).series.length > h.series.length);
});
