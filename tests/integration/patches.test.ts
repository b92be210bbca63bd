// `patches refresh|check|export` with real git on a tiny fake kernel (a
// Makefile that compiles <dir>/*.c with gcc, a fake checkpatch.pl), in a
// private cache: runs in seconds, no kernel build.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { fragmentFiles, fragmentsHash } from '../../scripts/lib/kconfig.ts';
import { BASE_TAG, gitIdentityEnv, kernelSource, worktree, type KernelSource } from '../../scripts/lib/kernel-source.ts';
import { checkPatches, exportPatches, refreshPatches, splitCoverLetter } from '../../scripts/lib/patches.ts';
import { readSeries } from '../../scripts/lib/series.ts';
import { runOk } from '../../scripts/lib/proc.ts';

const scratch = mkdtempSync(join(tmpdir(), 'uringlet-patches-'));
process.env.URINGLET_CACHE = join(scratch, 'cache');
process.env.URINGLET_QUIET = '1';

const git = async (dir: string, args: string[]): Promise<string> => (await runOk('git', ['-C', dir, ...args], { env: gitIdentityEnv })).stdout.trim();

const MAKEFILE = `# A fake Kbuild: make O=DIR [W=1] <dir>/ compiles <dir>/*.c
O ?= .
CC ?= gcc
EXTRA := $(if $(W),-Wmissing-prototypes,)
olddefconfig:
\t@test -f $(O)/.config
io_uring/ kernel/: FORCE
\t@for f in $(wildcard $@*.c); do o=$(O)/$\${f%.c}.o; mkdir -p $$(dirname $$o); echo "  CC      $\${f%.c}.o"; $(CC) -c -Wall $(EXTRA) -o $$o $$f || exit 1; done
FORCE:
.PHONY: olddefconfig FORCE
`;

const CHECKPATCH = `#!/usr/bin/perl
# fake checkpatch: a WARNING per added line with XXX
my $f = $ARGV[-1];
open(my $h, '<', $f) or die "cannot open $f";
my ($w, $n) = (0, 0);
while (<$h>) {
  $n++;
  if (/^\\+.*XXX/) { print "WARNING:TODO: XXX marker\\n#$n: FILE: io_uring/nop.c:1:\\n$_\\n"; $w++; }
}
print "total: 0 errors, $w warnings, 0 checks, $n lines checked\\n";
`;

async function fakeKernel(dir: string): Promise<void> {
  mkdirSync(join(dir, 'io_uring'), { recursive: true });
  mkdirSync(join(dir, 'kernel'), { recursive: true });
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'Makefile'), MAKEFILE);
  writeFileSync(join(dir, 'io_uring', 'Makefile'), 'obj-y += nop.o\n');
  writeFileSync(join(dir, 'kernel', 'Makefile'), 'obj-y += sys.o\n');
  writeFileSync(join(dir, 'io_uring', 'nop.c'), 'int io_nop(int a);\nint io_nop(int a)\n{\n\treturn a;\n}\n');
  writeFileSync(join(dir, 'kernel', 'sys.c'), 'int sys_x(void);\nint sys_x(void)\n{\n\treturn 0;\n}\n');
  writeFileSync(join(dir, 'scripts', 'checkpatch.pl'), CHECKPATCH);
  writeFileSync(join(dir, 'MAINTAINERS'), 'IO_URING\n');
  await runOk('git', ['init', '-q', '-b', 'main', dir]);
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '-m', 'Linux 6.1 (fake)']);
}

const COVER = `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: uringlet developers <dev@uringlet.invalid>
Date: Tue, 24 Nov 2026 16:04:45 +0000
Subject: [RFC PATCH 0/9] uringlet: a fake series

Hand-written motivation.

Second paragraph.

uringlet developers (9):
  old shortlog

 old | 1 +
 1 file changed, 1 insertion(+)


base-commit: 0000000000000000000000000000000000000000
-- 
2.39.5

`;

async function commit(tree: string, file: string, text: string, subject: string, body = 'Body.\n\nSigned-off-by: uringlet developers <dev@uringlet.invalid>'): Promise<void> {
  writeFileSync(join(tree, file), text);
  await git(tree, ['add', file]);
  await git(tree, ['commit', '-q', '-m', `${subject}\n\n${body}`]);
}

