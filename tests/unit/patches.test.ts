// Series hygiene, the pure parts: checkpatch output (real output of 6.1's
// checkpatch.pl --strict in tests/fixtures/patches), what to build for a
// patch, warnings across incremental builds, cover letter surgery on the
// real cover letter and real format-patch output, file names, the table.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/lib/paths.ts';
import {
  baseCommitOf,
  buildDirs,
  comparableText,
  decideFileNames,
  diffSeries,
  mergeCoverLetter,
  nextWarnings,
  parseCheckpatch,
  patchMessage,
  patchVerdict,
  renderChanges,
  renderCheckTable,
  splitCoverLetter,
  subjectPrefix,
  touchedFiles,
  type CheckRow,
  type PatchInfo,
} from '../../scripts/lib/patches.ts';
import { summarizeRuns, type BootResult } from '../../scripts/lib/series-boot.ts';
import { parseTap } from '../../scripts/lib/tap.ts';

const fx = (f: string): string => readFileSync(join(repoRoot, 'tests/fixtures/patches', f), 'utf8');

test('checkpatch: counts from the total line, messages with type and place', (t) => {
  const r = parseCheckpatch(fx('checkpatch-bad-types.txt'));
  t.true(r.complete);
  t.deepEqual([r.errors, r.warnings, r.checks], [5, 1, 1]);
  t.is(r.messages.length, 7);
  t.deepEqual(r.messages[0], {
    level: 'CHECK',
    type: 'LINE_SPACING',
    message: 'Please use a blank line after function/struct/union/enum declarations',
    where: 'io_uring/nop.c:26',
  });
  t.true(r.messages.some((m) => m.level === 'WARNING' && m.where === 'io_uring/nop.c:27'));
});

test('checkpatch: without --show-types, and a clean patch', (t) => {
  const r = parseCheckpatch(fx('checkpatch-bad.txt'));
  t.deepEqual([r.errors, r.warnings, r.checks], [5, 1, 1]);
  t.is(r.messages[1]?.type, null);
  t.is(r.messages[1]?.message, "open brace '{' following function definitions go on the next line");
  const clean = parseCheckpatch(fx('checkpatch-clean.txt'));
  t.deepEqual([clean.errors, clean.warnings, clean.checks, clean.messages.length], [0, 0, 0, 0]);
  t.true(clean.complete);
});

test('checkpatch: no total line (it died) is incomplete and counted by hand', (t) => {
  const r = parseCheckpatch('ERROR: something\n#1: FILE: a.c:1:\nCan\'t locate Foo.pm in @INC\n');
  t.false(r.complete);
  t.is(r.errors, 1);
});

test('touched files: post-image names, deletions by their old name', (t) => {
  t.deepEqual(touchedFiles(fx('bad.patch')), ['io_uring/nop.c']);
  const p = 'diff --git a/io_uring/x.c b/io_uring/x.c\ndiff --git a/MAINTAINERS b/MAINTAINERS\ndiff --git a/kernel/old.c b/kernel/new.c\n';
  t.deepEqual(touchedFiles(p), ['MAINTAINERS', 'io_uring/x.c', 'kernel/new.c']);
});

test('build dirs: io_uring/ always, source dirs up to one with a Makefile, no headers or top-level files', (t) => {
  const makefiles = new Set(['kernel', 'arch/x86/kernel', 'fs', 'fs/ext4']);
  const has = (d: string): boolean => makefiles.has(d);
  t.deepEqual(buildDirs(['MAINTAINERS', 'include/linux/io_uring_types.h', 'io_uring/io-wq.c', 'io_uring/uringlet.h'], has), ['io_uring/']);
  t.deepEqual(buildDirs(['kernel/sysctl.c', 'arch/x86/kernel/setup.c', 'Documentation/x.rst', 'tools/a.c'], has), ['arch/x86/kernel/', 'io_uring/', 'kernel/']);
  t.deepEqual(buildDirs(['kernel/sched/core.c'], has), ['io_uring/', 'kernel/'], 'no Makefile in kernel/sched here: its parent');
  t.deepEqual(buildDirs(['fs/ext4/inode.c', 'fs/read_write.c'], has), ['fs/', 'io_uring/'], 'fs/ builds fs/ext4/');
});

