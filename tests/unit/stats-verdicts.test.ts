// The decision rule of compare.ts: significant AND above the practical
// threshold AND above the A/A floor; n < 3 is "insufficient".
import test from 'ava';
import { analyze, failingRegressions, noiseFloors, type PointInfo, type RunRecord, type Arm } from '../../scripts/lib/compare.ts';
import { histogramToJson } from '../../scripts/lib/fio.ts';

const opts = { alpha: 0.05, correction: 'bh' as const, practicalThresholdPct: 5, aa: 'split' as const, variant: 'default' };
const pt = (key: string, extra: Partial<PointInfo> = {}): PointInfo => ({ key, workload: key.split('@')[0]!, title: key, primary: 'iops', ...extra });

/** values[arm] = per-boot lists of run values. */
function recs(point: string, values: Partial<Record<Arm, number[][]>>): RunRecord[] {
  const out: RunRecord[] = [];
  for (const [arm, boots] of Object.entries(values) as [Arm, number[][]][]) {
    boots.forEach((runs, boot) => runs.forEach((v, rep) => out.push({ arm, variant: 'default', boot, rep, point, metrics: { iops: v } })));
  }
  return out;
}

test('a clear, large, consistent win is flagged as an improvement', (t) => {
  const r = recs('w@d=8', { stock: [[100, 101], [99, 100], [102, 98]], uringlet: [[150, 151], [149, 152], [148, 150]] });
  const a = analyze([pt('w@d=8')], r, opts);
  const c = a.comparisons[0]!;
  t.is(c.verdict, 'improvement');
  t.true(c.changePct > 49 && c.changePct < 51);
  t.true(c.pAdj < 0.01);
  t.is(c.test, 'Mann-Whitney U (normal)', 'tied values (100 twice) use the tie-corrected normal approximation');
  t.truthy(c.ciPct);
  t.true(c.ciPct![0] > 40 && c.ciPct![1] < 60);
});

test('a loss is flagged as a regression and fails the exit unless it is a documented known loss', (t) => {
  const r = recs('w@d=1', { stock: [[100, 101], [99, 100], [102, 98]], uringlet: [[60, 61], [59, 62], [58, 60]] });
  const a = analyze([pt('w@d=1')], r, opts);
  t.is(a.comparisons[0]!.verdict, 'regression');
  t.is(failingRegressions(a).length, 1);
  const k = analyze([pt('w@d=1', { knownLoss: 'expected' })], r, opts);
  t.is(k.comparisons[0]!.verdict, 'regression', 'a known loss is still reported as a regression');
  t.is(failingRegressions(k).length, 0);
});

