// fio `--output-format=json+` parsing. fio prints notes, job banners and
// error lines on stdout before the JSON (and SIGINT adds "terminating on
// signal"), so we locate the JSON object ourselves, keep the text before it,
// and report job errors instead of swallowing them. Latency percentiles for
// several runs come from merged histogram bins, never from averaged
// percentiles.
import { constants as osConstants } from 'node:os';

export type FioDirectionName = 'read' | 'write' | 'trim';
export const fioDirections: readonly FioDirectionName[] = ['read', 'write', 'trim'];

/** Completion-latency histogram: bin value in ns (fio's plat_idx_to_val) -> count. */
export type Histogram = Map<number, number>;

export interface LatencySummary {
  n: number;
  minNs: number;
  maxNs: number;
  meanNs: number;
  stddevNs: number;
  /** fio's own percentiles, keyed like fio ("99.900000"). */
  percentiles: Record<string, number>;
  bins: Histogram;
}

export interface FioDirection {
  ios: number;
  iops: number;
  bwKiBps: number;
  runtimeMs: number;
  clat: LatencySummary;
  /**
   * Total latency, from fio queueing the I/O to its completion; has bins only
   * with --lat_percentiles=1. Unlike clat it does not depend on when fio
   * stamps the issue time, which completions of an asynchronous submitter
   * (SQPOLL, uringlet) can race.
   */
  lat: LatencySummary;
}

export interface FioJob {
  name: string;
  /** errno reported by fio for this job; 0 = ok. */
  error: number;
  /** Human text for a non-zero error (fio's own line when found, else strerror name). */
  errorText: string | undefined;
  options: Record<string, string>;
  runtimeMs: number;
  /** fio process CPU in percent of one CPU over the job runtime. */
  usrCpu: number;
  sysCpu: number;
  ctx: number;
  /** Only directions that did I/O. */
  directions: Partial<Record<FioDirectionName, FioDirection>>;
  /** fsync/fdatasync issued by the job (fsync=N), with their own latency. */
  sync: { ios: number; lat: LatencySummary } | undefined;
}

export interface FioRun {
  version: string;
  jobs: FioJob[];
  /** Non-empty lines printed before the JSON object (notes, banners, errors). */
  preamble: string[];
  /** fio said it was terminated by a signal: the numbers cover a partial run. */
  interrupted: boolean;
}

/** fio output that cannot be used at all. Callers decide the exit code. */
export class FioParseError extends Error {
  constructor(
    message: string,
    readonly excerpt: string[],
  ) {
    super(message);
    this.name = 'FioParseError';
  }
}

function excerptOf(text: string): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length <= 12) return lines;
  return [...lines.slice(0, 6), `... (${lines.length - 12} lines)`, ...lines.slice(-6)];
}