const kbuild = (lines: string[]): string => lines.join('\n') + '\n';

test('warnings across incremental builds: added, kept for files not rebuilt, gone when fixed', (t) => {
  const base = [
    "../io_uring/rw.c:10:5: warning: no previous prototype for 'old' [-Wmissing-prototypes]",
    "../io_uring/net.c:3:1: warning: unused 'x' [-Wunused-variable]",
  ];
  const s0 = nextWarnings([], kbuild(['  CC      io_uring/rw.o', base[0] ?? '', '  CC      io_uring/net.o', base[1] ?? '']), []);
  t.deepEqual(s0.all, ["io_uring/net.c: unused 'x' [-Wunused-variable]", "io_uring/rw.c: no previous prototype for 'old' [-Wmissing-prototypes]"]);
  // Patch 1 touches nop.c (a new warning) and moves the rw.c warning to another line; net.c is not rebuilt.
  const s1 = nextWarnings(s0.all, kbuild([
    '  CC      io_uring/nop.o',
    "../io_uring/nop.c:26:5: warning: no previous prototype for 'io_bad' [-Wmissing-prototypes]",
    '  CC      io_uring/rw.o',
    "../io_uring/rw.c:12:5: warning: no previous prototype for 'old' [-Wmissing-prototypes]",
  ]), ['io_uring/nop.c', 'io_uring/rw.c']);
  t.deepEqual(s1.added, ["io_uring/nop.c: no previous prototype for 'io_bad' [-Wmissing-prototypes]"]);
  t.deepEqual(s1.removed, []);
  t.true(s1.all.includes("io_uring/net.c: unused 'x' [-Wunused-variable]"), 'a file not rebuilt keeps its warning');
  // Patch 2 fixes nop.c.
  const s2 = nextWarnings(s1.all, kbuild(['  CC      io_uring/nop.o']), ['io_uring/nop.c']);
  t.deepEqual(s2.added, []);
  t.deepEqual(s2.removed, ["io_uring/nop.c: no previous prototype for 'io_bad' [-Wmissing-prototypes]"]);
});

test('cover letter: the real one splits into subject, hand-written body and generated tail', (t) => {
  const c = splitCoverLetter(fx('cover-existing.patch'));
  t.is(c.subject, 'uringlet: submit io_uring requests from io-wq workers');
  t.true(c.body.startsWith('io_uring issues every request first from io_uring_enter() with'));
  t.true(c.body.endsWith("Base: Debian's linux-source-6.1 (6.1.192-2) imported as one commit."));
  t.true(c.tail.startsWith('uringlet developers (8):\n  io-wq: let a work'));
  t.regex(c.tail, /^base-commit: 9eba971967307811e93ef7bd4e832d49dd1f4a41$/m);
  t.is(baseCommitOf(fx('cover-existing.patch')), '9eba971967307811e93ef7bd4e832d49dd1f4a41');
  t.true(c.headers.some((h) => h.startsWith('Date: ')));
});

test('cover letter: git placeholders replaced by the kept subject and body; new shortlog, diffstat, range-diff, base', (t) => {
  const merged = mergeCoverLetter(fx('cover-existing.patch'), fx('cover-generated-range-diff.patch'));
  const lines = merged.split('\n');
  t.is(lines[0], 'From 322b2d9250cfc98b3f3d06a4882acb713f0e1cf2 Mon Sep 17 00:00:00 2001');
  t.true(lines.includes('Subject: [RFC PATCH v2 0/2] uringlet: submit io_uring requests from io-wq workers'));
  t.false(merged.includes('*** SUBJECT HERE ***'));
  t.false(merged.includes('*** BLURB HERE ***'));
  t.true(merged.includes('\n\nio_uring issues every request first from io_uring_enter() with\n'));
  t.true(merged.includes("imported as one commit.\n\nuringlet developers (2):\n  io_uring: add b\n  io_uring: add g\n"));
  t.false(merged.includes('uringlet developers (8):'), 'the old shortlog is gone');
  t.regex(merged, /\nRange-diff:\n1: {2}210bbb5 = 1: {2}210bbb5 io_uring: add b\n/);
  t.is(baseCommitOf(merged), '5f0e7fa50b3ac6d40501a3fe8a23afcae2726eee');
  t.true(merged.endsWith('-- \n2.39.5\n\n'), 'git\'s tail verbatim');
  // Merging again (a refresh of a refreshed cover) changes nothing.
  t.is(mergeCoverLetter(merged, fx('cover-generated-range-diff.patch')), merged);
  // The merged one splits back into the same body.
  t.is(splitCoverLetter(merged).body, splitCoverLetter(fx('cover-existing.patch')).body);
});

