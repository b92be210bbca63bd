import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseFioOutput,
  fioProblems,
  FioParseError,
  histogramPercentiles,
  mergeHistograms,
  histogramCount,
  sampleOf,
  histogramToJson,
  histogramFromJson,
} from '../../scripts/lib/fio.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';

const dir = join(repoRoot, 'tests', 'fixtures', 'fio');
const fixture = (name: string) => readFileSync(join(dir, name), 'utf8');
const allFixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('with --lat_percentiles=1, total-latency percentiles recomputed from bins equal fio\'s own; without it lat has no bins', (t) => {
  let withLat = 0;
  for (const f of allFixtures) {
    const run = parseFioOutput(fixture(f));
    for (const job of run.jobs) {
      for (const [dname, d] of Object.entries(job.directions)) {
        const keys = Object.keys(d.lat.percentiles);
        if (keys.length === 0) {
          t.is(d.lat.bins.size, 0, `${f} ${job.name} ${dname}: no lat bins without lat_percentiles`);
          continue;
        }
        t.deepEqual(histogramPercentiles(d.lat.bins, keys.map(Number)), keys.map((k) => d.lat.percentiles[k]), `${f} ${job.name} ${dname}`);
        t.is(histogramCount(d.lat.bins), d.lat.n, `${f} ${job.name} ${dname} lat bin count = N`);
        withLat++;
      }
    }
    const s = sampleOf(run);
    if (f === 'host-randwrite-latpct-qd8.json') t.is(histogramCount(s.lat), s.ios, 'sample lat histogram counts every I/O');
  }
  t.true(withLat >= 1);
});

test('every captured fixture parses as fio 3.33', (t) => {
  t.true(allFixtures.length >= 6);
  for (const f of allFixtures) {
    const run = parseFioOutput(fixture(f));
    t.is(run.version, 'fio-3.33', f);
    t.true(run.jobs.length >= 1, f);
  }
});

test('percentiles recomputed from json+ bins equal fio\'s own, for every fixture and direction', (t) => {
  let checked = 0;
  for (const f of allFixtures) {
    for (const job of parseFioOutput(fixture(f)).jobs) {
      for (const [dname, d] of Object.entries(job.directions)) {
        const keys = Object.keys(d.clat.percentiles);
        const ours = histogramPercentiles(d.clat.bins, keys.map(Number));
        t.deepEqual(ours, keys.map((k) => d.clat.percentiles[k]), `${f} ${job.name} ${dname}`);
        t.is(histogramCount(d.clat.bins), d.clat.n, `${f} ${job.name} ${dname} bin count = N`);
        checked++;
      }
    }
  }
  t.true(checked >= 8);
});

test('text before the JSON is kept as preamble, not a parse failure', (t) => {
  const run = parseFioOutput(fixture('host-psync-note-before.json'));
  t.regex(run.preamble[0] ?? '', /queue depth will be capped at 1/);
  t.is(run.jobs[0]?.error, 0);
  t.deepEqual(fioProblems(run), []);
});

test('a job error is reported with fio\'s own text, not swallowed', (t) => {
  const run = parseFioOutput(fixture('host-two-jobs-one-error-text-before.json'));
  t.is(run.jobs.length, 2);
  const bad = run.jobs.find((j) => j.name === 'full');
  t.is(bad?.error, 28);
  t.regex(bad?.errorText ?? '', /No space left on device/);
  const problems = fioProblems(run);
  t.is(problems.length, 1);
  t.regex(problems[0] ?? '', /job 'full' failed: .*No space left/);
});

test('a run stopped by SIGINT is flagged interrupted', (t) => {
  const run = parseFioOutput(fixture('host-sigint-terminated.json'));
  t.true(run.interrupted);
  t.true(fioProblems(run).some((p) => /terminated by a signal/.test(p)));
});

