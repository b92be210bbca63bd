// Known answers: SciPy 1.17 (scipy.stats.mannwhitneyu / ttest_ind / t / norm /
// false_discovery_control) and R's classic `t.test(extra ~ group, data = sleep)`.
import test from 'ava';
import {
  mean,
  median,
  stddev,
  covPct,
  pctChange,
  mannWhitneyU,
  mannWhitneyMinP,
  welchT,
  meanCi,
  adjustP,
  normalSf,
  tCdf,
  tQuantile,
  clusterRatioCi,
} from '../../scripts/lib/stats.ts';

const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('descriptive statistics', (t) => {
  const x = [10.1, 9.8, 10.4, 10.0, 9.7];
  t.true(close(mean(x), 10.0));
  t.is(median(x), 10.0);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.true(close(stddev(x), 0.2738612787525832));
  t.true(close(covPct(x), 2.738612787525832));
  t.true(Number.isNaN(stddev([1])));
  t.true(Number.isNaN(median([])));
  t.is(pctChange(200, 150), -25);
  t.is(pctChange(100, 146), 46);
});

test('normal and t distributions match SciPy', (t) => {
  t.true(close(normalSf(1.96), 0.024997895148220435, 1e-12));
  t.true(close(normalSf(5), 2.866515718791933e-7, 1e-9));
  t.true(close(normalSf(-1), 0.8413447460685429, 1e-12));
  t.true(close(tCdf(2, 3), 0.9303370157205785, 1e-12));
  t.true(close(tQuantile(0.975, 4), 2.7764451051977934, 1e-9));
  t.true(close(tQuantile(0.975, 17.776473516178488), 2.1028172415698023, 1e-9));
});

test('Mann-Whitney U, SciPy documentation example (males vs females)', (t) => {
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];
  const exact = mannWhitneyU(males, females, 'exact');
  t.is(exact.u, 17);
  t.true(close(exact.p, 0.1111111111111111));
  t.is(mannWhitneyU(males, females).method, 'exact');
  const normal = mannWhitneyU(males, females, 'normal');
  t.true(close(normal.p, 0.11134688653314041));
});

test('Mann-Whitney U: ties use the normal approximation with tie correction', (t) => {
  const r = mannWhitneyU([1, 2, 2, 3, 4, 5, 5, 5], [3, 4, 6, 6, 7, 8, 8, 9, 10]);
  t.is(r.method, 'normal');
  t.is(r.u, 8);
  t.true(close(r.p, 0.007793128403577718));
});

test('Mann-Whitney U: exact 8 vs 8 and the floor of small samples', (t) => {
  const a = [102, 98, 110, 105, 99, 101, 107, 104];
  const b = [95, 97, 93, 100, 96, 94, 92, 103];
  const r = mannWhitneyU(a, b);
  t.is(r.u, 58);
  t.true(close(r.p, 0.004662004662004662));
  t.true(close(mannWhitneyU(a, b, 'normal').p, 0.007405533340500268));
  // 4 vs 4 fully separated: the best an exact test can do is 2/70.
  t.true(close(mannWhitneyU([1, 2, 3, 4], [5, 6, 7, 8]).p, 0.02857142857142857));
  t.true(close(mannWhitneyMinP(4, 4), 2 / 70));
  t.true(close(mannWhitneyU([1, 2, 3], [5, 6, 7]).p, 0.1));
  t.true(close(mannWhitneyU([5, 6, 7], [5, 6, 7]).p, 1));
});

test('Welch t-test: R sleep data (t = -1.8608, df = 17.776, p = 0.07939, CI -3.365 .. 0.205)', (t) => {
  const g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
  const w = welchT(g1, g2);
  t.true(close(w.t, -1.8608134674868526));
  t.true(close(w.df, 17.776473516178488));
  t.true(close(w.p, 0.0793941401873583, 1e-9));
  t.true(close(w.ci[0], -3.3654832307117104, 1e-8));
  t.true(close(w.ci[1], 0.20548323071171137, 1e-8));
});