test('cover letter: a folded subject, extra headers kept, and an empty old body leaves the placeholder', (t) => {
  const old = [
    'From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001',
    'From: A <a@x.invalid>',
    'Date: Tue, 1 Dec 2026 00:00:00 +0000',
    'Subject: [RFC PATCH 0/3] a very long cover letter subject that git folds onto',
    ' the next header line',
    'Cc: someone@x.invalid',
    '',
    'Body line.',
    '',
    'A (3):',
    '  x',
    '',
    ' f | 1 +',
    ' 1 file changed, 1 insertion(+)',
    '',
    'base-commit: 1111111111111111111111111111111111111111',
    '-- ',
    '2.39.5',
    '',
  ].join('\n');
  const merged = mergeCoverLetter(old, fx('cover-generated.patch'));
  t.true(merged.includes('Subject: [RFC PATCH 0/2] a very long cover letter subject that git folds onto\n the next header line\nCc: someone@x.invalid\n\nBody line.\n\nuringlet developers (2):'));
  const noBody = mergeCoverLetter(old.replace('Body line.\n\n', ''), fx('cover-generated.patch'));
  t.true(noBody.includes('\n\n*** BLURB HERE ***\n\nuringlet developers (2):'));
});

test('comparable text ignores the mbox From line and the Date header only', (t) => {
  const a = fx('cover-generated.patch');
  const b = a.replace(/^Date: .*$/m, 'Date: Wed, 2 Dec 2026 00:00:00 +0000').replace(/^From [0-9a-f]{40}/, 'From ' + 'a'.repeat(40));
  t.is(comparableText(a), comparableText(b));
  t.not(comparableText(a), comparableText(a.replace('io_uring: add g', 'io_uring: add h')));
});

test('patch message: between the headers and ---', (t) => {
  t.is(patchMessage(fx('bad.patch')), 'It is bad.\n\nSigned-off-by: uringlet developers <dev@uringlet.invalid>');
});

test('file names: unchanged subject at the same place keeps its name; moved, new and renamed ones get git names', (t) => {
  const old = [
    { file: '0001-io_uring-a-hand-picked-name.patch', subject: 'io_uring: add a' },
    { file: '0002-io_uring-add-b.patch', subject: 'io_uring: add b' },
    { file: '0003-io_uring-add-c.patch', subject: 'io_uring: add c' },
  ];
  const gen = [
    { file: '0001-io_uring-add-a.patch', subject: 'io_uring: add a' },
    { file: '0002-io_uring-add-c.patch', subject: 'io_uring: add c' },
    { file: '0003-io_uring-add-d.patch', subject: 'io_uring: add d' },
  ];
  t.deepEqual(decideFileNames(old, gen, false), ['0001-io_uring-a-hand-picked-name.patch', '0002-io_uring-add-c.patch', '0003-io_uring-add-d.patch']);
  // With a series file, order lives there: a known subject keeps its name wherever it goes.
  t.deepEqual(decideFileNames(old, gen, true), ['0001-io_uring-a-hand-picked-name.patch', '0003-io_uring-add-c.patch', '0003-io_uring-add-d.patch']);
  // Two subjects with the same slug: git's name for the new one would collide with the kept one.
  const clash = decideFileNames(
    [{ file: '0002-io_uring-add-x.patch', subject: 'io_uring: add x' }],
    [{ file: '0001-io_uring-add-x.patch', subject: 'io_uring: add x' }, { file: '0002-io_uring-add-x.patch', subject: 'io_uring: add x!' }],
    true,
  );
  t.deepEqual(clash, ['0002-io_uring-add-x.patch', '0002-io_uring-add-x-2.patch']);
});

