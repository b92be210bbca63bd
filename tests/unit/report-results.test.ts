// The run directory: atomic boots, resume, rename on finish, never overwrite; and the
// test verdict over suite results.
import test from 'ava';
import { existsSync, mkdtempSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDir, flakyTestFailures, newRunId, newTestFailures, type BootRecord, type TestSuiteResult } from '../../scripts/lib/results.ts';
import { UserError } from '../../scripts/lib/errors.ts';

const boot = (arm: 'stock' | 'uringlet', n: number): BootRecord => ({ arm, variant: 'default', boot: n, status: 'ok', startedAt: 'x', durationSec: 1, records: [], tests: [] });

test('a run lives in <id>.partial until finished, then moves to <id> and becomes latest', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'results-'));
  const id = newRunId('quick', new Date('2026-11-24T10:00:00Z'));
  t.regex(id, /^2026-11-24T10-00-00Z-quick-[0-9a-f]{4}$/);
  const r = RunDir.create(root, id);
  t.true(existsSync(join(root, `${id}.partial`)));
  r.saveBoot(boot('stock', 0));
  t.deepEqual(RunDir.list(root), [{ id, complete: false }]);
  const final = r.finish();
  t.is(final, join(root, id));
  t.false(existsSync(join(root, `${id}.partial`)));
  t.is(readlinkSync(join(root, 'latest')), id);
  t.deepEqual(RunDir.list(root), [{ id, complete: true }]);
});

test('resume continues an interrupted run with its finished boots; a complete run cannot be resumed or recreated', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'results-'));
  const r = RunDir.create(root, 'run-a');
  r.saveBoot(boot('stock', 0));
  r.saveBoot(boot('uringlet', 0));
  const again = RunDir.resume(root, 'run-a');
  t.true(again.hasBoot('stock', 'default', 0));
  t.false(again.hasBoot('stock', 'default', 1));
  t.is(again.boots().length, 2);
  t.throws(() => RunDir.create(root, 'run-a'), { instanceOf: UserError, message: /already exists/ });
  again.finish();
  t.throws(() => RunDir.resume(root, 'run-a'), { instanceOf: UserError, message: /already complete/ });
  t.throws(() => RunDir.create(root, 'run-a'), { instanceOf: UserError, message: /already exists/ });
  t.throws(() => RunDir.resume(root, 'nope'), { instanceOf: UserError, message: /no interrupted run 'nope'/ });
  t.throws(() => RunDir.create(root, '../evil'), { instanceOf: UserError, message: /bad run id/ });
});

test('a second finished run leaves the first untouched and moves latest', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'results-'));
  const a = RunDir.create(root, 'run-1');
  a.write('report.md', 'first\n');
  a.finish();
  const b = RunDir.create(root, 'run-2');
  b.write('report.md', 'second\n');
  b.finish();
  t.true(existsSync(join(root, 'run-1', 'report.md')));
  t.is(readlinkSync(join(root, 'latest')), 'run-2');
});

