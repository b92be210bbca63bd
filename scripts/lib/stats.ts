// Statistics for comparing two kernels. Pure functions, no dependencies,
// checked in tests/unit/stats.test.ts against values computed by SciPy 1.17
// and R's documented examples.

export function sum(xs: readonly number[]): number {
  // Kahan summation: rates of 1e5..1e6 over many samples lose digits otherwise.
  let s = 0;
  let c = 0;
  for (const x of xs) {
    const y = x - c;
    const t = s + y;
    c = t - s - y;
    s = t;
  }
  return s;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : sum(xs) / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Sample standard deviation (n-1 denominator); NaN below two samples. */
export function stddev(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(sum(xs.map((x) => (x - m) ** 2)) / (xs.length - 1));
}

/** Coefficient of variation in percent. */
export function covPct(xs: readonly number[]): number {
  return (stddev(xs) / Math.abs(mean(xs))) * 100;
}

/** (value - base) / base in percent. */
export function pctChange(base: number, value: number): number {
  return ((value - base) / base) * 100;
}

// ---- special functions ---------------------------------------------------------

const lanczos = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = lanczos[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += lanczos[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-16;
const TINY = 1e-300;

/** Regularized upper incomplete gamma Q(a, x). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPre = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // series for P
    let ap = a;
    let del = 1 / a;
    let s = del;
    for (let n = 0; n < 1000; n++) {
      ap += 1;
      del *= x / ap;
      s += del;
      if (Math.abs(del) < Math.abs(s) * EPS) break;
    }
    return 1 - s * Math.exp(lnPre);
  }
  // Lentz continued fraction for Q
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(lnPre) * h;
}

/** Upper tail of the standard normal, P(Z > z). */
export function normalSf(z: number): number {
  // erfc(x) = Q(1/2, x^2) keeps full precision far into the tail.
  const x = z / Math.SQRT2;
  const q = gammaQ(0.5, x * x);
  return x >= 0 ? q / 2 : 1 - q / 2;
}

function betaCf(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaCf(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaCf(b, a, 1 - x)) / b;
}

/** Student t CDF. */
export function tCdf(t: number, df: number): number {
  const tail = incompleteBeta(df / (df + t * t), df / 2, 0.5) / 2;
  return t >= 0 ? 1 - tail : tail;
}

/** Student t quantile (inverse CDF), by bisection: robust and precise enough. */
export function tQuantile(p: number, df: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

// ---- tests -------------------------------------------------------------------------

export interface MannWhitney {
  /** U statistic of the first sample (SciPy's U1). */
  u: number;
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'normal';
}

/** Ranks with ties getting the average rank; also the tie group sizes. */
function rank(xs: readonly number[]): { ranks: number[]; ties: number[] } {
  const idx = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(xs.length);
  const ties: number[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k]![1]] = r;
    if (j > i) ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, ties };
}

/** Number of arrangements of n1 x's and n2 y's for each U (exact null distribution). */
function uDistribution(n1: number, n2: number): number[] {
  // f[i][j][u] by dynamic programming over (n1, n2); only the last row is kept per i.
  const maxU = n1 * n2;
  let prev: number[][] = []; // prev[j] = counts for (i-1, j)
  for (let i = 0; i <= n1; i++) {
    const cur: number[][] = [];
    for (let j = 0; j <= n2; j++) {
      const row = new Array<number>(i * j + 1).fill(0);
      if (i === 0 || j === 0) row[0] = 1;
      else {
        // the largest element is an x (adds j to U) or a y
        const a = prev[j]!;
        const b = cur[j - 1]!;
        for (let u = 0; u < a.length; u++) row[u + j] = (row[u + j] ?? 0) + a[u]!;
        for (let u = 0; u < b.length; u++) row[u] = (row[u] ?? 0) + b[u]!;
      }
      cur.push(row);
    }
    prev = cur;
  }
  const out = prev[n2]!;
  if (out.length !== maxU + 1) throw new Error('uDistribution: internal size mismatch');
  return out;
}

/**
 * Two-sided Mann-Whitney U test. `auto` uses the exact distribution when
 * there are no ties and the samples are small, else the normal approximation
 * with tie and continuity correction (as SciPy's mannwhitneyu).
 */
export function mannWhitneyU(
  a: readonly number[],
  b: readonly number[],
  method: 'auto' | 'exact' | 'normal' = 'auto',
): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, p: Number.NaN, method: 'normal' };
  const { ranks, ties } = rank([...a, ...b]);
  const r1 = sum(ranks.slice(0, n1));
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const uMax = Math.max(u1, u2);
  const useExact = method === 'exact' || (method === 'auto' && ties.length === 0 && n1 + n2 <= 40);
  if (useExact) {
    const dist = uDistribution(n1, n2);
    const total = sum(dist);
    let tail = 0;
    for (let u = Math.ceil(uMax); u < dist.length; u++) tail += dist[u]!;
    return { u: u1, p: Math.min(1, (2 * tail) / total), method: 'exact' };
  }
  const n = n1 + n2;
  const tieTerm = sum(ties.map((t) => t ** 3 - t));
  const s = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (s === 0) return { u: u1, p: 1, method: 'normal' };
  const z = (uMax - (n1 * n2) / 2 - 0.5) / s;
  return { u: u1, p: Math.min(1, 2 * normalSf(z)), method: 'normal' };
}

