// The managed kernel source: a git repository in the cache whose base commit
// (tag uringlet-base) is the stock tree, with one worktree per kernel
// (trees/<source-id>/{stock,uringlet}). Sources:
//   - Debian's linux-source-6.1 (default): unpacked once and imported as one
//     commit with a fixed identity and date (same package -> same commit);
//   - --kernel-src DIR, a git tree: cloned (hardlinked objects) at --kernel-ref;
//   - --kernel-src DIR, a plain tree: hashed through a private git index (so a
//     changed tree gets a new id), then imported.
// An existing repository for the same id is adopted as it is, never
// re-imported. The user's own tree is only read, never written.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InfraError, UserError } from './errors.ts';
import { diskSizes, ensureDisk, ensureHost } from './host.ts';
import { withFileLock } from './lifecycle.ts';
import { LogFile, log } from './log.ts';
import { paths } from './paths.ts';
import { run, runOk } from './proc.ts';

export const BASE_TAG = 'uringlet-base';
export const DEBIAN_PACKAGE = 'linux-source-6.1';
const DEBIAN_TARBALL = `/usr/src/${DEBIAN_PACKAGE}.tar.xz`;

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
  kind: 'debian' | 'git' | 'tree';
  /** Human description: package version, or path + commit / content hash. */
  description: string;
  /** Debian package version, when kind is debian. */
  packageVersion?: string;
  /** The user's directory, when kind is git or tree. */
  path?: string;
  /** git tree id of a plain tree's content, when kind is tree. */
  contentHash?: string;
  repo: string;
  baseCommit: string;
  /** git tree id of the base: the same source content gives the same id, whoever imported it. */
  baseTree: string;
}

export interface SourceOptions {
  kernelSrc?: string;
  kernelRef?: string;
}

export async function git(repo: string, args: string[], logFile?: LogFile, env: Record<string, string> = {}): Promise<string> {
  const r = await runOk('git', ['-C', repo, ...args], { env: { ...gitIdentityEnv, ...env }, ...(logFile ? { log: logFile } : {}) });
  return r.stdout.trim();
}

/** Build directories (<tree>/.o-*) live inside the trees: keep them out of git status and git clean. */
async function excludeBuildDirs(repo: string): Promise<void> {
  const common = resolve(repo, await git(repo, ['rev-parse', '--git-common-dir']));
  const file = join(common, 'info', 'exclude');
  mkdirSync(join(common, 'info'), { recursive: true });
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!text.split('\n').includes('/.o-*')) appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}/.o-*\n`);
}

/** Adopt an existing managed repo: it must carry the base tag (a half-made one is not guessed at). */
async function adopt(repo: string): Promise<{ baseCommit: string; baseTree: string }> {
  // One --verify per revision: `rev-parse --verify` takes exactly one.
  const verify = (rev: string) => run('git', ['-C', repo, 'rev-parse', '-q', '--verify', rev]);
  const [c, t] = await Promise.all([verify(`${BASE_TAG}^{commit}`), verify(`${BASE_TAG}^{tree}`)]);
  const baseCommit = c.stdout.trim();
  const baseTree = t.stdout.trim();
  if (c.exitCode !== 0 || t.exitCode !== 0 || baseCommit === '' || baseTree === '') {
    throw new InfraError(`${repo} exists but has no ${BASE_TAG} tag (an interrupted import?)`, {
      details: [`remove it (rm -rf ${repo}) and run again: it is re-imported`],
    });
  }
  return { baseCommit, baseTree };
}

async function debianVersion(): Promise<string> {
  const r = await run('dpkg-query', ['-W', '-f=${Version}', DEBIAN_PACKAGE]);
  if (r.exitCode !== 0 || r.stdout.trim() === '') {
    throw new UserError(`Debian package ${DEBIAN_PACKAGE} is not installed`, { details: ['run `uringlet doctor` (as root it installs it)'] });
  }
  return r.stdout.trim();
}

/** Import a plain directory as the single base commit of a new (non-bare) repo. */
async function importTree(dir: string, message: string, logFile: LogFile): Promise<void> {
  await runOk('git', ['init', '-q', '-b', 'base', dir], { log: logFile });
  await git(dir, ['config', 'gc.auto', '0']);
  // Debian's .gitignore ignores everything at the top level: add with -f.
  await git(dir, ['add', '-f', '-A'], logFile);
  await git(dir, ['commit', '-q', '--no-verify', '-m', message], logFile);
  await git(dir, ['tag', BASE_TAG]);
}

async function debianSource(logFile: LogFile): Promise<KernelSource> {
  const version = await debianVersion();
  const id = `debian-${version}`;
  const repo = join(paths.src(), id);
  if (!existsSync(repo)) await once(repo, () => importDebian(repo, version, logFile));
  const base = await adopt(repo);
  await excludeBuildDirs(repo);
  return { id, kind: 'debian', description: `Debian ${DEBIAN_PACKAGE} ${version}`, packageVersion: version, repo, ...base };
}

/** Run `make` for `repo` unless it exists, holding a lock (parallel test files start builds at the same time). */
async function once(repo: string, make: () => Promise<void>): Promise<void> {
  await withFileLock(`${repo}.lock`, async () => {
    if (!existsSync(repo)) await make();
  }, { timeoutMs: 30 * 60_000, what: `creating ${repo}` });
}

async function importDebian(repo: string, version: string, logFile: LogFile): Promise<void> {
  if (!existsSync(DEBIAN_TARBALL)) throw new UserError(`${DEBIAN_TARBALL} is missing`, { details: [`apt-get install ${DEBIAN_PACKAGE}`] });
  ensureDisk(diskSizes().sourceImport + diskSizes().margin, `importing ${DEBIAN_PACKAGE}`);
  await log.step(`unpacking and importing Debian ${DEBIAN_PACKAGE} ${version} (once; log: ${logFile.path})`, async () => {
    const tmp = join(paths.src(), `.unpack-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      await runOk('tar', ['-C', tmp, '-xf', DEBIAN_TARBALL], { log: logFile });
      const top = readdirSync(tmp);
      if (top.length !== 1 || top[0] === undefined) throw new InfraError(`unexpected layout in ${DEBIAN_TARBALL}: ${top.join(', ')}`);
      const tree = join(tmp, top[0]);
      const kv = (await run('make', ['-s', '-C', tree, 'kernelversion'])).stdout.trim();
      await importTree(tree, `Linux ${kv} (Debian ${DEBIAN_PACKAGE} ${version})`, logFile);
      // Appears complete or not at all.
      renameSync(tree, repo);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'tree';
}