test('--reanalyze rebuilds a finished run from its boots, keeps the summary it replaces once, and refuses what is not a finished run', async (t) => {
  const { reanalyzeRun } = await import('../../scripts/lib/compare-run.ts');
  const { fixtureBoots, fixtureSummary } = await import('./report-fixture.ts');
  const root = mkdtempSync(join(tmpdir(), 'results-'));
  const r = RunDir.create(root, 'run-r');
  for (const b of fixtureBoots()) r.saveBoot(b);
  const s = fixtureSummary();
  r.writeJson('plan.json', { profile: 'quick', workloads: ['rfc-xfs-randwrite', 'nullblk-dio-randread', 'submit-latency'], overrides: { boots: 3, runs: 2 }, command: s.command, startedAt: s.startedAt });
  // an older analysis: no CI in the RFC table
  const old = { ...s, rfc: { ...s.rfc, rows: s.rfc.rows.map(({ ourRatioCi: _ci, ourRatioCiBy: _by, ...row }) => row) } };
  r.writeJson('summary.json', old);
  r.finish();
  t.throws(() => RunDir.resume(root, 'run-r'), { message: /already complete/ });
  const out = reanalyzeRun('run-r', root, { print: false });
  t.is(out.exitCode, s.exitCode);
  t.deepEqual(out.summary.kernels, s.kernels, 'kernel releases as the run recorded them');
  t.is(out.summary.host.guestFio, s.host.guestFio);
  const now = RunDir.complete(root, 'run-r');
  t.deepEqual(now.readJson<typeof s>('summary.json')!.rfc.rows[0]!.ourRatioCi, s.rfc.rows[0]!.ourRatioCi);
  t.is(now.readJson<typeof s>('summary.json')!.rfc.rows[0]!.ourRatioCiBy, 'boot pairs');
  t.is(now.readJson<typeof s>('summary.before-reanalysis.json')!.rfc.rows[0]!.ourRatioCi, undefined);
  t.true(existsSync(join(root, 'run-r', 'report.md')) && existsSync(join(root, 'run-r', 'report.html')));
  // a second pass keeps the first saved summary, not the reanalyzed one
  reanalyzeRun('run-r', root, { print: false });
  t.is(now.readJson<typeof s>('summary.before-reanalysis.json')!.rfc.rows[0]!.ourRatioCi, undefined);
  t.throws(() => reanalyzeRun('nope', root), { instanceOf: UserError, message: /no finished run 'nope'/ });
  RunDir.create(root, 'run-partial');
  t.throws(() => reanalyzeRun('run-partial', root), { instanceOf: UserError, message: /no finished run 'run-partial'/ });
});

// compare's test verdict: a uringlet-only failure is a regression unless the
// suite lists the test as flaky on stock too; failing in every one of 3 boots
// outweighs the listing.
test('newTestFailures / flakyTestFailures: listed flaky tests are reported, not counted, unless they always fail', (t) => {
  const suite = (arm: 'stock' | 'uringlet', fails: Record<string, number>, flaky: string[] = []): TestSuiteResult => ({
    suite: 'liburing',
    arm,
    variant: 'debug',
    state: 'ran',
    tests: Object.entries(fails).map(([name, f]) => ({ name, status: f > 0 ? 'fail' : 'pass', runs: 1, fails: f, ...(flaky.includes(name) ? { flaky: 'timed out 2 of 15 times on stock' } : {}) })),
  });
  const oneBoot = [suite('stock', { 'a.t': 0, 'b.t': 0, 'c.t': 1 }), suite('uringlet', { 'a.t': 1, 'b.t': 1, 'c.t': 1 }, ['a.t'])];
  t.deepEqual(newTestFailures(oneBoot), [{ suite: 'liburing', name: 'b.t', variant: 'debug' }]);
  t.deepEqual(flakyTestFailures(oneBoot).map((f) => [f.name, f.fails, f.runs]), [['a.t', 1, 1]]);
  // three boots, failed in all three on uringlet and never on stock: counted after all
  const always = [0, 1, 2].flatMap(() => [suite('stock', { 'a.t': 0 }), suite('uringlet', { 'a.t': 1 }, ['a.t'])]);
  t.deepEqual(newTestFailures(always), [{ suite: 'liburing', name: 'a.t', variant: 'debug' }]);
  t.deepEqual(flakyTestFailures(always), []);
  // two of three: flaky
  const sometimes = [1, 1, 0].flatMap((f) => [suite('stock', { 'a.t': 0 }), suite('uringlet', { 'a.t': f }, ['a.t'])]);
  t.deepEqual(newTestFailures(sometimes), []);
  t.is(flakyTestFailures(sometimes)[0]?.fails, 2);
  // one test failing in several boots is one entry, not one per boot
  const twice = [0, 1].flatMap(() => [suite('stock', { 'b.t': 0 }), suite('uringlet', { 'b.t': 1 })]);
  t.is(newTestFailures(twice).length, 1);
});