/** Smallest two-sided p-value an exact Mann-Whitney test can reach with these sizes. */
export function mannWhitneyMinP(n1: number, n2: number): number {
  // two extreme arrangements out of C(n1+n2, n1)
  let c = 1;
  for (let i = 1; i <= n1; i++) c = (c * (n2 + i)) / i;
  return Math.min(1, 2 / c);
}

export interface Welch {
  /** mean(a) - mean(b) */
  diff: number;
  t: number;
  df: number;
  /** Two-sided p-value. */
  p: number;
  /** Confidence interval of diff. */
  ci: [number, number];
}

export function welchT(a: readonly number[], b: readonly number[], confidence = 0.95): Welch {
  const va = stddev(a) ** 2 / a.length;
  const vb = stddev(b) ** 2 / b.length;
  const diff = mean(a) - mean(b);
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const t = diff / se;
  const p = 2 * (1 - tCdf(Math.abs(t), df));
  const q = tQuantile(1 - (1 - confidence) / 2, df);
  return { diff, t, df, p, ci: [diff - q * se, diff + q * se] };
}

/** Confidence interval of the mean (t distribution). */
export function meanCi(xs: readonly number[], confidence = 0.95): [number, number] {
  const m = mean(xs);
  if (xs.length < 2) return [Number.NaN, Number.NaN];
  const h = (tQuantile(1 - (1 - confidence) / 2, xs.length - 1) * stddev(xs)) / Math.sqrt(xs.length);
  return [m - h, m + h];
}

// ---- multiple comparisons ------------------------------------------------------------

export type Correction = 'holm' | 'bh' | 'none';

/** Adjusted p-values in the input order. NaN entries are not part of the family and stay NaN. */
export function adjustP(ps: readonly number[], how: Correction): number[] {
  const idx = ps.map((p, i) => [p, i] as const).filter(([p]) => !Number.isNaN(p));
  const m = idx.length;
  const out = ps.map(() => Number.NaN);
  if (how === 'none') {
    for (const [p, i] of idx) out[i] = p;
    return out;
  }
  idx.sort((x, y) => x[0] - y[0]);
  if (how === 'holm') {
    let run = 0;
    idx.forEach(([p, i], k) => {
      run = Math.max(run, Math.min(1, (m - k) * p));
      out[i] = run;
    });
  } else {
    let run = 1;
    for (let k = m - 1; k >= 0; k--) {
      const [p, i] = idx[k]!;
      run = Math.min(run, Math.min(1, (m / (k + 1)) * p));
      out[i] = run;
    }
  }
  return out;
}

/** mulberry32: small, fast, seedable; good enough for resampling. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** The central `confidence` interval of bootstrap statistics sorted ascending (percentile method). */
export function percentileInterval(sorted: readonly number[], confidence: number): [number, number] {
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(f * sorted.length)))]!;
  return [q((1 - confidence) / 2), q(1 - (1 - confidence) / 2)];
}

/**
 * Percentile bootstrap CI of mean(b) / mean(a) that resamples whole clusters
 * (boots): runs within one boot share its page cache, its TCG translation
 * cache and its host neighbours, so they are not independent, and
 * resampling single runs would give too narrow an interval. Each group is a
 * list of clusters of values; the statistic pools the values of the drawn
 * clusters. `paired`: a[i] and b[i] belong together (a stock boot and the
 * uringlet boot right after it, in an interleaved run) and are drawn
 * together, so that what drifts over the run (the host) cancels out.
 * Undefined with fewer than 2 clusters in either group, or unequal counts
 * when paired.
 */
export function clusterRatioCi(
  a: readonly (readonly number[])[],
  b: readonly (readonly number[])[],
  opts: { resamples?: number; seed?: number; confidence?: number; paired?: boolean } = {},
): [number, number] | undefined {
  const paired = opts.paired === true;
  if (paired && (a.length !== b.length || a.some((c, i) => c.length === 0 || b[i]!.length === 0))) return undefined;
  const ca = paired ? a : a.filter((c) => c.length > 0);
  const cb = paired ? b : b.filter((c) => c.length > 0);
  if (ca.length < 2 || cb.length < 2) return undefined;
  const r = rng(opts.seed ?? 1);
  const pool = (cs: readonly (readonly number[])[], idx: readonly number[]): number => {
    let s = 0;
    let n = 0;
    for (const i of idx) {
      for (const x of cs[i]!) s += x;
      n += cs[i]!.length;
    }
    return s / n;
  };
  const draw = (n: number): number[] => Array.from({ length: n }, () => Math.floor(r() * n));
  const out: number[] = [];
  for (let i = 0; i < (opts.resamples ?? 4000); i++) {
    const ia = draw(ca.length);
    const ib = paired ? ia : draw(cb.length);
    const x = pool(cb, ib) / pool(ca, ia);
    if (Number.isFinite(x)) out.push(x);
  }
  if (out.length === 0) return undefined;
  out.sort((x, y) => x - y);
  return percentileInterval(out, opts.confidence ?? 0.95);
}
