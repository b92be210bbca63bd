// Applying a real series to a real kernel tree (a scratch worktree of the
// managed base repository, so the managed trees are never touched).
import test from 'ava';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSource, BASE_TAG } from '../../scripts/lib/kernel-source.ts';
import { applySeries, readSeries } from '../../scripts/lib/series.ts';
import { UserError } from '../../scripts/lib/errors.ts';
import { LogFile } from '../../scripts/lib/log.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';
import { runOk } from '../../scripts/lib/proc.ts';

test('the series applies to the base; a broken patch is named with its hunk and leaves the tree clean', async (t) => {
  const source = await kernelSource();
  const scratch = mkdtempSync(join(tmpdir(), 'uringlet-series-'));
  const tree = join(scratch, 'tree');
  await runOk('git', ['-C', source.repo, 'worktree', 'add', '-q', '--detach', tree, BASE_TAG]);
  try {
    const logFile = new LogFile(join(scratch, 'apply.log'));
    const series = readSeries(join(repoRoot, 'patches'));
    t.is(await applySeries(tree, series, logFile), 'applied');
    const count = (await runOk('git', ['-C', tree, 'rev-list', '--count', `${BASE_TAG}..HEAD`])).stdout.trim();
    t.is(Number(count), series.patches.length);
    t.is(await applySeries(tree, series, logFile), 'unchanged', 'same series: nothing to do');

    // Break the context of one hunk of the third patch.
    const broken = join(scratch, 'patches');
    cpSync(join(repoRoot, 'patches'), broken, { recursive: true });
    const victim = series.patches[2];
    if (!victim) return t.fail('series too short');
    const text = readFileSync(join(broken, victim.file), 'utf8');
    writeFileSync(join(broken, victim.file), text.replace(/\n (\t[^\n]+)\n/, '\n $1 /* not in the tree */\n'));
    const e = await t.throwsAsync(applySeries(tree, readSeries(broken), logFile));
    t.true(e instanceof UserError);
    t.true(e?.message.includes(victim.file), e?.message);
    t.true(e?.message.includes(victim.subject));
    t.true((e as UserError).details.some((l) => /patch failed: \S+:\d+|while searching for/.test(l)), (e as UserError).details.join('\n'));
    const head = (await runOk('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
    t.is(head, source.baseCommit, 'tree is back at the base');
    t.is((await runOk('git', ['-C', tree, 'status', '--porcelain', '--untracked-files=no'])).stdout.trim(), '', 'and clean');
  } finally {
    await runOk('git', ['-C', source.repo, 'worktree', 'remove', '--force', tree]);
    rmSync(scratch, { recursive: true, force: true });
  }
});
