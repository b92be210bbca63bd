// The comparison itself, kept pure: measurement records in, verdicts out.
// Rendering (report.ts, report-html.ts) and running (compare-run.ts) live
// elsewhere, so this can be tested against hand-made records.
//
// A change is flagged only when it is
//   1. measured on >= 3 samples per kernel (else "insufficient"),
//   2. significant: two-sided Mann-Whitney U, p adjusted (BH or Holm) within its family
//      (primary metrics of all points; secondary metrics),
//   3. larger than the profile's practical threshold, and
//   4. larger than the A/A noise floor (stock against stock) of that metric.
import { histogramFromJson, histogramPercentiles, mergeHistograms, type Histogram } from './fio.ts';
import { adjustP, clusterRatioCi, covPct, hashSeed, mannWhitneyU, mannWhitneyMinP, mean, median, pctChange, stddev, welchT, type Correction } from './stats.ts';

export type Better = 'higher' | 'lower';

export interface MetricDef {
  id: string;
  label: string;
  unit: string;
  better: Better;
}

/** Metrics taken from every fio run (per-run values; percentiles from that run's own histogram). */
export const fioMetrics: readonly MetricDef[] = [
  { id: 'iops', label: 'IOPS', unit: 'IOPS', better: 'higher' },
  // total latency (queued to completed): comparable across kernels
  { id: 'lat_p50_us', label: 'lat p50', unit: 'µs', better: 'lower' },
  { id: 'lat_p99_us', label: 'lat p99', unit: 'µs', better: 'lower' },
  // fio's clat starts at the issue time fio stamps after io_uring_enter()
  // returns; completions of an asynchronous submitter race that stamp
  { id: 'clat_p50_us', label: 'clat p50 (fio)', unit: 'µs', better: 'lower' },
  { id: 'clat_p99_us', label: 'clat p99 (fio)', unit: 'µs', better: 'lower' },
  { id: 'fsync_p99_us', label: 'fsync p99', unit: 'µs', better: 'lower' },
  { id: 'cpu_us_per_io', label: 'fio CPU per I/O', unit: 'µs', better: 'lower' },
  { id: 'guest_cpu_us_per_io', label: 'guest CPU per I/O', unit: 'µs', better: 'lower' },
  // wake-ups the hand-offs cost: context switches and IPIs in the guest (guestsched.ts)
  { id: 'guest_ctxsw_per_io', label: 'guest context switches', unit: 'per I/O', better: 'lower' },
  { id: 'guest_ipi_per_io', label: 'guest IPIs', unit: 'per I/O', better: 'lower' },
  // the host, not the kernel under test: how long the vCPU threads waited for a host CPU
  { id: 'host_vcpu_wait_pct', label: 'host: vCPU waiting for a CPU', unit: '%', better: 'lower' },
];

/** Percentiles shown from merged histograms. */
export const mergedPercentiles = [50, 90, 99, 99.9] as const;

/** Arms: the two kernels, plus a second stock arm when the A/A floor is measured with extra boots. */
export type Arm = 'stock' | 'uringlet' | 'stock-aa';

/** One run of one point on one boot. */
export interface RunRecord {
  arm: Arm;
  variant: string;
  /** Boot number within the arm, from 0. */
  boot: number;
  rep: number;
  point: string;
  metrics: Record<string, number>;
  /** Metric definitions declared by a program probe (fio metrics are known). */
  defs?: MetricDef[];
  /** Histograms (JSON form) for merged percentiles: "clat", "lat", "fsync". */
  hists?: Record<string, Record<string, number>>;
  /** Whether the ring ran in uringlet mode, when the workload can tell (probes). */
  uringletActive?: boolean;
  /** Why this run produced no usable numbers. */
  error?: string;
  /** Raw output, relative to the run directory. */
  raw?: string;
}

export interface PointInfo {
  key: string;
  workload: string;
  title: string;
  axisName?: string;
  axisValue?: number;
  primary: string;
  knownLoss?: string;
}