let source: KernelSource;
let tree: string;
const kdir = join(scratch, 'linux');
const kernelSrc = { kernelSrc: kdir };

test.before(async () => {
  await fakeKernel(kdir);
  source = await kernelSource(kernelSrc);
  tree = await worktree(source, 'uringlet');
  await git(tree, ['checkout', '-q', '-b', 'uringlet']);
  await commit(tree, 'io_uring/nop.c', 'int io_nop(int a);\nint io_nop(int a)\n{\n\treturn a + 1;\n}\n', 'io_uring: nop returns a + 1');
  await commit(tree, 'kernel/sys.c', 'int sys_x(void);\nint sys_x(void)\n{\n\treturn 1;\n}\n', 'kernel: sys_x returns 1');
});

test.serial('refresh: the tree back into patches/, cover body kept, a no-op the second time, changes reported', async (t) => {
  const pdir = join(scratch, 'patches');
  mkdirSync(pdir);
  writeFileSync(join(pdir, '0000-cover-letter.patch'), COVER);
  writeFileSync(join(pdir, 'README'), 'kept\n');
  const r = await refreshPatches({ ...kernelSrc, patchesDir: pdir });
  t.true(r.written);
  t.deepEqual(r.files, ['0001-io_uring-nop-returns-a-1.patch', '0002-kernel-sys_x-returns-1.patch']);
  t.deepEqual(r.changes.added, ['io_uring: nop returns a + 1', 'kernel: sys_x returns 1']);
  t.deepEqual(readdirSync(pdir).sort(), ['0000-cover-letter.patch', '0001-io_uring-nop-returns-a-1.patch', '0002-kernel-sys_x-returns-1.patch', 'README']);
  const cover = readFileSync(join(pdir, '0000-cover-letter.patch'), 'utf8');
  t.regex(cover, /^Subject: \[RFC PATCH 0\/2\] uringlet: a fake series$/m);
  t.true(cover.includes('\n\nHand-written motivation.\n\nSecond paragraph.\n\nuringlet developers (2):\n  io_uring: nop returns a + 1\n  kernel: sys_x returns 1\n'));
  t.regex(cover, new RegExp(`^base-commit: ${source.baseCommit}$`, 'm'));
  t.regex(readFileSync(join(pdir, '0001-io_uring-nop-returns-a-1.patch'), 'utf8'), /^Subject: \[RFC PATCH 1\/2\] io_uring: nop returns a \+ 1$/m);
  t.is(readFileSync(join(pdir, 'README'), 'utf8'), 'kept\n');
  t.deepEqual(readdirSync(scratch).filter((f) => f.startsWith('.patches')), [], 'no staging directory left');

  const again = await refreshPatches({ ...kernelSrc, patchesDir: pdir });
  t.false(again.written, 'nothing changed: nothing written');
  t.is(again.changes.unchanged, 2);

  // Edit patch 2 (amend), add a third; the range-diff summary shows it.
  await commit(tree, 'kernel/sys.c', 'int sys_x(void);\nint sys_x(void)\n{\n\treturn 2;\n}\n', 'kernel: sys_x returns 1');
  await git(tree, ['reset', '-q', '--soft', 'HEAD~2']);
  await git(tree, ['commit', '-q', '-m', 'kernel: sys_x returns 1\n\nBody.\n\nSigned-off-by: uringlet developers <dev@uringlet.invalid>']);
  await commit(tree, 'io_uring/nop.c', 'int io_nop(int a);\nint io_nop(int a)\n{\n\treturn a + 2;\n}\n', 'io_uring: nop returns a + 2');
  const r3 = await refreshPatches({ ...kernelSrc, patchesDir: pdir });
  t.true(r3.written);
  t.deepEqual(r3.changes.added, ['io_uring: nop returns a + 2']);
  t.deepEqual(r3.changes.modified.map((m) => [m.subject, m.code, m.message]), [['kernel: sys_x returns 1', true, false]]);
  t.is(r3.changes.unchanged, 1);
  t.true(r3.rangeDiff.some((l) => /^1: +[0-9a-f]+ = 1: +[0-9a-f]+ io_uring: nop returns a \+ 1$/.test(l)), r3.rangeDiff.join('\n'));
  t.true(r3.rangeDiff.some((l) => /^2: +[0-9a-f]+ ! 2: +[0-9a-f]+ kernel: sys_x returns 1$/.test(l)), r3.rangeDiff.join('\n'));
  t.true(r3.rangeDiff.some((l) => /^-: +-+ > 3: +[0-9a-f]+ io_uring: nop returns a \+ 2$/.test(l)), r3.rangeDiff.join('\n'));
  t.is(readSeries(pdir).patches.length, 3);
  t.is(splitCoverLetter(readFileSync(join(pdir, '0000-cover-letter.patch'), 'utf8')).body, 'Hand-written motivation.\n\nSecond paragraph.');

  // Uncommitted changes: refused, patches/ untouched.
  writeFileSync(join(tree, 'io_uring', 'nop.c'), 'edited\n');
  const before = readdirSync(pdir).map((f) => readFileSync(join(pdir, f), 'utf8'));
  await t.throwsAsync(refreshPatches({ ...kernelSrc, patchesDir: pdir }), { instanceOf: UserError, message: /uncommitted changes/ });
  t.deepEqual(readdirSync(pdir).map((f) => readFileSync(join(pdir, f), 'utf8')), before);
  await git(tree, ['checkout', '-q', '--', 'io_uring/nop.c']);
});