test('broken outputs throw FioParseError with a useful message', (t) => {
  const whole = fixture('host-randwrite-qd8-run1.json');
  t.throws(() => parseFioOutput(''), { instanceOf: FioParseError, message: /no output/ });
  t.throws(() => parseFioOutput('fio: failed to setup shm segment\n'), { instanceOf: FioParseError, message: /no fio JSON/ });
  t.throws(() => parseFioOutput(whole.slice(0, Math.floor(whole.length / 2))), {
    instanceOf: FioParseError,
    message: /truncated/,
  });
  const noJobs = '{\n  "fio version" : "fio-3.33",\n  "jobs" : []\n}\n';
  t.throws(() => parseFioOutput(noJobs), { instanceOf: FioParseError, message: /no jobs/ });
  const badIops = whole.replace(/"iops" : [0-9.]+/g, '"iops" : "lots"');
  t.throws(() => parseFioOutput(badIops), { instanceOf: FioParseError, message: /iops is not a number/ });
});

test('merged histograms: self-merge keeps percentiles, two runs land between the two', (t) => {
  const a = parseFioOutput(fixture('host-randwrite-qd8-run1.json')).jobs[0]?.directions.write;
  const b = parseFioOutput(fixture('host-randwrite-qd8-run2.json')).jobs[0]?.directions.write;
  if (a === undefined || b === undefined) return t.fail('fixtures lack a write direction');
  const ps = [50, 90, 99, 99.9];
  t.deepEqual(histogramPercentiles(mergeHistograms([a.clat.bins, a.clat.bins]), ps), histogramPercentiles(a.clat.bins, ps));
  const merged = mergeHistograms([a.clat.bins, b.clat.bins]);
  t.is(histogramCount(merged), a.clat.n + b.clat.n);
  const pa = histogramPercentiles(a.clat.bins, ps);
  const pb = histogramPercentiles(b.clat.bins, ps);
  histogramPercentiles(merged, ps).forEach((v, i) => {
    t.true(v >= Math.min(pa[i]!, pb[i]!) && v <= Math.max(pa[i]!, pb[i]!), `p${ps[i]}`);
  });
  t.deepEqual(histogramToJson(histogramFromJson(histogramToJson(merged))), histogramToJson(merged));
});

test('sampleOf sums directions and computes CPU per I/O from usr+sys over job runtime', (t) => {
  const run = parseFioOutput(fixture('host-randrw-qd4.json'));
  const j = run.jobs[0]!;
  const r = j.directions.read!;
  const w = j.directions.write!;
  const s = sampleOf(run);
  t.is(s.iops, r.iops + w.iops);
  t.is(s.ios, r.ios + w.ios);
  t.is(histogramCount(s.clat), r.clat.n + w.clat.n);
  const expected = (((j.usrCpu + j.sysCpu) / 100) * j.runtimeMs * 1000) / (r.ios + w.ios);
  t.true(Math.abs(s.cpuUsPerIo - expected) < 1e-9);
  t.true(s.cpuUsPerIo > 0);
});

test('a job-file run (options under "global options") with fsync=1 exposes the fsync latency', (t) => {
  const run = parseFioOutput(fixture('host-fsync-write-jobfile.json'));
  const j = run.jobs[0]!;
  t.deepEqual(j.options, {});
  t.truthy(j.directions.write);
  t.true((j.sync?.ios ?? 0) > 1000);
  const s = sampleOf(run);
  t.is(histogramCount(s.syncLat), j.sync!.lat.n);
  const keys = Object.keys(j.sync!.lat.percentiles);
  t.deepEqual(histogramPercentiles(s.syncLat, keys.map(Number)), keys.map((k) => j.sync!.lat.percentiles[k]));
});

test('guest output (fio 3.33 in the TCG guest): warnings before the JSON and a failed job, on both kernels', (t) => {
  for (const kernel of ['stock', 'uringlet']) {
    const run = parseFioOutput(fixture(`guest-${kernel}-error-enospc.json`));
    t.true(run.preamble.some((l) => /cache invalidation of .* failed: Function not implemented/.test(l)), kernel);
    t.deepEqual(
      run.jobs.map((j) => [j.name, j.error]),
      [
        ['ok', 0],
        ['full', 28],
      ],
    );
    t.regex(fioProblems(run).join('\n'), /job 'full' failed: .*No space left on device/);
  }
  const nb = sampleOf(parseFioOutput(fixture('guest-stock-dio-nullblk-qd8.json')));
  t.true(nb.iops > 1000);
  t.is(histogramCount(nb.clat), nb.ios);
});
