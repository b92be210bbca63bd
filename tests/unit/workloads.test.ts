import test from 'ava';
import { mkdtempSync, writeFileSync, cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  loadMatrix,
  loadProfile,
  planPoints,
  profileNames,
  substitute,
  varsUsed,
  workloadsDir,
  buildBenchPrograms,
  runSeconds,
  takesRuntime,
} from '../../scripts/lib/workloads.ts';
import { bootSlots, cpuBusyJiffies, estimateSeconds, fmtDuration, kernelOverrideProblem } from '../../scripts/lib/compare-run.ts';
import { UserError } from '../../scripts/lib/errors.ts';

test('matrix covers the workloads the issue asks for', (t) => {
  const m = loadMatrix();
  const ids = m.workloads.map((w) => w.id);
  t.deepEqual(ids, [
    'rfc-xfs-randwrite',
    'ext4-randwrite',
    'xfs-randread-cold',
    'nullblk-dio-randread',
    'ext4-fsync-write',
    'openat-statx-storm',
    'submit-latency',
    'xfs-write-with-work',
  ]);
  const rfc = m.workloads[0]!;
  t.is(rfc.target, 'xfs');
  t.is(rfc.vars['BS'], '1k');
  t.deepEqual(rfc.axis?.values, [1, 2, 4, 8, 16, 32]);
  t.deepEqual(Object.values(m.rfc.ratio), [0.28, 0.67, 0.88, 1.46, 1.11, 1.03]);
  t.true(m.workloads.find((w) => w.id === 'xfs-randread-cold')!.dropCaches);
  t.truthy(m.workloads.find((w) => w.id === 'nullblk-dio-randread')!.knownLoss);
});

test('the profiles load; quick is small, nightly is every point with the debug variant', (t) => {
  const m = loadMatrix();
  t.deepEqual(profileNames(), ['idle-poll', 'nightly', 'quick', 'rfc-sweep']);
  const quick = loadProfile('quick', m);
  const nightly = loadProfile('nightly', m);
  const qp = planPoints(m, quick);
  const np = planPoints(m, nightly);
  t.true(qp.length < np.length);
  t.is(np.length, 6 + 4 + 3 + 3 + 3 + 2 + 1 + 3);
  t.true(qp.some((p) => p.key === 'rfc-xfs-randwrite@iodepth=1'));
  t.is(qp.find((p) => p.key === 'openat-statx-storm@depth=16')?.vars['NFILES'], '2000');
  t.true(nightly.variants.some((v) => v.name === 'debug'));
  t.is(quick.aa, 'split');
});

test('rfc-sweep is the 2022 RFC\'s table: every depth it reported, nothing else, no test suites', (t) => {
  const m = loadMatrix();
  const sweep = loadProfile('rfc-sweep', m);
  t.deepEqual(planPoints(m, sweep).map((p) => p.key), Object.keys(m.rfc.ratio).map((d) => `rfc-xfs-randwrite@iodepth=${d}`));
  t.true(sweep.variants.every((v) => !v.tests));
});

