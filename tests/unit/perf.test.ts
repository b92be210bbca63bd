// perf report parsing and the CPU-per-I/O tables, on real guest output: fio
// XFS randwrite bs=1k depth 8 for 8 s under `perf record -e cpu-clock -a`, on
// stock and on uringlet (TCG, 2 vCPUs; run 2026-12-02T04-35-48Z-rfc-sweep-c8f0).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { costTable, normalizeComm, parsePerfReport, PerfParseError, renderPerfMarkdown, threadKind, type PerfRun } from '../../scripts/lib/perf.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';

const fixture = (name: string) => readFileSync(join(repoRoot, 'tests', 'fixtures', 'perf', name), 'utf8');
const stockText = fixture('guest-stock-randwrite-xfs-qd8.perf.txt');
const uringletText = fixture('guest-uringlet-randwrite-xfs-qd8.perf.txt');
// I/Os fio counted in those two runs (from their JSON output)
const stockIos = 344998;
const uringletIos = 413308;

const run = (arm: string, text: string, ios: number, boot = 0): PerfRun => ({
  point: 'rfc-xfs-randwrite@iodepth=8',
  arm,
  variant: 'default',
  boot,
  ios,
  runtimeSec: 8,
  profile: parsePerfReport(text),
});

test('the header: exact event count (ns of CPU time for cpu-clock); the sample count from the rows, else the abbreviated header', (t) => {
  const p = parsePerfReport(uringletText);
  t.is(p.event, 'cpu-clock');
  // the header says "15K"
  t.is(p.samples, 15630);
  t.is(p.eventCount, 15677030670);
  // 8 s on 2 vCPUs, plus fio's start and exit
  t.true(p.eventCount > 15e9 && p.eventCount < 18e9);
  // without the Samples column (perf report without -n): the header's count, perf's shares
  const plain = parsePerfReport("# Samples: 532  of event 'cpu-clock'\n# Event count (approx.): 532000000\n# Overhead|Command|Shared Object|Symbol\n 60.00% |fio |fio |[.] main\n 40.00% |iou-wrk-7 |[kernel.kallsyms] |[k] io_write\n");
  t.is(plain.samples, 532);
  t.deepEqual(plain.entries, [
    { comm: 'fio', dso: 'fio', symbol: 'main', pct: 60 },
    { comm: 'iou-wrk-N', dso: '[kernel.kallsyms]', symbol: 'io_write', pct: 40 },
  ]);
  t.is(parsePerfReport('# Samples: 1.2M of event \'cpu-clock\'\n# Event count (approx.): 1\n').samples, 1_200_000);
});

test('rows: worker numbers are folded, shares come from the sample counts and add up to 100 %', (t) => {
  const p = parsePerfReport(uringletText);
  const spin = p.entries.find((e) => e.symbol === 'io_uringlet_wait_spin');
  t.is(spin?.comm, 'fio', 'the owner polls for completions, the worker never does');
  t.is(p.entries.filter((e) => e.symbol === 'io_uringlet_wait_spin').length, 1);
  t.false(p.entries.some((e) => /^iou-wrk-\d/.test(e.comm)), 'iou-wrk-124 becomes iou-wrk-N');
  t.true(p.entries.some((e) => e.comm === 'iou-wrk-N' && e.symbol === 'copy_user_enhanced_fast_string'));
  const sum = p.entries.reduce((x, e) => x + e.pct, 0);
  // perf's own two-decimal shares of ~1000 rows add up to more than 100
  const printed = uringletText.split('\n').filter((l) => /^ +\d/.test(l)).reduce((x, l) => x + Number(l.split('%')[0]), 0);
  t.true(Math.abs(sum - 100) < 1e-6, `sum ${sum}`);
  t.true(printed > 100.5, `printed ${printed}`);
  // the entries are sorted, and each (task, object, symbol) appears once
  t.true(p.entries.every((e, i) => i === 0 || p.entries[i - 1]!.pct >= e.pct));
  t.is(new Set(p.entries.map((e) => `${e.comm} ${e.dso} ${e.symbol}`)).size, p.entries.length);
});