test('fewer than 3 samples per kernel is "insufficient", never a verdict', (t) => {
  const r = recs('w@d=1', { stock: [[100], [101]], uringlet: [[200], [201]] });
  const c = analyze([pt('w@d=1')], r, opts).comparisons[0]!;
  t.is(c.verdict, 'insufficient');
  t.regex(c.reasons[0]!, /insufficient samples \(stock 2, uringlet 2/);
});

test('a change inside the A/A noise floor is not flagged', (t) => {
  // Stock boots disagree by ~30%: a 20% difference is not a result.
  const r = recs('w@d=1', { stock: [[100, 101], [130, 131], [100, 99], [131, 129]], uringlet: [[140, 141], [139, 142], [141, 140], [142, 139]] });
  const c = analyze([pt('w@d=1')], r, opts).comparisons[0]!;
  t.true(c.pAdj < 0.05);
  t.true(c.noiseFloorPct! > 25);
  t.is(c.verdict, 'no-change');
  t.true(c.reasons.some((x) => /A\/A floor/.test(x) && /<=/.test(x)));
});

test('a significant change below the practical threshold is not flagged', (t) => {
  const r = recs('w@d=1', { stock: [[100, 100.1], [100.2, 100.1], [100, 100.2]], uringlet: [[102, 102.1], [102.2, 102.1], [102, 102.2]] });
  const c = analyze([pt('w@d=1')], r, opts).comparisons[0]!;
  t.true(c.pAdj < 0.05);
  t.is(c.verdict, 'no-change');
  t.true(c.reasons.some((x) => /threshold 5%/.test(x) && /</.test(x)));
});

test('lower-is-better metrics: a latency increase is a regression', (t) => {
  const r: RunRecord[] = recs('p', { stock: [[10, 10.2], [10.1, 9.9], [10, 10.1]], uringlet: [[20, 20.2], [20.1, 19.9], [20, 20.1]] }).map((x) => ({
    ...x,
    metrics: { enter_us: x.metrics['iops']! },
    defs: [{ id: 'enter_us', label: 'enter', unit: 'us', better: 'lower' }],
  }));
  const c = analyze([pt('p', { primary: 'enter_us' })], r, opts).comparisons[0]!;
  t.is(c.verdict, 'regression');
  t.true(c.gainPct < 0 && c.changePct > 0);
});

test('a point where every uringlet run failed is "failed", and failures are listed', (t) => {
  const r = [
    ...recs('w@d=1', { stock: [[100, 101], [99, 100], [102, 98]] }),
    ...[0, 1, 2].map((boot): RunRecord => ({ arm: 'uringlet', variant: 'default', boot, rep: 0, point: 'w@d=1', metrics: {}, error: "job 'x' failed: errno 5 (EIO)" })),
  ];
  const a = analyze([pt('w@d=1')], r, opts);
  t.is(a.comparisons[0]!.verdict, 'failed');
  t.is(a.failures.length, 3);
});

test('latency percentiles come from merged histograms, not averaged percentiles', (t) => {
  // Two runs: one all at 100 µs, one all at 1000 µs. Averaging p50s would say 550 µs.
  const h1 = histogramToJson(new Map([[100_000, 1000]]));
  const h2 = histogramToJson(new Map([[1_000_000, 1001]]));
  const r: RunRecord[] = [
    { arm: 'stock', variant: 'default', boot: 0, rep: 0, point: 'w', metrics: { iops: 1 }, hists: { clat: h1 } },
    { arm: 'stock', variant: 'default', boot: 0, rep: 1, point: 'w', metrics: { iops: 1 }, hists: { clat: h2 } },
  ];
  const l = analyze([pt('w')], r, opts).latency.find((x) => x.arm === 'stock')!;
  t.is(l.n, 2001);
  t.is(l.us['50'], 1000);
  t.is(l.us['90'], 1000);
});

test('noise floor pools the metric\'s median A/A change so one lucky pair does not set it to ~0', (t) => {
  const f = noiseFloors([
    { point: 'a', metric: 'iops', changePct: 0.1, p: 1, n: [2, 2] },
    { point: 'b', metric: 'iops', changePct: -8, p: 1, n: [2, 2] },
    { point: 'c', metric: 'iops', changePct: 6, p: 1, n: [2, 2] },
  ]);
  t.is(f.get('a\u0000iops'), 6);
  t.is(f.get('b\u0000iops'), 8);
});

test('A/A "extra" mode compares the second stock arm', (t) => {
  const r = recs('w', { stock: [[100, 100], [100, 100], [100, 100]], 'stock-aa': [[110, 110], [110, 110], [110, 110]], uringlet: [[100, 100], [100, 100], [100, 100]] });
  const a = analyze([pt('w')], r, { ...opts, aa: 'extra' });
  t.is(a.aa.length, 1);
  t.true(Math.abs(a.aa[0]!.changePct - 10) < 1e-9);
});

test('p-values are adjusted within two families: primary metrics, and the rest', (t) => {
  // Point A: primary iops clearly different; 20 secondary metrics with no difference.
  const r: RunRecord[] = recs('a', { stock: [[100, 101], [99, 102], [98, 103]], uringlet: [[150, 151], [149, 152], [148, 153]] }).map((x) => {
    const metrics: Record<string, number> = { iops: x.metrics['iops']! };
    for (let i = 0; i < 20; i++) metrics[`m${i}`] = 10 + ((x.rep + x.boot) % 3);
    return { ...x, metrics, defs: [{ id: 'iops', label: 'IOPS', unit: 'IOPS', better: 'higher' as const }, ...Array.from({ length: 20 }, (_, i) => ({ id: `m${i}`, label: `m${i}`, unit: 'x', better: 'lower' as const }))] };
  });
  const a = analyze([pt('a')], r, opts);
  const iops = a.comparisons.find((c) => c.metric === 'iops')!;
  t.is(iops.pAdj, iops.p, 'a family of one primary comparison is not diluted by 20 secondary ones');
  t.is(iops.verdict, 'improvement');
});

test('without an A/A floor (one stock boot) even a huge change gets no verdict', (t) => {
  const r = recs('w@d=1', { stock: [[100, 101, 99, 102]], uringlet: [[10, 11, 9, 12]] });
  const c = analyze([pt('w@d=1')], r, opts).comparisons[0]!;
  t.is(c.noiseFloorPct, undefined);
  t.is(c.verdict, 'insufficient');
  t.regex(c.reasons[0]!, /no A\/A noise floor/);
});

test('runs of one boot are not independent: a per-run significant change needs the boots to agree as well', (t) => {
  // Three boot pairs at +30 % and one at -20 %: over the 12 runs, Mann-Whitney says p < 0.05,
  // but resampling whole boot pairs, the interval of the change includes 0.
  const stock = [[100, 101, 99], [100, 99, 101], [101, 100, 99], [99, 100, 101]];
  const r = recs('w@d=1', { stock, uringlet: [[130, 131, 129], [131, 130, 129], [129, 130, 131], [80, 81, 79]] });
  const c = analyze([pt('w@d=1')], r, opts).comparisons[0]!;
  t.true(c.pAdj < 0.05, `p(adj) ${c.pAdj}`);
  t.true(c.changePct > 15, String(c.changePct));
  t.truthy(c.bootCiPct);
  t.true(c.bootCiPct![0] < 0 && c.bootCiPct![1] > 0, `CI by boots ${c.bootCiPct}`);
  t.is(c.verdict, 'no-change');
  t.true(c.reasons.some((x) => /CI by boots .* includes 0/.test(x)), c.reasons.join('; '));
  // every boot pair agreeing: the same size of change is an improvement
  const agree = analyze([pt('w@d=1')], recs('w@d=1', { stock, uringlet: [[118, 119, 117], [117, 118, 119], [119, 117, 118], [118, 117, 119]] }), opts).comparisons[0]!;
  t.true(agree.bootCiPct![0] > 0, `CI by boots ${agree.bootCiPct}`);
  t.is(agree.verdict, 'improvement');
});
