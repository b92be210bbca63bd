// The managed kernel source: a git repository in the cache whose first commit
// is the stock base (Debian's linux-source-6.1 by default, or a user's tree),
// with one worktree per kernel. The user's own tree is never modified.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from './errors.ts';
import { LogFile, log } from './log.ts';
import { paths } from './paths.ts';
import { run, runOk } from './proc.ts';

export const BASE_TAG = 'uringlet-base';
const DEBIAN_TARBALL = '/usr/src/linux-source-6.1.tar.xz';

// Fixed identity and dates: the same source gives the same base commit.
export const gitIdentityEnv: Record<string, string> = {
  GIT_AUTHOR_NAME: 'uringlet developers',
  GIT_AUTHOR_EMAIL: 'dev@uringlet.invalid',
  GIT_COMMITTER_NAME: 'uringlet developers',
  GIT_COMMITTER_EMAIL: 'dev@uringlet.invalid',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};

export type KernelName = 'stock' | 'uringlet';

export interface KernelSource {
  /** Stable name of the source: directory names and metadata use it. */
  id: string;
  /** Human description: package version or path + commit. */
  description: string;
  repo: string;
  baseCommit: string;
}

export interface SourceOptions {
  kernelSrc?: string;
  kernelRef?: string;
}

async function git(repo: string, args: string[], logFile?: LogFile): Promise<string> {
  const r = await runOk('git', ['-C', repo, ...args], { env: gitIdentityEnv, ...(logFile ? { log: logFile } : {}) });
  return r.stdout.trim();
}

async function debianVersion(): Promise<string> {
  const r = await run('dpkg-query', ['-W', '-f=${Version}', 'linux-source-6.1']);
  if (r.exitCode !== 0 || r.stdout.trim() === '') {
    throw new UserError('Debian package linux-source-6.1 is not installed', { details: ['run `uringlet doctor` (as root it installs it)'] });
  }
  return r.stdout.trim();
}

/** Import a plain directory tree as the single base commit of a new repo. */
async function importTree(dir: string, message: string, logFile: LogFile): Promise<void> {
  await runOk('git', ['init', '-q', '-b', 'base', dir], { log: logFile });
  await git(dir, ['config', 'gc.auto', '0']);
  // Debian's .gitignore ignores everything at the top level: add with -f.
  await git(dir, ['add', '-f', '-A'], logFile);
  await git(dir, ['commit', '-q', '-m', message], logFile);
  await git(dir, ['tag', BASE_TAG]);
}

async function debianSource(logFile: LogFile): Promise<KernelSource> {
  const version = await debianVersion();
  const id = `debian-${version}`;
  const repo = join(paths.src(), id);
  if (!existsSync(join(repo, '.git'))) {
    if (!existsSync(DEBIAN_TARBALL)) throw new UserError(`${DEBIAN_TARBALL} is missing`, { details: ['apt-get install linux-source-6.1'] });
    await log.step(`unpacking and importing Debian linux-source-6.1 ${version} (once)`, async () => {
      const tmp = join(paths.src(), `.unpack-${process.pid}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      await runOk('tar', ['-C', tmp, '-xf', DEBIAN_TARBALL], { log: logFile });
      const top = readdirSync(tmp);
      if (top.length !== 1 || top[0] === undefined) throw new UserError(`unexpected layout in ${DEBIAN_TARBALL}`);
      const tree = join(tmp, top[0]);
      const sub = await run('make', ['-s', '-C', tree, 'kernelversion']);
      await importTree(tree, `Linux ${sub.stdout.trim()} (Debian linux-source-6.1 ${version})`, logFile);
      renameSync(tree, repo);
      rmSync(tmp, { recursive: true, force: true });
    });
  }
  return { id, description: `Debian linux-source-6.1 ${version}`, repo, baseCommit: await git(repo, ['rev-parse', `${BASE_TAG}^{commit}`]) };
}

async function userSource(src: string, ref: string | undefined, logFile: LogFile): Promise<KernelSource> {
  const dir = resolve(src);
  if (!existsSync(join(dir, 'Makefile')) || !existsSync(join(dir, 'io_uring'))) {
    throw new UserError(`--kernel-src ${dir} does not look like a Linux source tree (no Makefile or io_uring/)`);
  }
  const isGit = existsSync(join(dir, '.git'));
  if (isGit) {
    const commit = (await runOk('git', ['-C', dir, 'rev-parse', `${ref ?? 'HEAD'}^{commit}`], {
      fail: () => new UserError(`--kernel-ref ${ref ?? 'HEAD'} is not a commit in ${dir}`),
    })).stdout.trim();
    const id = `git-${basename(dir)}-${commit.slice(0, 12)}`;
    const repo = join(paths.src(), id);
    if (!existsSync(join(repo, '.git'))) {
      await log.step(`cloning ${dir} at ${commit.slice(0, 12)} (the user's tree is not touched)`, async () => {
        await runOk('git', ['clone', '-q', '--no-checkout', '--shared', dir, repo], { log: logFile });
        await git(repo, ['config', 'gc.auto', '0']);
        await git(repo, ['checkout', '-q', '-B', 'base', commit], logFile);
        await git(repo, ['tag', '-f', BASE_TAG, commit]);
      });
    }
    return { id, description: `${dir} at ${commit}`, repo, baseCommit: commit };
  }
  if (ref !== undefined) throw new UserError(`--kernel-ref needs a git tree, ${dir} is a plain directory`);
  const id = `tree-${basename(dir)}`;
  const repo = join(paths.src(), id);
  if (!existsSync(join(repo, '.git'))) {
    await log.step(`copying ${dir} into the cache (the user's tree is not touched)`, async () => {
      await runOk('cp', ['-a', dir, repo], { log: logFile });
      await importTree(repo, `Imported from ${dir}`, logFile);
    });
  }
  return { id, description: `copy of ${dir}`, repo, baseCommit: await git(repo, ['rev-parse', `${BASE_TAG}^{commit}`]) };
}

export async function kernelSource(opts: SourceOptions = {}): Promise<KernelSource> {
  mkdirSync(paths.src(), { recursive: true });
  const logFile = new LogFile(join(paths.logs(), 'kernel-source.log'));
  return opts.kernelSrc !== undefined ? userSource(opts.kernelSrc, opts.kernelRef, logFile) : debianSource(logFile);
}

export function treeDir(source: KernelSource, kernel: KernelName): string {
  return join(paths.trees(), source.id, kernel);
}

/** The worktree of `kernel`; created on first use. */
export async function worktree(source: KernelSource, kernel: KernelName): Promise<string> {
  const dir = treeDir(source, kernel);
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(join(paths.trees(), source.id), { recursive: true });
    await git(source.repo, ['worktree', 'prune']);
    await git(source.repo, ['worktree', 'add', '-q', '--detach', dir, BASE_TAG]);
  }
  return dir;
}

export { git };