/** Index one past the `}` closing the object that opens at `start`, or -1 if unbalanced. */
function matchObject(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Find fio's top-level JSON object: the first `{` at the start of a line followed by "fio version". */
function locateJson(text: string): { start: number; end: number } {
  const re = /^\{\s*"fio version"/gm;
  const m = re.exec(text);
  if (m === null) {
    throw new FioParseError(
      text.trim() === '' ? 'fio produced no output (killed, or never started)' : 'no fio JSON object in the output',
      excerptOf(text),
    );
  }
  const end = matchObject(text, m.index);
  if (end < 0) throw new FioParseError('fio JSON is truncated (fio killed mid-write?)', excerptOf(text.slice(m.index)));
  return { start: m.index, end };
}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FioParseError(`fio JSON: ${what} is not an object`, []);
  return v as Json;
}

function num(o: Json, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FioParseError(`fio JSON: ${what}.${key} is not a number`, []);
  return v;
}

function optNum(o: Json, key: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function emptyLatency(): LatencySummary {
  return { n: 0, minNs: 0, maxNs: 0, meanNs: 0, stddevNs: 0, percentiles: {}, bins: new Map() };
}

function parseLatency(v: unknown, what: string): LatencySummary {
  const o = obj(v, what);
  const percentiles: Record<string, number> = {};
  const p = o['percentile'];
  if (typeof p === 'object' && p !== null) {
    for (const [k, val] of Object.entries(p as Json)) if (typeof val === 'number') percentiles[k] = val;
  }
  const bins: Histogram = new Map();
  const b = o['bins'];
  if (typeof b === 'object' && b !== null) {
    for (const [k, val] of Object.entries(b as Json)) {
      const key = Number(k);
      if (typeof val === 'number' && Number.isFinite(key) && val > 0) bins.set(key, (bins.get(key) ?? 0) + val);
    }
  }
  return {
    n: optNum(o, 'N'),
    minNs: optNum(o, 'min'),
    maxNs: optNum(o, 'max'),
    meanNs: optNum(o, 'mean'),
    stddevNs: optNum(o, 'stddev'),
    percentiles,
    bins,
  };
}

function parseDirection(v: unknown, what: string): FioDirection | undefined {
  const o = obj(v, what);
  const ios = optNum(o, 'total_ios');
  if (ios === 0 && optNum(o, 'io_bytes') === 0) return undefined;
  return {
    ios,
    iops: num(o, 'iops', what),
    bwKiBps: num(o, 'bw', what),
    runtimeMs: optNum(o, 'runtime'),
    clat: parseLatency(o['clat_ns'], `${what}.clat_ns`),
    lat: o['lat_ns'] === undefined ? emptyLatency() : parseLatency(o['lat_ns'], `${what}.lat_ns`),
  };
}

const errnoNames: Map<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name] as [number, string]),
);

function parseJob(v: unknown, index: number, preamble: string[]): FioJob {
  const o = obj(v, `jobs[${index}]`);
  const name = typeof o['jobname'] === 'string' ? o['jobname'] : `job${index}`;
  const what = `job '${name}'`;
  const error = optNum(o, 'error');
  const options: Record<string, string> = {};
  const jo = o['job options'];
  if (typeof jo === 'object' && jo !== null) {
    for (const [k, val] of Object.entries(jo as Json)) options[k] = String(val);
  }
  const directions: Partial<Record<FioDirectionName, FioDirection>> = {};
  for (const d of fioDirections) {
    if (o[d] === undefined) continue;
    const parsed = parseDirection(o[d], `${what}.${d}`);
    if (parsed !== undefined) directions[d] = parsed;
  }
  let sync: FioJob['sync'];
  const so = o['sync'];
  if (typeof so === 'object' && so !== null) {
    const ios = optNum(so as Json, 'total_ios');
    if (ios > 0) sync = { ios, lat: parseLatency((so as Json)['lat_ns'], `${what}.sync.lat_ns`) };
  }
  let errorText: string | undefined;
  if (error !== 0) {
    // fio's own line looks like: "fio: pid=2138, err=28/file:io_u.c:1876, func=io_u error, error=No space left on device"
    const own = preamble.find((l) => l.includes(`err=${error}/`));
    errorText = own ?? `errno ${error} (${errnoNames.get(error) ?? 'unknown'})`;
  }
  return {
    name,
    error,
    errorText,
    options,
    runtimeMs: optNum(o, 'job_runtime'),
    usrCpu: optNum(o, 'usr_cpu'),
    sysCpu: optNum(o, 'sys_cpu'),
    ctx: optNum(o, 'ctx'),
    directions,
    sync,
  };
}

/** Parse fio's stdout. Throws FioParseError when there is no usable JSON. */
export function parseFioOutput(text: string): FioRun {
  const { start, end } = locateJson(text);
  const preamble = text
    .slice(0, start)
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  let root: Json;
  try {
    root = obj(JSON.parse(text.slice(start, end)), 'top level');
  } catch (e) {
    if (e instanceof FioParseError) throw e;
    throw new FioParseError(`fio JSON does not parse: ${(e as Error).message}`, excerptOf(text.slice(start, end)));
  }
  const jobsRaw = root['jobs'];
  if (!Array.isArray(jobsRaw) || jobsRaw.length === 0) throw new FioParseError('fio JSON has no jobs', excerptOf(text));
  return {
    version: typeof root['fio version'] === 'string' ? root['fio version'] : 'unknown',
    jobs: jobsRaw.map((j, i) => parseJob(j, i, preamble)),
    preamble,
    interrupted: preamble.some((l) => /terminating on signal/.test(l)),
  };
}