export interface Desc {
  n: number;
  mean: number;
  median: number;
  stddev: number;
  covPct: number;
  min: number;
  max: number;
  values: number[];
}

export type Verdict = 'improvement' | 'regression' | 'no-change' | 'insufficient' | 'failed';

/**
 * Which measurement a row is about and how to read it. One definition so that
 * compare's rows and trend's rows (trend.ts) cannot drift apart.
 */
export interface MetricIdentity {
  point: string;
  workload: string;
  axisValue?: number;
  metric: string;
  label: string;
  unit: string;
  better: Better;
  primary: boolean;
}

export interface MetricComparison extends MetricIdentity {
  stock: Desc;
  uringlet: Desc;
  /** %change of the means, uringlet against stock (LKP convention). */
  changePct: number;
  /** Positive = uringlet better, whatever the metric's direction. */
  gainPct: number;
  p: number;
  pAdj: number;
  test: string;
  /** 95% CI of the difference of means, in % of the stock mean (Welch over runs). */
  ciPct: [number, number] | undefined;
  /**
   * 95% CI of the %change from a bootstrap over whole boots (boot pairs when
   * every boot has its partner), with >= 2 boots per kernel. Runs within a
   * boot are not independent, so the per-run test alone is optimistic: a
   * change counts as significant only if this interval excludes 0 as well.
   */
  bootCiPct?: [number, number];
  /** |%change| of the A/A comparison for this metric, after pooling (see noiseFloors). */
  noiseFloorPct: number | undefined;
  verdict: Verdict;
  /** Why the verdict is what it is (thresholds that were or were not met). */
  reasons: string[];
  knownLoss?: string;
  /**
   * Primary metrics: the mean of each boot's runs, in boot order. A spread
   * between boots far above the spread within them is a per-boot state of
   * the guest or the host, which the CI by boots accounts for and a reader
   * should see.
   */
  bootMeans?: { stock: number[]; uringlet: number[] };
}

/** Pure: each boot's values of `metric` (finite ones), by boot index. */
export function runsByBoot(records: readonly RunRecord[], metric: string): Map<number, number[]> {
  const byBoot = new Map<number, number[]>();
  for (const r of records) {
    const v = r.metrics[metric];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const runs = byBoot.get(r.boot);
    if (runs === undefined) byBoot.set(r.boot, [v]);
    else runs.push(v);
  }
  return byBoot;
}

/**
 * Pure: bootstrap CI (95%) of mean(uringlet) / mean(stock) that resamples
 * whole boots (clusterRatioCi). Boots are interleaved (stock #i, then
 * uringlet #i): the boots both kernels have are drawn in pairs, so that host
 * drift over the run cancels, when there are >= 2; else each kernel's boots
 * on their own. Undefined under 2 boots per kernel.
 */
export function bootRatioCi(
  stock: ReadonlyMap<number, readonly number[]>,
  uringlet: ReadonlyMap<number, readonly number[]>,
  opts: { seed: number; resamples?: number },
): { ci: [number, number]; by: 'boot pairs' | 'boots' } | undefined {
  const pairs = [...stock.keys()].filter((k) => uringlet.has(k)).sort((x, y) => x - y);
  const paired = pairs.length >= 2 ? clusterRatioCi(pairs.map((k) => stock.get(k)!), pairs.map((k) => uringlet.get(k)!), { ...opts, paired: true }) : undefined;
  if (paired !== undefined) return { ci: paired, by: 'boot pairs' };
  const ci = clusterRatioCi([...stock.values()], [...uringlet.values()], opts);
  return ci === undefined ? undefined : { ci, by: 'boots' };
}

/** Pure: bootRatioCi of `metric` as a %change interval. */
export function bootChangeCi(stock: readonly RunRecord[], uringlet: readonly RunRecord[], metric: string, seed: number): [number, number] | undefined {
  const r = bootRatioCi(runsByBoot(stock, metric), runsByBoot(uringlet, metric), { seed, resamples: 2000 });
  return r === undefined ? undefined : [(r.ci[0] - 1) * 100, (r.ci[1] - 1) * 100];
}