test('idle-poll adds idle=poll to the guest kernel command line; a profile argument with a space is refused', (t) => {
  const m = loadMatrix();
  const p = loadProfile('idle-poll', m);
  t.deepEqual(p.vm.cmdline, ['idle=poll']);
  t.deepEqual(planPoints(m, p).map((x) => x.key), ['rfc-xfs-randwrite@iodepth=1', 'rfc-xfs-randwrite@iodepth=8', 'submit-latency']);
  t.is(loadProfile('quick', m).vm.cmdline, undefined);
  const dir = mkdtempSync(join(tmpdir(), 'uringlet-profile-'));
  try {
    const bad = { ...JSON.parse(readFileSync(join(workloadsDir(), 'idle-poll.json'), 'utf8')), name: 'bad', vm: { vcpus: 2, memoryMiB: 2048, dataDiskMiB: 1024, cmdline: ['idle=poll nosmp'] } };
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    const e = t.throws(() => loadProfile('bad', m, dir));
    t.regex(e?.message ?? '', /vm\.cmdline/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every profile fits its time budget by the runner\'s own estimate (TCG overheads)', (t) => {
  const m = loadMatrix();
  for (const name of profileNames()) {
    const p = loadProfile(name, m);
    const est = estimateSeconds(p, planPoints(m, p));
    t.true(est <= p.budgetMinutes * 60, `${name}: estimated ${(est / 60).toFixed(1)} min > budget ${p.budgetMinutes}`);
  }
  // --perf: one more run of each fio point per boot of the compared variants, plus perf report
  const r = loadProfile('rfc-sweep', m);
  const pts = planPoints(m, r);
  const boots = bootSlots(r).filter((s) => s.variant.benchmarks === 'compare').length;
  t.is(estimateSeconds(r, pts, { perf: true }) - estimateSeconds(r, pts), boots * pts.length * (r.runtimeSec + 8));
});

test('boot order interleaves the kernels; nightly adds one debug boot per kernel', (t) => {
  const m = loadMatrix();
  const q = bootSlots(loadProfile('quick', m)).map((s) => `${s.variant.name}/${s.arm}#${s.boot}`);
  t.deepEqual(q, ['default/stock#0', 'default/uringlet#0', 'default/stock#1', 'default/uringlet#1', 'default/stock#2', 'default/uringlet#2']);
  const n = bootSlots(loadProfile('nightly', m));
  t.deepEqual(n.slice(-2).map((s) => `${s.variant.name}/${s.arm}`), ['debug/stock', 'debug/uringlet']);
  const extra = bootSlots({ ...loadProfile('quick', m), aa: 'extra', bootsPerKernel: 2 }).map((s) => s.arm);
  t.deepEqual(extra, ['stock', 'uringlet', 'stock-aa', 'stock', 'uringlet', 'stock-aa']);
});

test('${VAR} substitution refuses unset variables', (t) => {
  t.deepEqual(varsUsed('a=${A} b=${B_2} ${A}'), ['A', 'B_2']);
  t.is(substitute('bs=${BS}', { BS: '1k' }, 'x'), 'bs=1k');
  t.throws(() => substitute('bs=${BS} d=${DIR}', { BS: '1k' }, 'job.fio'), { instanceOf: UserError, message: /\$\{DIR\} is not set/ });
});

test('a workload whose job file uses a variable nobody sets is rejected', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wl-'));
  cpSync(workloadsDir(), dir, { recursive: true });
  writeFileSync(join(dir, 'fio', 'randwrite-buffered.fio'), '[x]\nbs=${BLOCKSIZE}\n');
  t.throws(() => loadMatrix(dir), { instanceOf: UserError, message: /unset variables BLOCKSIZE/ });
});

test('a profile naming an unknown workload or axis value is rejected', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wl-'));
  cpSync(workloadsDir(), dir, { recursive: true });
  const m = loadMatrix(dir);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...loadProfile('quick', m, dir), name: 'bad', workloads: { 'rfc-xfs-randwrite': { values: [3] } } }));
  t.throws(() => loadProfile('bad', m, dir), { instanceOf: UserError, message: /value 3 is not on its axis/ });
  t.throws(() => loadProfile('nope', m, dir), { instanceOf: UserError, message: /unknown profile 'nope'/ });
  t.throws(() => planPoints(m, loadProfile('quick', m, dir), ['nosuch']), { instanceOf: UserError, message: /unknown workload/ });
});

test('--workloads takes workload ids and single points, and names what is wrong', (t) => {
  const m = loadMatrix();
  const quick = loadProfile('quick', m);
  const keys = (only: string[]) => planPoints(m, quick, only).map((p) => p.key);
  t.deepEqual(keys(['rfc-xfs-randwrite']), ['rfc-xfs-randwrite@iodepth=1', 'rfc-xfs-randwrite@iodepth=8', 'rfc-xfs-randwrite@iodepth=32']);
  // a point the profile does not pick, in the matrix's axis order, with the profile's vars
  t.deepEqual(keys(['rfc-xfs-randwrite@iodepth=8', 'rfc-xfs-randwrite@iodepth=2']), ['rfc-xfs-randwrite@iodepth=2', 'rfc-xfs-randwrite@iodepth=8']);
  const cold = planPoints(m, quick, ['xfs-randread-cold@iodepth=1']);
  t.deepEqual(cold.map((p) => [p.key, p.vars['SIZE'], p.vars['IODEPTH']]), [['xfs-randread-cold@iodepth=1', '128M', '1']]);
  // a workload and one of its points: the workload's points
  t.is(keys(['ext4-randwrite', 'ext4-randwrite@iodepth=1']).length, 1);
  // named but not in the profile: the matrix's points
  const sweep = loadProfile('rfc-sweep', m);
  t.deepEqual(planPoints(m, sweep, ['ext4-randwrite']).map((p) => p.key), m.workloads.find((w) => w.id === 'ext4-randwrite')!.axis!.values.map((v) => `ext4-randwrite@iodepth=${v}`));
  t.throws(() => keys(['rfc-xfs-randwrite@iodepth=3']), { instanceOf: UserError, message: /iodepth=3 is not one of 1, 2, 4, 8, 16, 32/ });
  t.throws(() => keys(['rfc-xfs-randwrite@depth=1']), { instanceOf: UserError, message: /axis is 'iodepth', not 'depth'/ });
  t.throws(() => keys(['submit-latency@x=1']), { instanceOf: UserError, message: /submit-latency has no axis/ });
  t.throws(() => keys(['nosuch@iodepth=1', 'other']), { instanceOf: UserError, message: /unknown workload 'nosuch'.*unknown workload 'other'/ });
});