/** Problems that make a run's numbers untrustworthy: job errors, interruption, no I/O at all. */
export function fioProblems(run: FioRun): string[] {
  const out: string[] = [];
  for (const j of run.jobs) {
    if (j.error !== 0) out.push(`job '${j.name}' failed: ${j.errorText ?? `errno ${j.error}`}`);
    else if (Object.keys(j.directions).length === 0) out.push(`job '${j.name}' did no I/O`);
  }
  if (run.interrupted) out.push('fio was terminated by a signal; the numbers cover a partial run');
  return out;
}

// ---- histograms -------------------------------------------------------------

export function mergeHistograms(hs: Iterable<Histogram>): Histogram {
  const out: Histogram = new Map();
  for (const h of hs) for (const [k, v] of h) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

export function histogramCount(h: Histogram): number {
  let n = 0;
  for (const v of h.values()) n += v;
  return n;
}

/**
 * Percentiles from a histogram, the way fio computes them
 * (stat.c:calc_clat_percentiles): the value of the first bin whose cumulative
 * count reaches p% of all samples. Applied to one run's bins this reproduces
 * fio's own numbers exactly; applied to merged bins it gives the percentile of
 * all I/Os of all runs.
 */
export function histogramPercentiles(h: Histogram, ps: readonly number[]): number[] {
  const keys = [...h.keys()].sort((a, b) => a - b);
  const total = histogramCount(h);
  return ps.map((p) => {
    if (total === 0) return Number.NaN;
    const target = (p / 100) * total;
    let sum = 0;
    for (const k of keys) {
      sum += h.get(k) ?? 0;
      if (sum >= target) return k;
    }
    return keys[keys.length - 1] ?? Number.NaN;
  });
}

// ---- per-run aggregates ------------------------------------------------------

/** What the comparison needs from one fio run (all its jobs and directions summed). */
export interface FioSample {
  iops: number;
  bwKiBps: number;
  ios: number;
  /** Completion latency histogram of all directions and jobs. */
  clat: Histogram;
  /** Total latency histogram (empty without --lat_percentiles=1). */
  lat: Histogram;
  /** fio process usr+sys CPU microseconds per I/O (io_uring worker threads belong to the process). */
  cpuUsPerIo: number;
  usrCpu: number;
  sysCpu: number;
  /** fsync latency histogram, empty when the job issued none. */
  syncLat: Histogram;
}

export function sampleOf(run: FioRun): FioSample {
  let iops = 0;
  let bw = 0;
  let ios = 0;
  let cpuUs = 0;
  let usr = 0;
  let sys = 0;
  const hs: Histogram[] = [];
  const lats: Histogram[] = [];
  const syncs: Histogram[] = [];
  for (const j of run.jobs) {
    if (j.sync !== undefined) syncs.push(j.sync.lat.bins);
    for (const d of Object.values(j.directions)) {
      iops += d.iops;
      bw += d.bwKiBps;
      ios += d.ios;
      hs.push(d.clat.bins);
      lats.push(d.lat.bins);
    }
    // usr_cpu/sys_cpu are percent of one CPU over job_runtime (ms).
    cpuUs += ((j.usrCpu + j.sysCpu) / 100) * j.runtimeMs * 1000;
    usr += j.usrCpu;
    sys += j.sysCpu;
  }
  return {
    iops,
    bwKiBps: bw,
    ios,
    clat: mergeHistograms(hs),
    lat: mergeHistograms(lats),
    cpuUsPerIo: ios > 0 ? cpuUs / ios : Number.NaN,
    usrCpu: usr,
    sysCpu: sys,
    syncLat: mergeHistograms(syncs),
  };
}

/** Histograms travel through summary.json as plain objects. */
export function histogramToJson(h: Histogram): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...h.keys()].sort((a, b) => a - b)) out[String(k)] = h.get(k) ?? 0;
  return out;
}

export function histogramFromJson(o: Record<string, number>): Histogram {
  const h: Histogram = new Map();
  for (const [k, v] of Object.entries(o)) h.set(Number(k), v);
  return h;
}
