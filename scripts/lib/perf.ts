// Guest CPU profiles: `perf record` (the cpu-clock software event: TCG has no
// PMU, and KVM guests often have none either) around one extra fio run per
// point and boot, after the measured runs, so that no measured number pays for
// the sampling. perf's cpu-clock period is in nanoseconds, so a symbol's share
// of the samples times the event count is CPU time, and divided by the run's
// I/Os it is CPU time per I/O: comparable between kernels whose IOPS differ,
// which percentages are not.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Sampling frequency per CPU: a prime, so it doesn't beat with the tick. */
export const perfFrequency = 997;

export interface PerfEntry {
  /** Task name with per-instance numbers removed (iou-wrk-123 -> iou-wrk-N). */
  comm: string;
  dso: string;
  symbol: string;
  pct: number;
}

export interface PerfProfile {
  samples: number;
  /** Sum of the sampled periods: CPU time in ns for cpu-clock. */
  eventCount: number;
  event: string;
  entries: PerfEntry[];
}

/** One point's profile on one boot, as stored in raw/<boot>/<point>.perf.json. */
export interface PerfRun {
  point: string;
  arm: string;
  variant: string;
  boot: number;
  ios: number;
  runtimeSec: number;
  profile: PerfProfile;
}

export class PerfParseError extends Error {}

/** `perf record` around a command; its stdout (fio's JSON) passes through. */
export function perfRecordCommand(cmd: string, dataFile: string): string {
  return `perf record -q -e cpu-clock -a -F ${perfFrequency} -o ${dataFile} -- ${cmd}`;
}

/**
 * What parsePerfReport reads: one line per task, object and symbol,
 * `|`-separated, with each row's sample count. No percent limit: the rows
 * under 0.05 % hold a tenth of the samples, and the per-thread totals need
 * all of them; the shares are computed from the counts (perf rounds them to
 * two decimals, which over a thousand rows of 0.01 % adds up to 2 %).
 */
export function perfReportCommand(dataFile: string): string {
  return `perf report -i ${dataFile} --stdio --no-children --show-nr-samples --sort comm,dso,sym -t '|' 2>/dev/null`;
}

/** Worker and per-CPU thread names carry numbers that differ from boot to boot. */
export function normalizeComm(comm: string): string {
  return comm
    .trim()
    .replace(/^(iou-(?:wrk|sqp))-\d+$/, '$1-N')
    .replace(/^kworker\/.*$/, 'kworker')
    .replace(/^(ksoftirqd|migration|cpuhp|rcuc|idle_inject)\/\d+$/, '$1/N');
}

export function parsePerfReport(text: string): PerfProfile {
  // perf abbreviates the sample count (15K) but not the event count
  const samples = /^# Samples: (\d+(?:\.\d+)?)([KMG]?)\s+of event '([^']+)'/m.exec(text);
  const count = /^# Event count \(approx\.\): (\d+)/m.exec(text);
  if (!samples || !count) {
    const lines = text.trim().split('\n');
    throw new PerfParseError(`not a perf report (no "# Samples:" / "# Event count" header): ${lines.slice(0, 3).join(' | ') || 'empty output'}`);
  }
  const header = text.split('\n').find((l) => l.startsWith('# Overhead'));
  const withCounts = header !== undefined && header.split('|')[1]?.trim() === 'Samples';
  const first = withCounts ? 2 : 1;
  const merged = new Map<string, PerfEntry & { count: number }>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.split('|');
    if (f.length < first + 3) continue;
    const pct = Number(f[0]!.trim().replace(/%$/, ''));
    const count = withCounts ? Number(f[1]!.trim()) : 0;
    if (!Number.isFinite(pct) || !Number.isFinite(count)) continue;
    const comm = normalizeComm(f[first]!);
    const dso = f[first + 1]!.trim();
    // "[k] name" or "[.] name"; everything after the first separator belongs to the symbol
    const symbol = f.slice(first + 2).join('|').trim().replace(/^\[[k.]\]\s+/, '');
    const key = `${comm}\0${dso}\0${symbol}`;
    const prev = merged.get(key);
    if (prev) {
      prev.pct += pct;
      prev.count += count;
    } else merged.set(key, { comm, dso, symbol, pct, count });
  }
  const total = [...merged.values()].reduce((x, e) => x + e.count, 0);
  const scale = { '': 1, K: 1e3, M: 1e6, G: 1e9 }[samples[2] as '' | 'K' | 'M' | 'G'];
  const entries = [...merged.values()].map(({ count, ...e }) => (withCounts && total > 0 ? { ...e, pct: (100 * count) / total } : e));
  return {
    samples: withCounts ? total : Math.round(Number(samples[1]) * scale),
    event: samples[3]!,
    eventCount: Number(count[1]),
    entries: entries.sort((a, b) => b.pct - a.pct),
  };
}

