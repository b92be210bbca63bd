// Series parsing and ordering against real `git format-patch` output
// (tests/fixtures/kernel/series-v2: --cover-letter -v2 --base, a folded and a
// MIME-encoded subject), real `git am` / `git apply -v` failures, and the
// decision of when the managed tree is (not) touched.
import test from 'ava';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';
import { decideApply, decodeMimeWords, parseApplyFailure, patchIds, patchSubject, readSeries, seriesOrder, type TreeState } from '../../scripts/lib/series.ts';

const fxDir = join(repoRoot, 'tests/fixtures/kernel');
const fx = (f: string): string => readFileSync(join(fxDir, f), 'utf8');

test('subjects of real format-patch files: prefix dropped, folded header joined, MIME words decoded', (t) => {
  t.is(patchSubject(fx('series-v2/v2-0001-io_uring-add-b-to-f.patch')), 'io_uring: add b to f');
  t.is(
    patchSubject(fx('series-v2/v2-0002-io_uring-a-deliberately-long-subject-line-that-gi.patch')),
    'io_uring: a deliberately long subject line that git format-patch folds onto a second header line because it is long',
  );
  t.is(patchSubject(fx('series-v2/v2-0003-io_uring-na-ve-caf-support.patch')), 'io_uring: naïve café support ✓');
  t.is(patchSubject(fx('good.patch')), 'io_uring: show uringlet state in fdinfo');
  t.is(patchSubject('no header'), '(no subject)');
  t.is(decodeMimeWords('=?UTF-8?b?Y2Fmw6k=?= au lait'), 'café au lait');
});

test('a subject line in the body is not the subject', (t) => {
  t.is(patchSubject('From: a\nSubject: [PATCH] real\n\nSubject: not this one\n'), 'real');
});

test('series order: sorted patches without the cover letter (also v2-0000), or the series file', (t) => {
  const files = ['0002-b.patch', '0000-cover-letter.patch', 'v3-0000-cover-letter.patch', '0001-a.patch', 'README', 'series'];
  t.deepEqual(seriesOrder(files, undefined), ['0001-a.patch', '0002-b.patch']);
  t.deepEqual(seriesOrder(files, '# order\n0002-b.patch -p1\n\n0001-a.patch # first\n'), ['0002-b.patch', '0001-a.patch']);
  const missing = t.throws(() => seriesOrder(files, '0003-c.patch\n'), { instanceOf: UserError });
  t.regex(missing?.message ?? '', /0003-c\.patch/);
  t.throws(() => seriesOrder(files, '0001-a.patch\n0001-a.patch\n'), { instanceOf: UserError, message: /twice/ });
});

test('a real v2 series reads in order, cover letter excluded; the hash follows content and order', (t) => {
  const s = readSeries(join(fxDir, 'series-v2'));
  t.deepEqual(s.patches.map((p) => p.file), [
    'v2-0001-io_uring-add-b-to-f.patch',
    'v2-0002-io_uring-a-deliberately-long-subject-line-that-gi.patch',
    'v2-0003-io_uring-na-ve-caf-support.patch',
  ]);
  t.is(readSeries(join(fxDir, 'series-v2')).hash, s.hash, 'stable');
  const copy = mkdtempSync(join(tmpdir(), 'uringlet-series-'));
  cpSync(join(fxDir, 'series-v2'), copy, { recursive: true });
  writeFileSync(join(copy, 'series'), 'v2-0002-io_uring-a-deliberately-long-subject-line-that-gi.patch\nv2-0001-io_uring-add-b-to-f.patch\n');
  t.not(readSeries(copy).hash, s.hash, 'order is part of the identity');
  writeFileSync(join(copy, 'series'), s.patches.map((p) => p.file).join('\n'));
  t.is(readSeries(copy).hash, s.hash);
  const f = join(copy, 'v2-0001-io_uring-add-b-to-f.patch');
  writeFileSync(f, readFileSync(f, 'utf8').replace('Body of the first patch.', 'Body, edited.'));
  t.not(readSeries(copy).hash, s.hash, 'content is part of the identity');
  t.deepEqual(readSeries(join(copy, 'nonexistent')).patches, [], 'no patches/ directory: empty series');
});

test('the series in patches/ parses: subjects present, no cover letter', (t) => {
  const a = readSeries(join(repoRoot, 'patches'));
  t.false(a.patches.some((p) => /0000-cover-letter/.test(p.file)));
  t.true(a.patches.every((p) => p.subject !== '(no subject)' && !p.subject.startsWith('[')));
});

test('a failed apply names the file and hunk line and shows the context git could not find', (t) => {
  const f = parseApplyFailure(fx('am-fail-context.txt'));
  t.is(f.file, 'io_uring/fdinfo.c');
  t.is(f.line, 1);
  t.true(f.lines.includes('error: while searching for:'));
  t.true(f.lines.includes('    \treturn a;'), f.lines.join('\n'));
  t.true(f.lines.some((l) => l.startsWith('Patch failed at 0001')));
  t.false(f.lines.some((l) => l.startsWith('hint:') || l.startsWith('When you have resolved')));
  const old = parseApplyFailure(fx('am-fail.txt'));
  t.is(old.file, 'io_uring/fdinfo.c');
  t.is(old.line, 150);
});

test('a patch against a file the tree does not have names that file', (t) => {
  const f = parseApplyFailure(fx('am-fail-missing-file.txt'));
  t.is(f.file, 'io_uring/fdinfo.c');
  t.is(f.line, null);
  t.true(f.lines.some((l) => l.includes('does not exist in index')));
});

test('patch-ids are read from git patch-id output', (t) => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  t.deepEqual(patchIds(`${a} ${'0'.repeat(40)}\n${b} ${'1'.repeat(40)}\n\n`), [a, b]);
});

const state = (o: Partial<TreeState>): TreeState => ({ stamp: null, head: 'base', base: 'base', dirty: [], holdsSeries: false, ...o });
const stamp = { hash: 'H1', commit: 'c1', branch: 'uringlet', patches: [] };

test('same series as last applied: the tree is never touched, even with local commits or edits', (t) => {
  t.deepEqual(decideApply('H1', state({ stamp, head: 'c1' })), { action: 'unchanged', moved: false });
  t.deepEqual(decideApply('H1', state({ stamp, head: 'c9', dirty: ['io_uring/io_uring.c'] })), { action: 'unchanged', moved: true });
});

test('patches/ regenerated from the tree (same patch-ids): adopted, not re-applied', (t) => {
  t.deepEqual(decideApply('H2', state({ stamp, head: 'c9', holdsSeries: true })), { action: 'adopt' });
  t.deepEqual(decideApply('H2', state({ head: 'c9', holdsSeries: true, dirty: ['x.c'] })), { action: 'adopt' }, 'no stamp yet (a hand-made tree)');
});

test('patches/ changed: uncommitted work is refused, local commits are backed up, our own state is replaced', (t) => {
  t.deepEqual(decideApply('H2', state({ stamp, head: 'c1', dirty: ['io_uring/io-wq.c'] })), { action: 'refuse-dirty', files: ['io_uring/io-wq.c'] });
  t.deepEqual(decideApply('H2', state({ stamp, head: 'c1' })), { action: 'apply', backup: false });
  t.deepEqual(decideApply('H2', state({ stamp, head: 'base' })), { action: 'apply', backup: false });
  t.deepEqual(decideApply('H2', state({ stamp, head: 'c9' })), { action: 'apply', backup: true });
  t.deepEqual(decideApply('H2', state({ head: 'c9' })), { action: 'apply', backup: true });
});
