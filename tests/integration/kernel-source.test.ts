// --kernel-src / --kernel-ref with real git on small trees, in a private
// cache: the user's tree is never written, the source id follows its commit
// or content, an existing import is adopted, worktrees start at the base.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { BASE_TAG, gitIdentityEnv, kernelSource, worktree } from '../../scripts/lib/kernel-source.ts';
import { runOk } from '../../scripts/lib/proc.ts';

const scratch = mkdtempSync(join(tmpdir(), 'uringlet-source-'));
process.env.URINGLET_CACHE = join(scratch, 'cache');

const git = async (dir: string, args: string[]): Promise<string> => (await runOk('git', ['-C', dir, ...args], { env: gitIdentityEnv })).stdout.trim();

function fakeKernel(dir: string, version: string): void {
  mkdirSync(join(dir, 'io_uring'), { recursive: true });
  writeFileSync(join(dir, 'Makefile'), `VERSION = 6\nPATCHLEVEL = 1\n# ${version}\n`);
  writeFileSync(join(dir, 'io_uring', 'io_uring.c'), `/* ${version} */\n`);
  writeFileSync(join(dir, '.gitignore'), '/*\n'); // Debian's: ignores everything at the top level
}

/** Names, sizes and mtimes of every file: what "never modified" means. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${p} ${statSync(p).size} ${statSync(p).mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

test('a plain tree: imported by content, never modified, adopted the second time, a new id when it changes', async (t) => {
  const dir = join(scratch, 'plain-linux');
  fakeKernel(dir, 'a');
  const before = snapshot(dir);
  const s = await kernelSource({ kernelSrc: dir });
  t.is(s.kind, 'tree');
  t.regex(s.id, /^tree-plain-linux-[0-9a-f]{12}$/);
  t.deepEqual(snapshot(dir), before, 'the user tree is untouched');
  t.false(existsSync(join(dir, '.git')));
  t.is(await git(s.repo, ['rev-parse', `${BASE_TAG}^{commit}`]), s.baseCommit);
  t.is(await git(s.repo, ['show', `${BASE_TAG}:io_uring/io_uring.c`]), '/* a */', 'ignored files are imported too');

  const again = await kernelSource({ kernelSrc: dir });
  t.deepEqual(again, s, 'same content: the same import, adopted');

  writeFileSync(join(dir, 'io_uring', 'io_uring.c'), '/* b */\n');
  const changed = await kernelSource({ kernelSrc: dir });
  t.not(changed.id, s.id, 'changed content: a new source id');

  writeFileSync(join(dir, '.config'), 'CONFIG_X=y\n');
  await t.throwsAsync(kernelSource({ kernelSrc: dir }), { instanceOf: UserError, message: /configured or built in place/ });
});

test('a git tree at a ref: cloned, the user repo untouched, id from the commit; bad refs are user errors', async (t) => {
  const dir = join(scratch, 'git-linux');
  fakeKernel(dir, 'one');
  await runOk('git', ['init', '-q', '-b', 'main', dir]);
  await git(dir, ['add', '-f', '-A']);
  await git(dir, ['commit', '-q', '-m', 'one']);
  const first = await git(dir, ['rev-parse', 'HEAD']);
  writeFileSync(join(dir, 'io_uring', 'io_uring.c'), '/* two */\n');
  await git(dir, ['commit', '-q', '-a', '-m', 'two']);
  const refsBefore = await git(dir, ['for-each-ref']);
  const before = snapshot(dir);

  const s = await kernelSource({ kernelSrc: dir, kernelRef: 'HEAD~1' });
  t.is(s.kind, 'git');
  t.is(s.id, `git-git-linux-${first.slice(0, 12)}`);
  t.is(s.baseCommit, first);
  t.is(await git(dir, ['for-each-ref']), refsBefore, 'no new refs or tags in the user repo');
  t.deepEqual(snapshot(dir), before, 'the user tree is untouched');

  const tree = await worktree(s, 'stock');
  t.is(await git(tree, ['rev-parse', 'HEAD']), first, 'the stock worktree starts at the base');
  t.is(await worktree(s, 'stock'), tree, 'and is adopted afterwards');

  await t.throwsAsync(kernelSource({ kernelSrc: dir, kernelRef: 'no-such-ref' }), { instanceOf: UserError, message: /no-such-ref is not a commit/ });
  await t.throwsAsync(kernelSource({ kernelRef: 'v6.1' }), { instanceOf: UserError, message: /--kernel-ref needs --kernel-src/ });
  await t.throwsAsync(kernelSource({ kernelSrc: scratch }), { instanceOf: UserError, message: /does not look like a Linux source tree/ });
});