test.serial('check: applies, checkpatch, incremental builds with W=1 on io_uring/; failures named per patch', async (t) => {
  // A series of its own: one good patch, one with a checkpatch warning and a new W=1 warning, one that does not build.
  const wt = join(scratch, 'series-tree');
  await git(source.repo, ['worktree', 'add', '-q', '--detach', wt, BASE_TAG]);
  await commit(wt, 'kernel/sys.c', 'int sys_x(void);\nint sys_x(void)\n{\n\treturn 3;\n}\n', 'kernel: sys_x returns 3');
  await commit(wt, 'io_uring/nop.c', 'int io_nop(int a);\nint io_nop(int a)\n{\n\treturn a; /* XXX */\n}\nint io_new(void)\n{\n\treturn 0;\n}\n', 'io_uring: add io_new');
  await commit(wt, 'io_uring/nop.c', 'int io_nop(int a)\n{\n\treturn a\n}\n', 'io_uring: break the build');
  const pdir = join(scratch, 'check-patches');
  await runOk('git', ['-C', wt, 'format-patch', '-q', '-o', pdir, `${BASE_TAG}..HEAD`]);
  // The config comes from the uringlet default build (as kbuild leaves it).
  mkdirSync(join(tree, '.o-default'), { recursive: true });
  writeFileSync(join(tree, '.o-default', '.config'), 'CONFIG_FAKE=y\n');
  writeFileSync(join(tree, '.o-default', '.uringlet-config-stamp'), fragmentsHash(fragmentFiles('default')));
  const treeHead = await git(tree, ['rev-parse', 'HEAD']);

  const json = join(scratch, 'check.json');
  const r = await checkPatches({ ...kernelSrc, patchesDir: pdir, jsonPath: json, jobs: 1 });
  t.false(r.ok);
  t.deepEqual(r.buildTargets, ['io_uring/', 'kernel/']);
  t.deepEqual(r.baseWarnings, []);
  t.is(readFileSync(join(r.buildDir ?? '', '.config'), 'utf8'), 'CONFIG_FAKE=y\n', 'config copied from the uringlet build');
  const [p1, p2, p3] = r.rows;
  t.deepEqual([p1?.applies, p1?.builds, p1?.ok], [true, true, true]);
  t.deepEqual([p2?.applies, p2?.builds, p2?.ok], [true, true, false]);
  t.is(p2?.checkpatch.warnings, 1);
  t.deepEqual(p2?.newWarnings, ["io_uring/nop.c: no previous prototype for 'io_new' [-Wmissing-prototypes]"]);
  t.deepEqual([p3?.applies, p3?.builds, p3?.ok], [true, false, false]);
  t.true((p3?.buildErrors ?? []).some((l) => /io_uring\/nop\.c:.*error/.test(l)), (p3?.buildErrors ?? []).join('\n'));
  t.deepEqual(JSON.parse(readFileSync(json, 'utf8')).rows.map((x: { ok: boolean }) => x.ok), [true, false, false]);
  t.is(await git(tree, ['rev-parse', 'HEAD']), treeHead, 'the managed uringlet tree is not touched');
  t.true(r.tree.endsWith('/check'));

  // A patch that does not apply stops the apply; checkpatch still runs on the rest.
  const bad = join(scratch, 'bad-patches');
  mkdirSync(bad);
  writeFileSync(join(bad, '0001-x.patch'), readFileSync(join(pdir, readdirSync(pdir).sort()[2] ?? ''), 'utf8'));
  writeFileSync(join(bad, '0002-y.patch'), readFileSync(join(pdir, readdirSync(pdir).sort()[0] ?? ''), 'utf8'));
  const r2 = await checkPatches({ ...kernelSrc, patchesDir: bad, jsonPath: join(scratch, 'check2.json'), build: false });
  t.deepEqual(r2.rows.map((x) => [x.applies, x.builds, x.checkpatch.complete]), [[false, null, true], [null, null, true]]);
  t.deepEqual(r2.rows[1]?.reasons, ['not applied (an earlier patch did not apply)']);
});