test('benchmark programs build with -Werror and the submit-latency probe measures a blocked enter on the host kernel', async (t) => {
  const progs = await buildBenchPrograms();
  t.truthy(progs['openat-statx-storm']);
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  const r = await execa(progs['submit-latency']!, [dir, '1', '50'], { reject: false });
  t.is(r.exitCode, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { uringlet: boolean; errors: number; metrics: Record<string, { value: number }> };
  t.is(out.errors, 0);
  t.false(out.uringlet, 'the host kernel is not a uringlet kernel');
  // The host runs a stock kernel: importing the iovec faults in the submitter, so enter waits for the 50 ms handler.
  t.true(out.metrics['iovec_fault_enter_us_p50']!.value >= 45_000);
  t.true(out.metrics['buffer_fault_enter_us_p50']!.value < 45_000);
  // Stock blocks in the WRITEV's own enter; the NOPs after it (while io-wq finishes a write it
  // punted) are fast, so only the tail shows the blocked enter.
  t.true(out.metrics['blocked_enter_us_p99']!.value >= 45_000);
  // The control wakes a sleeping thread without io_uring: fast, but it does take time.
  t.true(out.metrics['wake_write_us_p50']!.value > 0);
  t.true(out.metrics['wake_write_us_p50']!.value < out.metrics['blocked_enter_us_p99']!.value);
  mkdirSync(join(dir, 's'));
  t.is((await execa(progs['openat-statx-storm']!, ['setup', join(dir, 's'), '300'])).exitCode, 0);
  const s = await execa(progs['openat-statx-storm']!, ['run', join(dir, 's'), '300', '4']);
  t.true((JSON.parse(s.stdout) as { metrics: Record<string, { value: number }> }).metrics['ops_per_sec']!.value > 0);
  // write-with-work: 1 s of 16k writes with 50 us of work each, every block read back and checked
  const w = await execa(progs['write-with-work']!, [dir, '4', '16', '50', '1'], { reject: false });
  t.is(w.exitCode, 0, w.stderr);
  const wo = JSON.parse(w.stdout) as { errors: number; metrics: Record<string, { value: number }> };
  t.is(wo.errors, 0);
  t.true(wo.metrics['mib_per_sec']!.value > 0);
  // the work took some of the time, and not more than all of it
  t.true(wo.metrics['work_pct']!.value > 0 && wo.metrics['work_pct']!.value <= 100);
  t.is((await execa(progs['write-with-work']!, [dir, '4', '24', '0', '1'], { reject: false })).exitCode, 2, 'a block size that does not divide the file is refused');
});

test('a program that takes ${RUNTIME} is estimated at the profile\'s runtime plus its own estimate', (t) => {
  const m = loadMatrix();
  const quick = loadProfile('quick', m);
  const [ww] = planPoints(m, quick, ['xfs-write-with-work@work_us=25']);
  const [storm] = planPoints(m, quick, ['openat-statx-storm@depth=16']);
  t.true(takesRuntime(ww!.workload));
  t.false(takesRuntime(storm!.workload));
  t.is(runSeconds(ww!, quick), quick.runtimeSec + ww!.workload.estimateSec! + 2);
  t.is(runSeconds(storm!, quick), storm!.workload.estimateSec! + 2 + 1);
});

test('guest CPU accounting reads busy jiffies from /proc/stat', (t) => {
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  t.is(cpuBusyJiffies('cpu  100 5 50 1000 7 3 2 1 0 0'), 100 + 5 + 50 + 3 + 2 + 1);
  t.is(fmtDuration(3725), '1h02m');
  t.is(fmtDuration(65), '1m05s');
});

test('--uringlet-kernel: benchmarks of the default variant only', (t) => {
  const m = loadMatrix();
  // the RFC sweep runs no functional tests and only the default variant: fine as is
  t.is(kernelOverrideProblem(loadProfile('rfc-sweep', m)), null);
  // quick runs the guest suite, which is compiled against the series' uapi headers
  const quick = loadProfile('quick', m);
  t.regex(kernelOverrideProblem(quick) ?? '', /--no-tests/);
  t.is(kernelOverrideProblem({ ...quick, variants: quick.variants.map((v) => ({ ...v, tests: false })) }), null);
  // nightly also boots the debug variant, which has no given image
  const nightly = loadProfile('nightly', m);
  t.regex(kernelOverrideProblem({ ...nightly, variants: nightly.variants.map((v) => ({ ...v, tests: false })) }) ?? '', /debug variant/);
});