const info = (file: string, subject: string, patchId: string, message = 'm'): PatchInfo => ({ file, subject, patchId, message });

test('what a refresh changed: added, removed, modified (code or message), moved, unchanged', (t) => {
  const old = [info('0001-a.patch', 'a', '1'), info('0002-b.patch', 'b', '2'), info('0003-c.patch', 'c', '3'), info('0004-d.patch', 'd', '4')];
  const now = [info('0001-a.patch', 'a', '1'), info('0002-c.patch', 'c', '3'), info('0003-b.patch', 'b', '2', 'new message'), info('0004-e.patch', 'e', '5')];
  const c = diffSeries(old, now);
  t.deepEqual(c.added, ['e']);
  t.deepEqual(c.removed, ['d']);
  t.deepEqual(c.modified, [{ subject: 'b', from: '0002-b.patch', to: '0003-b.patch', code: false, message: true }]);
  t.deepEqual(c.moved, [{ subject: 'c', from: '0003-c.patch', to: '0002-c.patch' }]);
  t.is(c.unchanged, 1);
  const text = renderChanges(c).join('\n');
  t.regex(text, /added {5}e/);
  t.regex(text, /modified {2}b \(message; 0002-b\.patch -> 0003-b\.patch\)/);
  t.regex(text, /1 unchanged/);
  t.deepEqual(diffSeries(old, old), { added: [], removed: [], modified: [], moved: [], unchanged: 4 });
});

test('subject prefix: v1 is unmarked, later versions carry vN', (t) => {
  t.is(subjectPrefix(1), 'RFC PATCH');
  t.is(subjectPrefix(3), 'RFC PATCH v3');
});

function row(over: Partial<CheckRow>): CheckRow {
  const r = {
    index: 1,
    file: '0001-io-wq-let-a-work-hand-itself-to-another-worker-when-.patch',
    subject: 's',
    applies: true,
    builds: true,
    buildSec: 1,
    buildErrors: [],
    checkpatch: parseCheckpatch(fx('checkpatch-clean.txt')),
    newWarnings: [],
    commit: null,
    boot: null,
    ...over,
  };
  const reasons = patchVerdict(r);
  return { ...r, ok: reasons.length === 0, reasons };
}

test('verdict: a clean patch passes; apply, build, checkpatch (checks too) and new warnings fail it', (t) => {
  t.deepEqual(row({}).reasons, []);
  t.deepEqual(row({ applies: false, builds: null, newWarnings: null }).reasons, ['does not apply']);
  t.deepEqual(
    row({ applies: false, applyFailure: { file: 'io_uring/io-wq.c', line: 512 }, builds: null, newWarnings: null }).reasons,
    ['does not apply: io_uring/io-wq.c, hunk at line 512'],
    'the file and hunk that did not apply, when git apply -v named them',
  );
  t.deepEqual(row({ applies: null, builds: null, newWarnings: null }).reasons, ['not applied (an earlier patch did not apply)']);
  t.deepEqual(row({ builds: false }).reasons, ['does not build']);
  t.deepEqual(row({ checkpatch: parseCheckpatch('total: 0 errors, 0 warnings, 2 checks, 10 lines checked\n') }).reasons, ['checkpatch: 0 errors, 0 warnings, 2 checks']);
  t.deepEqual(row({ newWarnings: ['io_uring/x.c: w'] }).reasons, ['1 new build warnings']);
  t.deepEqual(row({ builds: null, newWarnings: null }).reasons, [], '--no-build: not built is not a failure');
});