async function gitUserSource(dir: string, ref: string | undefined, logFile: LogFile): Promise<KernelSource> {
  const commit = (
    await runOk('git', ['-C', dir, 'rev-parse', '--verify', '-q', `${ref ?? 'HEAD'}^{commit}`], {
      fail: () => new UserError(`--kernel-ref ${ref ?? 'HEAD'} is not a commit in ${dir}`),
    })
  ).stdout.trim();
  // --no-optional-locks: a plain `git status` refreshes and rewrites the user's index.
  const dirty = (await run('git', ['--no-optional-locks', '-C', dir, 'status', '--porcelain', '--untracked-files=no'])).stdout.trim();
  if (dirty !== '' && ref === undefined) {
    log.warn(`${dir} has uncommitted changes; building its HEAD commit ${commit.slice(0, 12)} without them`);
  }
  const id = `git-${safeName(basename(dir))}-${commit.slice(0, 12)}`;
  const repo = join(paths.src(), id);
  if (!existsSync(repo)) await once(repo, async () => {
    ensureDisk(diskSizes().margin, `cloning ${dir}`);
    await log.step(`cloning ${dir} at ${commit.slice(0, 12)} into the cache (your tree is not touched)`, async () => {
      const tmp = `${repo}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      try {
        // A local clone hardlinks the objects: fast, and independent of later gc in the user's repo.
        await runOk('git', ['clone', '-q', '--bare', dir, tmp], { log: logFile });
        const has = await run('git', ['-C', tmp, 'cat-file', '-e', `${commit}^{commit}`]);
        if (has.exitCode !== 0) {
          throw new UserError(`commit ${commit} is not reachable from any branch or tag of ${dir}`, { details: ['create a branch for it and pass --kernel-ref BRANCH'] });
        }
        await git(tmp, ['config', 'gc.auto', '0']);
        await git(tmp, ['branch', '-f', 'base', commit]);
        await git(tmp, ['tag', '-f', BASE_TAG, commit]);
        renameSync(tmp, repo);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
  const base = await adopt(repo);
  await excludeBuildDirs(repo);
  return { id, kind: 'git', description: `${dir} at ${commit}`, path: dir, repo, ...base };
}

/**
 * The content hash of a plain tree: `git add -A -f` into an index and object
 * store kept in the cache (the tree itself is only read). The index caches
 * file stat data, so a second run only re-reads changed files.
 */
async function hashPlainTree(dir: string, logFile: LogFile): Promise<{ gitDir: string; tree: string }> {
  const gitDir = join(paths.src(), '.import', `${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.git`);
  if (!existsSync(join(gitDir, 'HEAD'))) {
    ensureDisk(diskSizes().sourceImport + diskSizes().margin, `importing ${dir}`);
    mkdirSync(gitDir, { recursive: true });
    await runOk('git', ['init', '-q', '--bare', gitDir], { log: logFile });
    await runOk('git', ['--git-dir', gitDir, 'config', 'gc.auto', '0']);
  }
  const env = { GIT_DIR: gitDir, GIT_WORK_TREE: dir, GIT_INDEX_FILE: join(gitDir, 'index') };
  await runOk('git', ['add', '-A', '-f', '.'], { cwd: dir, env, log: logFile });
  const tree = (await runOk('git', ['write-tree'], { cwd: dir, env })).stdout.trim();
  return { gitDir, tree };
}

async function plainUserSource(dir: string, logFile: LogFile): Promise<KernelSource> {
  // An in-tree build makes every O= build fail ("source tree is not clean").
  if (existsSync(join(dir, '.config')) || existsSync(join(dir, 'include', 'config'))) {
    throw new UserError(`--kernel-src ${dir} has been configured or built in place (.config or include/config exists)`, {
      details: ['pass a clean tree (run `make mrproper` in a copy of it); uringlet never modifies your tree'],
    });
  }
  const { gitDir, tree } = await log.step(`hashing ${dir} (content identity; your tree is not touched)`, () => hashPlainTree(dir, logFile));
  const id = `tree-${safeName(basename(dir))}-${tree.slice(0, 12)}`;
  const repo = join(paths.src(), id);
  if (!existsSync(repo)) await once(repo, async () => {
    await log.step(`importing ${dir} into the cache as ${id}`, async () => {
      const commit = (await runOk('git', ['commit-tree', tree, '-m', `Imported from ${dir}`], { env: { ...gitIdentityEnv, GIT_DIR: gitDir } })).stdout.trim();
      await runOk('git', ['--git-dir', gitDir, 'update-ref', 'refs/heads/base', commit]);
      const tmp = `${repo}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      try {
        await runOk('git', ['clone', '-q', '--bare', '--single-branch', '-b', 'base', gitDir, tmp], { log: logFile });
        await git(tmp, ['config', 'gc.auto', '0']);
        await git(tmp, ['tag', '-f', BASE_TAG, commit]);
        renameSync(tmp, repo);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
  const base = await adopt(repo);
  await excludeBuildDirs(repo);
  return { id, kind: 'tree', description: `copy of ${dir} (content ${tree.slice(0, 12)})`, path: dir, contentHash: tree, repo, ...base };
}

async function userSource(src: string, ref: string | undefined, logFile: LogFile): Promise<KernelSource> {
  const dir = resolve(src);
  if (!existsSync(join(dir, 'Makefile')) || !existsSync(join(dir, 'io_uring'))) {
    throw new UserError(`--kernel-src ${dir} does not look like a Linux source tree (no Makefile or io_uring/)`);
  }
  if (existsSync(join(dir, '.git'))) return gitUserSource(dir, ref, logFile);
  if (ref !== undefined) throw new UserError(`--kernel-ref needs a git tree, ${dir} is a plain directory`);
  return plainUserSource(dir, logFile);
}

/** The base source (imported on first use, adopted afterwards). */
export async function kernelSource(opts: SourceOptions = {}): Promise<KernelSource> {
  // git, xz and linux-source-6.1 for the import, the toolchain for what follows
  // (patches refresh/check come here without going through a kernel build first)
  await ensureHost('build-kernel');
  mkdirSync(paths.src(), { recursive: true });
  const logFile = new LogFile(join(paths.logs(), 'kernel-source.log'));
  if (opts.kernelSrc === undefined && opts.kernelRef !== undefined) {
    throw new UserError('--kernel-ref needs --kernel-src (the default Debian source has a single commit)');
  }
  return opts.kernelSrc !== undefined ? userSource(opts.kernelSrc, opts.kernelRef, logFile) : debianSource(logFile);
}

export function treeDir(source: KernelSource, kernel: KernelName): string {
  return join(paths.trees(), source.id, kernel);
}

/** The worktree of `kernel`: adopted when it exists, else added at the base (detached). */
export async function worktree(source: KernelSource, kernel: KernelName): Promise<string> {
  const dir = treeDir(source, kernel);
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(join(paths.trees(), source.id), { recursive: true });
    ensureDisk(diskSizes().worktree + diskSizes().margin, `checking out the ${kernel} tree`);
    await git(source.repo, ['worktree', 'prune']);
    await log.step(`checking out the ${kernel} tree ${dir}`, () => git(source.repo, ['worktree', 'add', '-q', '--detach', dir, BASE_TAG]));
  }
  return dir;
}
