// uringlet kcidb: a results directory as KCIDB v4 JSON, checked by a
// hand-written structural validator (required fields, patterns, enums, no
// unknown properties, references resolve). No network.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/lib/paths.ts';
import { UserError } from '../../scripts/lib/errors.ts';
import { failingRegressions } from '../../scripts/lib/compare.ts';
import type { BuildMetadata } from '../../scripts/lib/metadata.ts';
import type { Summary } from '../../scripts/lib/results.ts';
import { pathComponent, patchsetHash, toKcidb, validateKcidb, type KcidbReport, type KcidbTest } from '../../scripts/lib/kcidb.ts';
import kcidbCommand from '../../scripts/commands/kcidb.ts';
import { fixtureSummary } from './report-fixture.ts';

const fixtures = join(repoRoot, 'tests', 'fixtures');
const uringletMeta = JSON.parse(readFileSync(join(fixtures, 'kernel', 'build-warning.metadata.json'), 'utf8')) as BuildMetadata;
const stockMeta: BuildMetadata = { ...uringletMeta, kernel: 'stock', series: null, warnings: { count: 0, list: [], newOverStock: null }, durationSec: 420.5, reproducer: 'npm run build-kernel -- --kernel stock --variant default' };

function summary(opts: { uringletTestFail?: boolean; crash?: boolean } = {}): Summary {
  const s = fixtureSummary(opts);
  s.kernels = [
    { ...s.kernels[0]!, build: stockMeta as unknown as Record<string, unknown> },
    { ...s.kernels[1]!, build: uringletMeta as unknown as Record<string, unknown> },
  ];
  return s;
}

const byPath = (r: KcidbReport, path: string): KcidbTest[] => r.tests.filter((t) => t.path === path);