test('task names: per-instance numbers go, the rest stays', (t) => {
  t.is(normalizeComm('iou-wrk-9321 '), 'iou-wrk-N');
  t.is(normalizeComm('iou-sqp-12'), 'iou-sqp-N');
  t.is(normalizeComm('kworker/1:2H'), 'kworker');
  t.is(normalizeComm('ksoftirqd/1'), 'ksoftirqd/N');
  t.is(normalizeComm('fio'), 'fio');
  t.is(normalizeComm('CPU 0/TCG'), 'CPU 0/TCG');
  t.is(threadKind('swapper'), 'idle');
  t.is(threadKind('iou-wrk-N'), 'io-wq workers');
});

test('not a report: a clear error with the first lines', (t) => {
  t.throws(() => parsePerfReport(''), { instanceOf: PerfParseError, message: /empty output/ });
  t.throws(() => parsePerfReport('perf: command not found\n'), { instanceOf: PerfParseError, message: /command not found/ });
});

test('CPU per I/O: share x sampled time / I/Os; idle kept apart; the writes move from fio to the workers', (t) => {
  const s = costTable([run('stock', stockText, stockIos)]);
  const u = costTable([run('uringlet', uringletText, uringletIos)]);
  // one symbol by hand: fio's get_io_u, 257 of 16967 samples of 17.018 s of CPU time over 344998 I/Os
  t.true(Math.abs(s.bySymbol['get_io_u']! - ((257 / 16967) * (17018053703 / 1000)) / stockIos) < 1e-9);
  const kindSum = (c: typeof s) => Object.entries(c.byKind).filter(([k]) => k !== 'idle').reduce((x, [, v]) => x + v, 0);
  t.true(Math.abs(kindSum(s) - s.totalUsPerIo) < 1e-9);
  t.true(Math.abs(kindSum(u) - u.totalUsPerIo) < 1e-9);
  // stock issues from fio (one CPU idle most of the time), uringlet from io-wq workers
  // (stock punts the writes that would block: -EAGAIN under IOCB_NOWAIT, ~10 % here)
  t.true(s.byKind['fio']! > 5 * (s.byKind['io-wq workers'] ?? 0), JSON.stringify(s.byKind));
  t.true(u.byKind['io-wq workers']! > 10, JSON.stringify(u.byKind));
  t.true(s.byKind['idle']! > 2 * u.byKind['idle']!, 'stock leaves a vCPU idle at depth 8, uringlet uses both');
  // two boots average
  const two = costTable([run('uringlet', uringletText, uringletIos), run('uringlet', uringletText, uringletIos / 2, 1)]);
  t.is(two.runs, 2);
  t.true(Math.abs(two.totalUsPerIo - 1.5 * u.totalUsPerIo) < 1e-6);
  // a run without I/O (fio failed) is not averaged in
  t.is(costTable([run('uringlet', uringletText, 0)]).runs, 0);
});

test('perf.md: both kernels side by side, the symbols that differ most first', (t) => {
  const md = renderPerfMarkdown([run('stock', stockText, stockIos), run('uringlet', uringletText, uringletIos)], { runId: 'r1', top: 5 });
  t.regex(md, /^# Guest CPU profiles — run r1/);
  t.regex(md, /## rfc-xfs-randwrite@iodepth=8 \(default\)/);
  t.regex(md, /\| \| stock \(1 runs, µs\/I\/O\) \| uringlet \(1 runs, µs\/I\/O\) \|/);
  const rows = md.split('\n').filter((l) => l.startsWith('| `'));
  t.is(rows.length, 5);
  t.regex(rows[0]!, /^\| `io_uringlet_wait_spin` \| — \| \d/);
  t.regex(renderPerfMarkdown([], { runId: 'r2' }), /No profiles in this run/);
});
