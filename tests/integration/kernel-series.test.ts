// Applying the real series to the real 6.1 base, in scratch worktrees of the
// managed base repository on branches of their own (never the managed trees,
// never branch `uringlet`, where a maintainer may be working).
import test from 'ava';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSource, BASE_TAG, gitIdentityEnv, type KernelSource } from '../../scripts/lib/kernel-source.ts';
import { applySeries, readSeries } from '../../scripts/lib/series.ts';
import { InfraError, UserError } from '../../scripts/lib/errors.ts';
import { LogFile } from '../../scripts/lib/log.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';
import { run, runOk } from '../../scripts/lib/proc.ts';

const tag = `t${process.pid}`;
const branch = `uringlet-test-${tag}`;
const other = `uringlet-test-other-${tag}`;

async function git(tree: string, args: string[]): Promise<string> {
  return (await runOk('git', ['-C', tree, ...args], { env: gitIdentityEnv })).stdout.trim();
}

let source: KernelSource;
let scratch: string;
let tree: string;
let tree2: string;
let logFile: LogFile;

test.before(async () => {
  source = await kernelSource();
  scratch = mkdtempSync(join(tmpdir(), 'uringlet-series-'));
  tree = join(scratch, 'tree');
  tree2 = join(scratch, 'tree2');
  await git(source.repo, ['worktree', 'add', '-q', '--detach', tree, BASE_TAG]);
  logFile = new LogFile(join(scratch, 'apply.log'));
});

test.after.always(async () => {
  for (const t of [tree, tree2]) if (existsSync(t)) await run('git', ['-C', source.repo, 'worktree', 'remove', '--force', t]);
  const branches = (await git(source.repo, ['for-each-ref', '--format=%(refname:short)', 'refs/heads/'])).split('\n');
  const ours = branches.filter((b) => b.includes(tag));
  if (ours.length > 0) await run('git', ['-C', source.repo, 'branch', '-D', ...ours]);
  rmSync(scratch, { recursive: true, force: true });
});

test.serial('the series applies onto the base; the same series again is a no-op', async (t) => {
  const series = readSeries(join(repoRoot, 'patches'));
  t.true(series.patches.length > 0, 'patches/ has a series');
  t.is(await applySeries(tree, series, logFile, { branch }), 'applied');
  t.is(Number(await git(tree, ['rev-list', '--count', `${BASE_TAG}..HEAD`])), series.patches.length);
  t.is(await git(tree, ['log', '-1', '--format=%s']), series.patches.at(-1)?.subject ?? '');
  t.is(await git(tree, ['branch', '--show-current']), branch);
  t.is(await applySeries(tree, series, logFile, { branch }), 'unchanged');
});

test.serial('a maintainer working in the tree: local commits and edits are left alone while patches/ is unchanged', async (t) => {
  const series = readSeries(join(repoRoot, 'patches'));
  const f = join(tree, 'io_uring', 'io_uring.c');
  writeFileSync(f, readFileSync(f, 'utf8') + '/* local commit */\n');
  await git(tree, ['commit', '-q', '-a', '-m', 'local work']);
  const head = await git(tree, ['rev-parse', 'HEAD']);
  writeFileSync(f, readFileSync(f, 'utf8') + '/* uncommitted */\n');
  t.is(await applySeries(tree, series, logFile, { branch }), 'unchanged');
  t.is(await git(tree, ['rev-parse', 'HEAD']), head);
  t.true(readFileSync(f, 'utf8').includes('/* uncommitted */'));

  // patches/ changes while there is uncommitted work: refused, nothing lost.
  const changed = join(scratch, 'patches-changed');
  cpSync(join(repoRoot, 'patches'), changed, { recursive: true });
  const last = series.patches.at(-1)!;
  writeFileSync(join(changed, last.file), readFileSync(last.path, 'utf8').replace(/\n---\n/, '\n\nEdited commit message.\n---\n'));
  const e = await t.throwsAsync(applySeries(tree, readSeries(changed), logFile, { branch }), { instanceOf: UserError });
  t.regex(e?.message ?? '', /uncommitted changes/);
  t.true((e as UserError).details.some((l) => l.includes('io_uring/io_uring.c')));
  t.is(await git(tree, ['rev-parse', 'HEAD']), head);
  t.true(readFileSync(f, 'utf8').includes('/* uncommitted */'));
  await git(tree, ['checkout', '-q', '--', 'io_uring/io_uring.c']);
});

