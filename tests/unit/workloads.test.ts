import test from 'ava';
import { mkdtempSync, writeFileSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  loadMatrix,
  loadProfile,
  planPoints,
  profileNames,
  runSeconds,
  substitute,
  varsUsed,
  workloadsDir,
  buildBenchPrograms,
} from '../../scripts/lib/workloads.ts';
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
  ]);
  const rfc = m.workloads[0]!;
  t.is(rfc.target, 'xfs');
  t.is(rfc.vars['BS'], '1k');
  t.deepEqual(rfc.axis?.values, [1, 2, 4, 8, 16, 32]);
  t.deepEqual(Object.values(m.rfc.ratio), [0.28, 0.67, 0.88, 1.46, 1.11, 1.03]);
  t.true(m.workloads.find((w) => w.id === 'xfs-randread-cold')!.dropCaches);
  t.truthy(m.workloads.find((w) => w.id === 'nullblk-dio-randread')!.knownLoss);
});

test('both profiles load; quick is small, nightly is every point with the debug variant', (t) => {
  const m = loadMatrix();
  t.deepEqual(profileNames(), ['nightly', 'quick']);
  const quick = loadProfile('quick', m);
  const nightly = loadProfile('nightly', m);
  const qp = planPoints(m, quick);
  const np = planPoints(m, nightly);
  t.true(qp.length < np.length);
  t.is(np.length, 6 + 4 + 3 + 3 + 3 + 2 + 1);
  t.true(qp.some((p) => p.key === 'rfc-xfs-randwrite@iodepth=1'));
  t.is(qp.find((p) => p.key === 'openat-statx-storm@depth=16')?.vars['NFILES'], '2000');
  t.true(nightly.variants.some((v) => v.name === 'debug'));
  t.is(quick.aa, 'split');
});

test('quick fits its budget on this machine: benchmark time + boots + tests <= budgetMinutes', (t) => {
  const m = loadMatrix();
  const q = loadProfile('quick', m);
  const points = planPoints(m, q);
  const arms = 2;
  const bench = points.reduce((s, p) => s + runSeconds(p, q), 0) * q.runsPerBoot * q.bootsPerKernel * arms;
  // Per boot under TCG: ~15 s boot + mkfs/setup ~20 s; functional tests budgeted at 3 min per kernel.
  const boots = q.bootsPerKernel * arms * 35;
  const tests = arms * 180;
  t.true(bench + boots + tests <= q.budgetMinutes * 60, `estimated ${(bench + boots + tests) / 60} min`);
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
  mkdirSync(join(dir, 's'));
  t.is((await execa(progs['openat-statx-storm']!, ['setup', join(dir, 's'), '300'])).exitCode, 0);
  const s = await execa(progs['openat-statx-storm']!, ['run', join(dir, 's'), '300', '4']);
  t.true((JSON.parse(s.stdout) as { metrics: Record<string, { value: number }> }).metrics['ops_per_sec']!.value > 0);
});