/** Pure: the mean of `metric` over each boot's records, in boot order. */
export function bootMeansOf(records: readonly RunRecord[], metric: string): number[] {
  return [...runsByBoot(records, metric).entries()].sort((a, b) => a[0] - b[0]).map(([, xs]) => mean(xs));
}

export interface AaComparison {
  point: string;
  metric: string;
  changePct: number;
  p: number;
  n: [number, number];
}

export interface LatencyPercentiles {
  point: string;
  hist: string;
  arm: Arm;
  n: number;
  /** percentile -> µs, from merged histograms of all runs of the arm. */
  us: Record<string, number>;
}

export interface FailureRow {
  point: string;
  arm: Arm;
  boot: number;
  rep: number;
  error: string;
}

export interface Analysis {
  settings: { alpha: number; correction: Correction; practicalThresholdPct: number; aa: 'split' | 'extra' };
  comparisons: MetricComparison[];
  aa: AaComparison[];
  /** How many A/A comparisons came out "significant" before correction: a check of the method. */
  aaFalsePositives: { significant: number; total: number };
  latency: LatencyPercentiles[];
  failures: FailureRow[];
  /** Smallest p a two-sided exact test can reach with the sample sizes used. */
  minAttainableP: number | undefined;
}

export function describe(xs: readonly number[]): Desc {
  return {
    n: xs.length,
    mean: mean(xs),
    median: median(xs),
    stddev: stddev(xs),
    covPct: covPct(xs),
    min: xs.length ? Math.min(...xs) : Number.NaN,
    max: xs.length ? Math.max(...xs) : Number.NaN,
    values: [...xs],
  };
}