/** Groups rows by thread kind: the application, io-wq workers, idle, the rest. */
export function threadKind(comm: string): string {
  if (comm === 'fio') return 'fio';
  if (comm === 'iou-wrk-N') return 'io-wq workers';
  if (comm === 'swapper') return 'idle';
  return 'other';
}

/** CPU microseconds per I/O spent in each symbol (and per thread kind), averaged over runs. */
export interface CostTable {
  runs: number;
  /** mean CPU us per I/O of the whole guest (idle excluded) */
  totalUsPerIo: number;
  byKind: Record<string, number>;
  /** "symbol" -> us per I/O, over every task except idle */
  bySymbol: Record<string, number>;
}

export function costTable(runs: PerfRun[]): CostTable {
  const byKind: Record<string, number> = {};
  const bySymbol: Record<string, number> = {};
  let total = 0;
  const usable = runs.filter((r) => r.ios > 0 && r.profile.eventCount > 0);
  for (const r of usable) {
    const usPerPct = r.profile.eventCount / 1000 / 100 / r.ios / usable.length;
    for (const e of r.profile.entries) {
      const kind = threadKind(e.comm);
      const us = e.pct * usPerPct;
      byKind[kind] = (byKind[kind] ?? 0) + us;
      if (kind === 'idle') continue;
      total += us;
      bySymbol[e.symbol] = (bySymbol[e.symbol] ?? 0) + us;
    }
  }
  return { runs: usable.length, totalUsPerIo: total, byKind, bySymbol };
}

/** Every raw/<boot>/<point>.perf.json of a run directory (a cleared boot takes its own along). */
export function loadPerfRuns(runDir: string): PerfRun[] {
  const root = join(runDir, 'raw');
  if (!existsSync(root)) return [];
  const out: PerfRun[] = [];
  for (const boot of readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const dir = join(root, boot);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.perf.json')).sort()) out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as PerfRun);
  }
  return out;
}

function fmt(us: number | undefined): string {
  if (us === undefined || us === 0) return '—';
  return us >= 10 ? us.toFixed(1) : us.toFixed(2);
}

/**
 * perf.md: per point and variant, guest CPU time per I/O by thread kind and
 * by symbol (the symbols that differ most between the kernels first).
 */
export function renderPerfMarkdown(runs: PerfRun[], opts: { runId: string; top?: number }): string {
  const top = opts.top ?? 30;
  const out: string[] = [];
  const w = (l = '') => out.push(l);
  w(`# Guest CPU profiles — run ${opts.runId}`);
  w();
  w(
    `One extra run per point and boot under \`perf record -e cpu-clock -a -F ${perfFrequency}\` (after the measured runs; its numbers are not in the comparison). ` +
      'Each cell is guest CPU time per I/O in µs (share of the samples x sampled time / I/Os of that run), averaged over the boots; idle (the idle task, with the interrupts it took) is left out of the totals. ' +
      'Under TCG a symbol costs what its emulated instructions cost: atomics, IPIs and TLB flushes weigh more than on hardware.',
  );
  w();
  const groups = new Map<string, PerfRun[]>();
  for (const r of runs) {
    const k = `${r.variant}\0${r.point}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [variant, point] = k.split('\0') as [string, string];
    const arms = [...new Set(rs.map((r) => r.arm))].sort();
    const tables = Object.fromEntries(arms.map((a) => [a, costTable(rs.filter((r) => r.arm === a))]));
    w(`## ${point} (${variant})`);
    w();
    w(`| | ${arms.map((a) => `${a} (${tables[a]!.runs} runs, µs/I/O)`).join(' | ')} |`);
    w(`|---|${arms.map(() => '---:').join('|')}|`);
    w(`| **guest CPU per I/O** | ${arms.map((a) => `**${fmt(tables[a]!.totalUsPerIo)}**`).join(' | ')} |`);
    for (const kind of ['fio', 'io-wq workers', 'other', 'idle']) {
      w(`| ${kind === 'idle' ? 'idle (not in the total)' : kind} | ${arms.map((a) => fmt(tables[a]!.byKind[kind])).join(' | ')} |`);
    }
    w();
    const symbols = new Set(arms.flatMap((a) => Object.keys(tables[a]!.bySymbol)));
    const spread = new Map(
      [...symbols].map((s) => {
        const v = arms.map((a) => tables[a]!.bySymbol[s] ?? 0);
        return [s, Math.max(...v) - Math.min(...v)];
      }),
    );
    const rows = [...symbols].sort((a, b) => spread.get(b)! - spread.get(a)! || a.localeCompare(b)).slice(0, top);
    w(`| symbol (most different first) | ${arms.join(' | ')} |`);
    w(`|---|${arms.map(() => '---:').join('|')}|`);
    for (const s of rows) w(`| \`${s}\` | ${arms.map((a) => fmt(tables[a]!.bySymbol[s])).join(' | ')} |`);
    w();
  }
  if (groups.size === 0) w('No profiles in this run.');
  return `${out.join('\n')}\n`;
}