test.serial('patches/ regenerated from the tree with format-patch is adopted, not re-applied', async (t) => {
  const head = await git(tree, ['rev-parse', 'HEAD']);
  const out = join(scratch, 'patches-from-tree');
  await git(tree, ['format-patch', '-q', '--cover-letter', '-o', out, `${BASE_TAG}..HEAD`]);
  t.is(await applySeries(tree, readSeries(out), logFile, { branch }), 'adopted');
  t.is(await git(tree, ['rev-parse', 'HEAD']), head, 'the tree was not rewritten');
  t.is(await applySeries(tree, readSeries(out), logFile, { branch }), 'unchanged');
});

test.serial('a branch checked out in another worktree is never moved', async (t) => {
  await git(source.repo, ['worktree', 'add', '-q', '--no-checkout', '-b', other, tree2, BASE_TAG]);
  const before = await git(source.repo, ['rev-parse', other]);
  const e = await t.throwsAsync(applySeries(tree, readSeries(join(repoRoot, 'patches')), logFile, { branch: other }), { instanceOf: InfraError });
  t.regex(e?.message ?? '', /checked out in another worktree/);
  t.is(await git(source.repo, ['rev-parse', other]), before);
});

test.serial('a patch that does not apply: named with subject, file and hunk; local commits backed up; tree back at the base, clean', async (t) => {
  const f = join(tree, 'io_uring', 'io-wq.c');
  writeFileSync(f, readFileSync(f, 'utf8') + '/* more local work */\n');
  await git(tree, ['commit', '-q', '-a', '-m', 'more local work']);
  const head = await git(tree, ['rev-parse', 'HEAD']);
  const series = readSeries(join(repoRoot, 'patches'));
  const broken = join(scratch, 'patches-broken');
  cpSync(join(repoRoot, 'patches'), broken, { recursive: true });
  const victim = series.patches[Math.min(2, series.patches.length - 1)]!;
  // Change a context line of the victim's first hunk so it cannot be found.
  const text = readFileSync(join(broken, victim.file), 'utf8');
  const bad = text.replace(/(\n@@ [^\n]*\n)( [^\n]*)\n/, '$1$2 /* not in the tree */\n');
  t.not(bad, text);
  writeFileSync(join(broken, victim.file), bad);

  const e = await t.throwsAsync(applySeries(tree, readSeries(broken), logFile, { branch }), { instanceOf: UserError });
  t.true(e?.message.includes(victim.file), e?.message);
  t.true(e?.message.includes(`"${victim.subject}"`));
  t.regex(e?.message ?? '', /: [\w/.-]+\.[ch], hunk at line \d+$/);
  t.true((e as UserError).details.includes('error: while searching for:'), (e as UserError).details.join('\n'));
  t.is(await git(tree, ['rev-parse', 'HEAD']), source.baseCommit, 'tree is back at the base');
  t.is(await git(tree, ['status', '--porcelain', '--untracked-files=no']), '', 'and clean');
  t.false(existsSync(join(await git(tree, ['rev-parse', '--absolute-git-dir']), 'rebase-apply')), 'no git am in progress');
  const backups = (await git(source.repo, ['for-each-ref', '--format=%(refname:short) %(objectname)', `refs/heads/${branch}-backup-*`])).split('\n');
  t.true(backups.some((l) => l.endsWith(head)), `the local commit is saved: ${backups.join(', ')}`);

  // And the real series applies again afterwards.
  t.is(await applySeries(tree, series, logFile, { branch }), 'applied');
});