test.serial('export: v1 then v2 with the cover letter kept, base-commit, range-diff and a version tag', async (t) => {
  const pdir = join(scratch, 'patches');
  const out1 = join(scratch, 'outgoing', 'v1');
  const v1 = await exportPatches({ ...kernelSrc, version: 1, patchesDir: pdir, outDir: out1 });
  t.is(v1.files.length, 4);
  t.is(v1.tag, 'uringlet-v1');
  t.is(await git(source.repo, ['rev-parse', 'uringlet-v1^{commit}']), v1.tip);
  const c1 = readFileSync(join(out1, '0000-cover-letter.patch'), 'utf8');
  t.regex(c1, /^Subject: \[RFC PATCH 0\/3\] uringlet: a fake series$/m);
  t.regex(c1, new RegExp(`^base-commit: ${source.baseCommit}$`, 'm'));
  t.false(/Range-diff/.test(c1));
  t.regex(readFileSync(join(out1, v1.files[1] ?? ''), 'utf8'), /^Subject: \[RFC PATCH 1\/3\] io_uring: nop returns a \+ 1$/m);
  // The tip has exactly the tree's content.
  t.is(await git(source.repo, ['rev-parse', `${v1.tip}^{tree}`]), await git(tree, ['rev-parse', 'HEAD^{tree}']));

  // v2: drop the last commit, refresh, export; the range-diff is against the v1 tag.
  await git(tree, ['reset', '-q', '--hard', 'HEAD~1']);
  await refreshPatches({ ...kernelSrc, patchesDir: pdir });
  const out2 = join(scratch, 'outgoing', 'v2');
  const v2 = await exportPatches({ ...kernelSrc, version: 2, patchesDir: pdir, outDir: out2, to: ['list@example.invalid'] });
  t.is(v2.previous, 'tag uringlet-v1');
  const c2 = readFileSync(join(out2, '0000-cover-letter.patch'), 'utf8');
  t.regex(c2, /^Subject: \[RFC PATCH v2 0\/2\] uringlet: a fake series$/m);
  t.regex(c2, /^To: list@example\.invalid$/m);
  t.regex(c2, /^Range-diff against v1:$|^Range-diff:$/m);
  t.regex(c2, /^3: +[0-9a-f]+ < -: +-+ io_uring: nop returns a \+ 2$/m);
  t.true(c2.includes('Hand-written motivation.'));
  t.regex(readFileSync(join(out2, v2.files[1] ?? ''), 'utf8'), /^Subject: \[RFC PATCH v2 1\/2\] /m);

  await t.throwsAsync(exportPatches({ ...kernelSrc, version: 2, patchesDir: pdir, outDir: out2 }), { instanceOf: UserError, message: /exists/ });
  const again = await exportPatches({ ...kernelSrc, version: 2, patchesDir: pdir, outDir: out2, force: true });
  t.is(again.tip, v2.tip, 'same patches, same commits');
  t.false(existsSync(join(scratch, 'outgoing', '.v2.tmp-' + process.pid)));
});