test('confidence interval of a mean', (t) => {
  const [lo, hi] = meanCi([10.1, 9.8, 10.4, 10.0, 9.7]);
  t.true(close(lo, 9.659956309670871, 1e-9));
  t.true(close(hi, 10.340043690329129, 1e-9));
});

test('Holm and Benjamini-Hochberg adjustments (SciPy false_discovery_control, hand-checked Holm)', (t) => {
  const p = [0.01, 0.02, 0.03, 0.04, 0.05, 0.2, 0.001];
  const bh = adjustP(p, 'bh');
  [0.035, 0.04666666666666667, 0.0525, 0.056, 0.05833333333333333, 0.2, 0.007].forEach((v, i) =>
    t.true(close(bh[i]!, v), `bh[${i}]`),
  );
  const holm = adjustP(p, 'holm');
  [0.06, 0.1, 0.12, 0.12, 0.12, 0.2, 0.007].forEach((v, i) => t.true(close(holm[i]!, v), `holm[${i}]`));
  const withNaN = adjustP([0.01, Number.NaN, 0.04], 'holm');
  t.true(close(withNaN[0]!, 0.02));
  t.true(Number.isNaN(withNaN[1]!));
  t.true(close(withNaN[2]!, 0.04));
  t.deepEqual(adjustP([0.3, 0.01], 'none'), [0.3, 0.01]);
});

test('cluster bootstrap CI of a ratio: seeded, contains the ratio, wider when boots disagree', (t) => {
  // identical boots, no spread: the interval is the ratio itself
  t.deepEqual(clusterRatioCi([[10, 10], [10, 10]], [[12, 12], [12, 12]]), [1.2, 1.2]);
  t.is(clusterRatioCi([[10, 11]], [[12], [13]]), undefined, 'one boot is no sample of boots');
  // the same 12 runs per kernel, once spread within boots and once between boots
  const within = [[90, 110, 95, 105], [92, 108, 96, 104], [91, 109, 94, 106]];
  const between = [[90, 91, 92, 90], [100, 101, 99, 100], [110, 109, 108, 110]];
  const u = (g: number[][]) => g.map((c) => c.map((x) => x * 0.9));
  const w = clusterRatioCi(within, u(within), { seed: 7 })!;
  const b = clusterRatioCi(between, u(between), { seed: 7 })!;
  t.deepEqual(clusterRatioCi(between, u(between), { seed: 7 }), b, 'same seed, same interval');
  t.true(w[0] <= 0.9 && 0.9 <= w[1] && b[0] <= 0.9 && 0.9 <= b[1]);
  // the arms draw their boots independently, so disagreeing boots widen the interval
  t.true(b[1] - b[0] > w[1] - w[0], `between-boot spread ${b} wider than within-boot ${w}`);
});

test('paired cluster bootstrap: drift shared by the pairs cancels, the unpaired interval keeps it', (t) => {
  // the host slows down over the run: both kernels' boots follow it, uringlet at 0.9 of stock
  const drift = [100, 90, 80, 70, 60, 50];
  const stock = drift.map((d) => [d, d * 1.01, d * 0.99]);
  const uringlet = drift.map((d) => [d * 0.9, d * 0.91, d * 0.89]);
  const paired = clusterRatioCi(stock, uringlet, { seed: 3, paired: true })!;
  const unpaired = clusterRatioCi(stock, uringlet, { seed: 3 })!;
  t.true(paired[0] > 0.88 && paired[1] < 0.92, `paired ${paired}`);
  t.true(unpaired[0] < 0.8 && unpaired[1] > 1.0, `unpaired ${unpaired}`);
  t.is(clusterRatioCi([[1], [2]], [[1], [2], [3]], { paired: true }), undefined, 'pairs need equal counts');
  t.is(clusterRatioCi([[1], []], [[1], [2]], { paired: true }), undefined, 'and no empty member');
});
