// Pure parts of the kernel pipeline, against fixtures.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { patchSubject, seriesOrder, failedHunk, readSeries } from '../../scripts/lib/series.ts';
import { parseFragment, missingOptions } from '../../scripts/lib/kconfig.ts';
import { missingPackages, aptInstallCommand } from '../../scripts/lib/host.ts';
import { parseWarnings, firstErrors } from '../../scripts/lib/kbuild.ts';
import { parseTap } from '../../scripts/lib/tap.ts';
import { UserError } from '../../scripts/lib/errors.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';

const fx = (f: string): string => readFileSync(join(repoRoot, 'tests/fixtures/kernel', f), 'utf8');

test('patch subject: unfolded, without the [PATCH n/m] prefix', (t) => {
  t.is(patchSubject(fx('good.patch')), 'io_uring: show uringlet state in fdinfo');
  t.is(patchSubject('Subject: [RFC PATCH 3/8] io_uring: a long\n subject line\n\nbody'), 'io_uring: a long subject line');
  t.is(patchSubject('no header'), '(no subject)');
});

test('series order: sorted patches without the cover letter, or the series file', (t) => {
  const files = ['0002-b.patch', '0000-cover-letter.patch', '0001-a.patch', 'README', 'series'];
  t.deepEqual(seriesOrder(files, undefined), ['0001-a.patch', '0002-b.patch']);
  t.deepEqual(seriesOrder(files, '# order\n0002-b.patch\n\n0001-a.patch # first\n'), ['0002-b.patch', '0001-a.patch']);
  const e = t.throws(() => seriesOrder(files, '0003-c.patch\n'));
  t.true(e instanceof UserError);
  t.regex(e?.message ?? '', /0003-c\.patch/);
});

test('the series in patches/ parses, cover letter excluded, hash stable', (t) => {
  const a = readSeries(join(repoRoot, 'patches'));
  const b = readSeries(join(repoRoot, 'patches'));
  t.true(a.patches.length >= 1);
  t.false(a.patches.some((p) => p.file.startsWith('0000-')));
  t.is(a.hash, b.hash);
  t.true(a.patches.every((p) => p.subject !== '(no subject)'));
});

test('a failed git am names the file and hunk', (t) => {
  const lines = failedHunk(fx('am-fail.txt'));
  t.true(lines.some((l) => l.includes('patch failed: io_uring/fdinfo.c:150')));
  t.true(lines.some((l) => l.includes('while searching for')));
  t.false(lines.some((l) => l.startsWith('hint:')));
});

test('config fragments: y, n, values, "is not set"; missing options named', (t) => {
  const req = parseFragment(fx('request.config'));
  t.is(req.get('CONFIG_KASAN'), 'n');
  t.is(req.get('CONFIG_SLOB'), 'n');
  t.is(req.get('CONFIG_NR_CPUS'), '64');
  const missing = missingOptions(req, fx('final.config'));
  t.deepEqual(missing, ['CONFIG_XFS_FS=y (got unset)']);
  t.throws(() => parseFragment('CONFIG_OK=y\nnot a config line\n'), { instanceOf: UserError });
});

test('host packages: missing tools map to their packages, deduplicated', (t) => {
  const tools = [
    { check: 'ssh', package: 'openssh-client', for: 'x' },
    { check: 'ssh-keygen', package: 'openssh-client', for: 'y' },
    { check: 'gcc', package: 'gcc', for: 'z' },
  ];
  t.deepEqual(missingPackages(tools, (c) => c === 'gcc'), ['openssh-client']);
  t.deepEqual(missingPackages(tools, () => true), []);
  t.regex(aptInstallCommand(['a', 'b']), /apt-get install -y --no-install-recommends a b$/);
});

test('build log: warnings normalised, first error with context', (t) => {
  t.deepEqual(parseWarnings(fx('build.log')), ["../io_uring/uringlet.c: unused variable 'x' [-Wunused-variable]"]);
  const err = firstErrors(fx('build.log'));
  t.true(err.some((l) => l.includes("implicit declaration of function 'foo'")));
});

test('TAP: results, skips, plan, diagnostics', (t) => {
  const r = parseTap('TAP version 13\n# kernel mode: uringlet\nok 1 setup # ret 0\nnot ok 2 worker cap # max 3\nok 3 fork # SKIP no uringlet\n1..3\n');
  t.is(r.tests.length, 3);
  t.is(r.failed, 1);
  t.is(r.skipped, 1);
  t.is(r.passed, 1);
  t.false(r.ok);
  t.deepEqual(r.diagnostics, ['kernel mode: uringlet']);
  t.is(r.tests[1]?.comment, 'max 3');
  t.false(parseTap('ok 1 a\n').ok, 'no plan: not ok');
  t.false(parseTap('ok 1 a\n1..2\n').ok, 'plan mismatch: not ok');
});