test('table: one row per patch, failures detailed under it', (t) => {
  const rows = [
    row({}),
    row({ index: 2, file: '0002-bad.patch', checkpatch: parseCheckpatch(fx('checkpatch-bad-types.txt')), newWarnings: ["io_uring/nop.c: no previous prototype for 'io_bad' [-Wmissing-prototypes]"] }),
    row({ index: 3, file: '0003-x.patch', applies: false, builds: null, newWarnings: null }),
  ];
  const text = renderCheckTable(rows);
  const lines = text.split('\n');
  t.regex(lines[0] ?? '', /^# +patch +applies +builds +checkpatch E\/W\/C +new warnings +result$/);
  t.regex(lines[2] ?? '', /^1 +0001-io-wq-let-a-work-hand-itself-to-another-worker-when-\.patch +yes +yes +0\/0\/0 +0 +ok$/);
  t.regex(lines[3] ?? '', /^2 +0002-bad\.patch +yes +yes +5\/1\/1 +1 +FAIL$/);
  t.regex(lines[4] ?? '', /^3 +0003-x\.patch +NO +- +0\/0\/0 +- +FAIL$/);
  t.regex(text, /2 0002-bad\.patch: checkpatch: 5 errors, 1 warnings, 1 checks; 1 new build warnings/);
  t.regex(text, /ERROR:OPEN_BRACE: open brace/);
  t.regex(text, /warning: io_uring\/nop\.c: no previous prototype/);
});

const booted = (over: Partial<BootResult>): BootResult => ({ builds: true, kernelFailure: null, passed: 30, failed: 0, skipped: 3, failedTests: [], sec: 80, ...over });

test('boot: a commit whose kernel crashes or whose guest tests fail fails the check; the table gains a boot column', (t) => {
  t.deepEqual(row({ boot: booted({}) }).reasons, []);
  t.deepEqual(row({ boot: booted({ builds: false, passed: 0, skipped: 0 }) }).reasons, ['bzImage does not build']);
  t.deepEqual(row({ boot: booted({ failed: 2, failedTests: ['links: drain after link', 'cancel: no plan'] }) }).reasons, ['2 guest tests fail']);
  const panic = { type: 'panic' as const, title: 'Kernel panic - not syncing: Fatal exception', details: ['RIP: io_wq_worker_sleeping+0x12/0x40', 'Call Trace:'], log: '/runs/x/console.log' };
  t.deepEqual(row({ boot: booted({ kernelFailure: panic, failed: 1, failedTests: ['nops: 3 of 5 planned results (exit signal)'] }) }).reasons, [
    'kernel failure: panic: Kernel panic - not syncing: Fatal exception',
    '1 guest test fail',
  ]);

  const plain = renderCheckTable([row({})]);
  t.notRegex(plain, /boot/, 'no boot column without --boot');
  const text = renderCheckTable([
    row({ boot: booted({}) }),
    row({ index: 2, file: '0002-x.patch', boot: booted({ failed: 1, failedTests: ['links: drain after link'] }) }),
    row({ index: 3, file: '0003-y.patch', boot: booted({ kernelFailure: panic }) }),
    row({ index: 4, file: '0004-z.patch', applies: false, builds: null, newWarnings: null }),
  ]);
  const lines = text.split('\n');
  t.regex(lines[0] ?? '', /new warnings +boot\+tests +result$/);
  t.regex(lines[2] ?? '', / 0 +ok 30 +ok$/);
  t.regex(lines[3] ?? '', / 0 +1 FAIL +FAIL$/);
  t.regex(lines[4] ?? '', / 0 +PANIC +FAIL$/);
  t.regex(lines[5] ?? '', / - +- +FAIL$/);
  t.regex(text, /test: links: drain after link/);
  t.regex(text, /> RIP: io_wq_worker_sleeping/);
  t.regex(text, /console: \/runs\/x\/console\.log/);
});

test('boot: guest runs are summed; a program that died part way or printed no plan counts as a failure', (t) => {
  const tap = (text: string): ReturnType<typeof parseTap> => parseTap(text);
  const s = summarizeRuns([
    { program: 'uringlet-tests', tap: tap('1..3\nok 1 setup: flag accepted\nok 2 nops: 100 NOPs # SKIP stock\nnot ok 3 links: drain\n'), output: '', exitCode: 1 },
    { program: 'other', tap: tap('1..4\nok 1 a\n'), output: '', exitCode: null },
    { program: 'third', tap: tap('Segmentation fault\n'), output: '', exitCode: 139 },
  ]);
  t.deepEqual(s, {
    passed: 2,
    failed: 3,
    skipped: 1,
    failedTests: ['uringlet-tests: links: drain', 'other: 1 of 4 planned results (exit signal)', 'third: no TAP plan (exit 139)'],
  });
});