test('a full results directory exports as valid KCIDB v4 data', (t) => {
  const r = toKcidb(summary({ crash: true, uringletTestFail: true }), { origin: 'uringlet', buildFiles: { 'uringlet-default': { log: 'builds/uringlet-default.log' } } });
  t.deepEqual(validateKcidb(r), []);
  t.is(r.version.major, 4);
  t.true(r.version.minor >= 4, 'test "number" needs 4.4');
  for (const o of [...r.checkouts, ...r.builds, ...r.tests]) t.true(o.id.startsWith('uringlet:2026-11-24T10-00-00Z-quick-beef/'), o.id);
  t.is(new Set(r.tests.map((x) => x.id)).size, r.tests.length, 'test ids are unique');

  t.deepEqual(
    r.checkouts.map((c) => c.id.split('/').pop()),
    ['stock', 'uringlet'],
  );
  const uc = r.checkouts.find((c) => c.id.endsWith('/uringlet'))!;
  t.is(uc.git_commit_hash, uringletMeta.source.baseCommit);
  t.is(uc.misc?.['series_hash'], uringletMeta.series!.hash);
  t.is(r.checkouts.find((c) => c.id.endsWith('/stock'))!.patchset_hash, '', 'stock has no patches');

  t.is(r.builds.length, 2);
  const ub = r.builds.find((b) => b.id.endsWith('/build/uringlet-default'))!;
  t.is(ub.checkout_id, uc.id);
  t.is(ub.architecture, 'x86_64');
  t.is(ub.compiler, 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0');
  t.is(ub.config_name, 'tinyconfig+base');
  t.is(ub.valid, true);
  t.is(ub.duration, 13.8);
  t.is(ub.log_url, 'builds/uringlet-default.log', 'a path relative to the results directory');
  t.is(ub.start_time, new Date(Date.parse(uringletMeta.builtAt) - 13_800).toISOString());
  t.is(r.builds.find((b) => b.id.endsWith('/build/stock-default'))!.log_url, undefined, 'no log in the directory: no URL');
});

test('guest tests, not-run suites, boots and crashes map to KCIDB statuses', (t) => {
  const r = toKcidb(summary({ crash: true, uringletTestFail: true }), { origin: 'uringlet' });
  const failing = r.tests.filter((x) => x.path === 'uringlet.guest.submitter-never-blocks');
  t.is(failing.length, 2);
  t.is(failing.find((x) => x.build_id.endsWith('/uringlet-default'))?.status, 'FAIL');
  t.is(failing.find((x) => x.build_id.endsWith('/stock-default'))?.status, 'PASS');
  t.is(byPath(r, 'uringlet.guest.setup-flags').every((x) => x.status === 'PASS'), true);

  const lib = byPath(r, 'uringlet.liburing');
  t.is(lib.length, 2);
  t.true(lib.every((x) => x.status === 'SKIP' && /NOT RUN/.test(x.comment ?? '')));

  const boots = byPath(r, 'uringlet.boot');
  t.is(boots.length, 6);
  const crashed = boots.filter((x) => x.status === 'FAIL');
  t.is(crashed.length, 1);
  t.regex(crashed[0]!.log_excerpt ?? '', /NULL pointer dereference/);
  t.is(crashed[0]!.log_url, 'logs/default-uringlet-2.console.log');
  t.is(boots.filter((x) => x.status === 'PASS').length, 5);

  const withSmoke = summary();
  withSmoke.smoke = [
    { arm: 'stock', variant: 'default', point: 'rfc-xfs-randwrite@iodepth=1', ok: true },
    { arm: 'uringlet', variant: 'default', point: 'rfc-xfs-randwrite@iodepth=1', ok: false, error: 'fio exited 1' },
  ];
  const rs = toKcidb(withSmoke, { origin: 'uringlet' });
  t.deepEqual(validateKcidb(rs), []);
  const smoke = byPath(rs, 'uringlet.smoke.rfc-xfs-randwrite_iodepth_1');
  t.deepEqual(
    smoke.map((x) => x.status),
    ['PASS', 'FAIL'],
  );
  t.is(smoke[1]!.log_excerpt, 'fio exited 1');
});

test('benchmark metrics are tests with numeric output; a flagged uringlet regression is FAIL', (t) => {
  const s = summary();
  const r = toKcidb(s, { origin: 'uringlet' });
  const d8 = r.tests.filter((x) => x.path === 'uringlet.bench.rfc-xfs-randwrite.iodepth_8.iops');
  t.is(d8.length, 2);
  const c8 = s.analysis.comparisons.find((c) => c.point === 'rfc-xfs-randwrite@iodepth=8' && c.metric === 'iops')!;
  const u8 = d8.find((x) => x.build_id.endsWith('/uringlet-default'))!;
  t.is(u8.status, 'DONE');
  t.deepEqual(u8.number, { value: c8.uringlet.mean, unit: 'IOPS' });
  t.deepEqual(u8.misc?.['values'], c8.uringlet.values);
  t.is(u8.misc?.['verdict'], 'improvement');

  const regs = failingRegressions(s.analysis);
  t.true(regs.length > 0, 'the fixture has a flagged regression (depth 1)');
  for (const c of regs) {
    const [u] = r.tests.filter((x) => x.id.endsWith(`/uringlet/default/bench/${c.point}/${c.metric}`));
    t.is(u?.status, 'FAIL', c.point);
    t.is(r.tests.find((x) => x.id.endsWith(`/stock/default/bench/${c.point}/${c.metric}`))?.status, 'DONE');
  }
  // the known loss (null_blk) is reported, not failed
  t.is(r.tests.find((x) => x.id.endsWith('/uringlet/default/bench/nullblk-dio-randread@iodepth=1/iops'))?.status, 'DONE');
  // probe metrics without an axis
  t.is(r.tests.filter((x) => x.path === 'uringlet.bench.submit-latency.iovec_fault_enter_us_p50').length, 2);
  t.true(r.tests.every((x) => x.path === undefined || /^[.a-zA-Z0-9_-]*$/.test(x.path)));
});

test('names become KCIDB path components; the patchset hash follows the documented shell recipe', (t) => {
  t.is(pathComponent('uringlet-tests: setup and flag validation'), 'uringlet-tests.setup_and_flag_validation');
  t.is(pathComponent('uringlet-tests: TAP plan (3 of ? reported)'), 'uringlet-tests.TAP_plan_3_of_reported');
  t.is(pathComponent('iodepth_8'), 'iodepth_8');
  t.is(pathComponent('***'), '');

  const a = 'From 1 Mon\nSubject: [PATCH 1/2] a\n';
  const b = 'From 2 Mon\nSubject: [PATCH 2/2] b\n';
  const sha = (x: string) => createHash('sha256').update(x).digest('hex');
  // sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64
  t.is(patchsetHash([a, b]), sha(`${sha(a)}\n${sha(b)}\n`));
  t.is(patchsetHash([]), '');
  const r = toKcidb(summary(), { origin: 'uringlet', patchsetHash: patchsetHash([a, b]), urlBase: 'file:///srv/results/run1/' });
  t.is(r.checkouts.find((c) => c.id.endsWith('/uringlet'))?.patchset_hash, patchsetHash([a, b]));
  t.is(byPath(r, 'uringlet.boot')[0]?.log_url, 'file:///srv/results/run1/logs/default-stock-0.console.log', 'absolute with --url-base');
});

test('the validator accepts the hand-written sample and rejects each kind of breakage', (t) => {
  const good = JSON.parse(readFileSync(join(fixtures, 'kcidb', 'minimal-valid.json'), 'utf8')) as KcidbReport;
  t.deepEqual(validateKcidb(good), []);
  const broken = (f: (r: KcidbReport & Record<string, unknown>) => void): string[] => {
    const r = structuredClone(good) as KcidbReport & Record<string, unknown>;
    f(r);
    return validateKcidb(r);
  };
  t.regex(broken((r) => ((r.version as { major: number }).major = 5)).join('\n'), /version\.major/);
  t.regex(broken((r) => (r.tests[0]!.id = 'no-colon')).join('\n'), /id 'no-colon'/);
  t.regex(broken((r) => (r.tests[0]!.id = 'Upper:x')).join('\n'), /id 'Upper:x'/);
  t.regex(broken((r) => ((r.tests[0] as unknown as Record<string, unknown>)['result'] = 'PASS')).join('\n'), /unknown property 'result'/);
  t.regex(broken((r) => ((r.tests[0] as unknown as Record<string, unknown>)['status'] = 'OK')).join('\n'), /status 'OK'/);
  t.regex(broken((r) => (r.tests[0]!.path = 'uringlet.guest.has space')).join('\n'), /path/);
  t.regex(broken((r) => (r.tests[0]!.build_id = 'uringlet:nope')).join('\n'), /refers to build 'uringlet:nope'/);
  t.regex(broken((r) => (r.builds[0]!.checkout_id = 'uringlet:nope')).join('\n'), /refers to checkout/);
  t.regex(broken((r) => ((r.builds[0] as unknown as Record<string, unknown>)['compiler'] = null)).join('\n'), /null/);
  t.regex(broken((r) => (r.builds[0]!.architecture = 'x86-64')).join('\n'), /architecture/);
  t.regex(broken((r) => delete (r.builds[0] as unknown as Record<string, unknown>)['origin']).join('\n'), /lacks required 'origin'/);
  t.regex(broken((r) => r.tests.push({ ...r.tests[0]! })).join('\n'), /not unique/);
  t.regex(broken((r) => (r.tests[1]!.number = { value: 'x' as unknown as number })).join('\n'), /number\.value/);
  t.regex(broken((r) => (r.checkouts[0]!.git_commit_hash = 'abc')).join('\n'), /sha1/);
  t.regex(broken((r) => (r['extra'] = [])).join('\n'), /unknown top-level/);
});

test('the command writes the JSON atomically, collects build logs, and rejects bad input', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kcidb-cmd-'));
  const cache = join(root, 'cache');
  mkdirSync(cache);
  writeFileSync(join(cache, 'uringlet-build.log'), '  CC      io_uring/uringlet.o\n');
  writeFileSync(join(cache, '.config'), 'CONFIG_IO_URING=y\n');
  const s = summary({ uringletTestFail: true });
  const meta = { ...uringletMeta, artifacts: { ...uringletMeta.artifacts, log: join(cache, 'uringlet-build.log'), config: join(cache, '.config') } };
  s.kernels[1] = { ...s.kernels[1]!, build: meta as unknown as Record<string, unknown> };
  const dir = join(root, s.runId);
  mkdirSync(dir);
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(s));

  const out = join(dir, 'kcidb.json');
  const code = await quietly(() => kcidbCommand.run([dir, '--collect', '-o', out, '--patches', join(root, 'no-patches')]));
  t.is(code, 0);
  const r = JSON.parse(readFileSync(out, 'utf8')) as KcidbReport;
  t.deepEqual(validateKcidb(r), []);
  const ub = r.builds.find((b) => b.id.endsWith('/uringlet-default'))!;
  t.is(ub.log_url, 'builds/uringlet-default.log');
  t.is(ub.config_url, 'builds/uringlet-default.config');
  t.is(readFileSync(join(dir, 'builds', 'uringlet-default.log'), 'utf8'), '  CC      io_uring/uringlet.o\n');
  t.false(existsSync(join(dir, 'builds', 'stock-default.log')), 'stock metadata points at a log that does not exist');

  await t.throwsAsync(quietly(() => kcidbCommand.run([dir, '--origin', 'Not-Valid'])), { instanceOf: UserError, message: /origin/ });
  await t.throwsAsync(quietly(() => kcidbCommand.run([join(root, 'missing')])), { instanceOf: UserError, message: /missing/ });
  await t.throwsAsync(quietly(() => kcidbCommand.run([cache])), { instanceOf: UserError, message: /summary\.json/ });
  await t.throwsAsync(quietly(() => kcidbCommand.run([dir, '--url-base', 'not a url'])), { instanceOf: UserError });
});

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
}