function valuesOf(records: readonly RunRecord[], metric: string): number[] {
  return records.map((r) => r.metrics[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function metricDefsFor(records: readonly RunRecord[]): MetricDef[] {
  const declared = records.find((r) => r.defs !== undefined)?.defs;
  if (declared !== undefined) return declared;
  const present = new Set(records.flatMap((r) => Object.keys(r.metrics)));
  return fioMetrics.filter((m) => present.has(m.id));
}

/** Split the stock arm into two A/A halves: by arm ('extra') or by boot parity ('split'). */
function aaHalves(ok: readonly RunRecord[], point: string, mode: 'split' | 'extra'): [RunRecord[], RunRecord[]] {
  const stock = ok.filter((r) => r.point === point && r.arm === 'stock');
  if (mode === 'extra') return [stock, ok.filter((r) => r.point === point && r.arm === 'stock-aa')];
  return [stock.filter((r) => r.boot % 2 === 0), stock.filter((r) => r.boot % 2 === 1)];
}

export interface AnalyzeOptions {
  alpha: number;
  correction: Correction;
  practicalThresholdPct: number;
  aa: 'split' | 'extra';
  /** Only this variant's records are compared (others are smoke runs). */
  variant: string;
}

export function analyze(points: readonly PointInfo[], records: readonly RunRecord[], opts: AnalyzeOptions): Analysis {
  const mine = records.filter((r) => r.variant === opts.variant);
  const ok = mine.filter((r) => r.error === undefined);
  const failures: FailureRow[] = mine
    .filter((r) => r.error !== undefined)
    .map((r) => ({ point: r.point, arm: r.arm, boot: r.boot, rep: r.rep, error: r.error! }));

  // A/A first: it sets the noise floor.
  const aa: AaComparison[] = [];
  for (const p of points) {
    const [a, b] = aaHalves(ok, p.key, opts.aa);
    for (const m of metricDefsFor([...a, ...b])) {
      const va = valuesOf(a, m.id);
      const vb = valuesOf(b, m.id);
      if (va.length === 0 || vb.length === 0) continue;
      aa.push({ point: p.key, metric: m.id, changePct: pctChange(mean(va), mean(vb)), p: mannWhitneyU(va, vb).p, n: [va.length, vb.length] });
    }
  }
  const floors = noiseFloors(aa);

  const comparisons: MetricComparison[] = [];
  let minP: number | undefined;
  for (const p of points) {
    const recs = ok.filter((r) => r.point === p.key);
    const s = recs.filter((r) => r.arm === 'stock');
    const u = recs.filter((r) => r.arm === 'uringlet');
    for (const m of metricDefsFor(recs)) {
      const vs = valuesOf(s, m.id);
      const vu = valuesOf(u, m.id);
      if (vs.length === 0 && vu.length === 0) continue;
      const changePct = pctChange(mean(vs), mean(vu));
      const gainPct = m.better === 'higher' ? changePct : -changePct;
      const enough = vs.length >= 3 && vu.length >= 3;
      const mw = enough ? mannWhitneyU(vs, vu) : undefined;
      if (enough) {
        const mp = mannWhitneyMinP(vs.length, vu.length);
        minP = minP === undefined ? mp : Math.max(minP, mp);
      }
      let ciPct: [number, number] | undefined;
      if (enough && stddev(vs) + stddev(vu) > 0) {
        const w = welchT(vu, vs);
        ciPct = [(w.ci[0] / mean(vs)) * 100, (w.ci[1] / mean(vs)) * 100];
      }
      const floor = floors.get(`${p.key}\u0000${m.id}`);
      const bootCiPct = enough ? bootChangeCi(s, u, m.id, hashSeed(`${p.key}\u0000${m.id}`)) : undefined;
      comparisons.push({
        point: p.key,
        workload: p.workload,
        ...(p.axisValue !== undefined ? { axisValue: p.axisValue } : {}),
        metric: m.id,
        label: m.label,
        unit: m.unit,
        better: m.better,
        primary: m.id === p.primary,
        stock: describe(vs),
        uringlet: describe(vu),
        changePct,
        gainPct,
        p: mw?.p ?? Number.NaN,
        pAdj: Number.NaN,
        test: mw === undefined ? 'none' : `Mann-Whitney U (${mw.method})`,
        ciPct,
        ...(bootCiPct !== undefined ? { bootCiPct } : {}),
        noiseFloorPct: floor,
        verdict: 'insufficient',
        reasons: [],
        ...(p.knownLoss !== undefined ? { knownLoss: p.knownLoss } : {}),
        ...(m.id === p.primary ? { bootMeans: { stock: bootMeansOf(s, m.id), uringlet: bootMeansOf(u, m.id) } } : {}),
      });
    }
  }

  // Two families: the primary metric of each point (the hypotheses the run is
  // for) and all secondary metrics; each corrected for its own size.
  for (const family of [comparisons.filter((c) => c.primary), comparisons.filter((c) => !c.primary)]) {
    const adj = adjustP(
      family.map((c) => c.p),
      opts.correction,
    );
    family.forEach((c, i) => (c.pAdj = adj[i]!));
  }
  for (const c of comparisons) c.verdict = decide(c, opts);
  // Points where a kernel produced no usable run at all are failures, not "insufficient".
  for (const p of points) {
    for (const arm of ['stock', 'uringlet'] as const) {
      const any = mine.some((r) => r.point === p.key && r.arm === arm);
      const good = ok.some((r) => r.point === p.key && r.arm === arm);
      if (any && !good) for (const c of comparisons.filter((x) => x.point === p.key)) c.verdict = 'failed';
    }
  }

  const latency: LatencyPercentiles[] = [];
  for (const p of points) {
    for (const arm of ['stock', 'uringlet', 'stock-aa'] as const) {
      const recs = ok.filter((r) => r.point === p.key && r.arm === arm && r.hists !== undefined);
      for (const name of [...new Set(recs.flatMap((r) => Object.keys(r.hists ?? {})))].sort()) {
        const merged: Histogram = mergeHistograms(recs.map((r) => histogramFromJson(r.hists?.[name] ?? {})));
        let n = 0;
        for (const v of merged.values()) n += v;
        if (n === 0) continue;
        const vals = histogramPercentiles(merged, mergedPercentiles);
        const us: Record<string, number> = {};
        mergedPercentiles.forEach((q, i) => (us[String(q)] = vals[i]! / 1000));
        latency.push({ point: p.key, hist: name, arm, n, us });
      }
    }
  }

  return {
    settings: { alpha: opts.alpha, correction: opts.correction, practicalThresholdPct: opts.practicalThresholdPct, aa: opts.aa },
    comparisons,
    aa,
    aaFalsePositives: { significant: aa.filter((x) => x.p < opts.alpha).length, total: aa.filter((x) => !Number.isNaN(x.p)).length },
    latency,
    failures,
    minAttainableP: minP,
  };
}

/**
 * Noise floor per (point, metric): the larger of that point's own A/A
 * |%change| and the median A/A |%change| of the same metric over all points.
 * A single A/A pair is itself noisy; pooling keeps one lucky pair from
 * setting a floor of ~0.
 */
export function noiseFloors(aa: readonly AaComparison[]): Map<string, number> {
  const byMetric = new Map<string, number[]>();
  for (const x of aa) {
    if (!Number.isFinite(x.changePct)) continue;
    const l = byMetric.get(x.metric) ?? [];
    l.push(Math.abs(x.changePct));
    byMetric.set(x.metric, l);
  }
  const out = new Map<string, number>();
  for (const x of aa) {
    if (!Number.isFinite(x.changePct)) continue;
    out.set(`${x.point}\u0000${x.metric}`, Math.max(Math.abs(x.changePct), median(byMetric.get(x.metric) ?? [])));
  }
  return out;
}

function fmt(x: number, d = 1): string {
  return Number.isFinite(x) ? x.toFixed(d) : 'n/a';
}

export function decide(c: MetricComparison, opts: Pick<AnalyzeOptions, 'alpha' | 'practicalThresholdPct'>): Verdict {
  const reasons: string[] = [];
  c.reasons = reasons;
  if (c.stock.n < 3 || c.uringlet.n < 3) {
    reasons.push(`insufficient samples (stock ${c.stock.n}, uringlet ${c.uringlet.n}; need >= 3 each)`);
    return 'insufficient';
  }
  if (c.noiseFloorPct === undefined) {
    reasons.push('no A/A noise floor for this metric (needs >= 2 stock boots, or an A/A arm): cannot tell a change from boot-to-boot noise');
    return 'insufficient';
  }
  const size = Math.abs(c.changePct);
  const byRuns = c.pAdj < opts.alpha;
  // Runs of one boot share its state: the boots must agree too.
  const byBoots = c.bootCiPct === undefined || c.bootCiPct[0] > 0 || c.bootCiPct[1] < 0;
  const significant = byRuns && byBoots;
  const practical = size >= opts.practicalThresholdPct;
  const aboveFloor = size > c.noiseFloorPct;
  reasons.push(`p(adj) ${c.pAdj.toPrecision(2)} ${byRuns ? '<' : '>='} ${opts.alpha}`);
  if (c.bootCiPct !== undefined) reasons.push(`CI by boots [${fmt(c.bootCiPct[0])}%, ${fmt(c.bootCiPct[1])}%] ${byBoots ? 'excludes' : 'includes'} 0`);
  reasons.push(`|Δ| ${fmt(size)}% ${practical ? '>=' : '<'} threshold ${opts.practicalThresholdPct}%`);
  reasons.push(`|Δ| ${fmt(size)}% ${aboveFloor ? '>' : '<='} A/A floor ${fmt(c.noiseFloorPct)}%`);
  if (!(significant && practical && aboveFloor)) return 'no-change';
  return c.gainPct > 0 ? 'improvement' : 'regression';
}

/** Exit-relevant regressions: flagged losses on a primary metric that are not documented known losses. */
export function failingRegressions(a: Analysis): MetricComparison[] {
  return a.comparisons.filter((c) => c.verdict === 'regression' && c.primary && c.knownLoss === undefined);
}
