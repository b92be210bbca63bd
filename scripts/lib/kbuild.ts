// Building a kernel: stock or uringlet (base + patches/), default or debug
// variant, out of tree in <tree>/.o-<variant> (a direct subdirectory, so
// Kbuild uses relative paths and ccache hits across the two trees). When the
// inputs (tree HEAD, uncommitted and untracked changes, config, compiler) are
// those of the last good build, nothing runs. Writes metadata.json.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { InfraError, UserError } from './errors.ts';
import { diskSizes, ensureDisk, ensureHost, kernelDiskNeed } from './host.ts';
import { configure, fragmentFiles, fragmentsHash, verifyConfig, type Variant } from './kconfig.ts';
import { kernelSource, treeDir, worktree, type KernelName, type KernelSource, type SourceOptions } from './kernel-source.ts';
import { withFileLock } from './lifecycle.ts';
import { LogFile, log } from './log.ts';
import {
  assembleMetadata,
  ccacheSummary,
  compiledCount,
  firstErrors,
  mergeWarnings,
  newWarnings,
  parseCcacheStatsLog,
  parseWarnings,
  readMetadataFile,
  rebuiltFiles,
  reproducer,
  toolchainProblem,
  type BuildMetadata,
  type CcacheCounters,
  type SourceIdentity,
} from './metadata.ts';
import { paths } from './paths.ts';
import { run, runOk } from './proc.ts';
import { applySeries, readSeries, type Series } from './series.ts';

export type { Variant } from './kconfig.ts';
export type { KernelName, KernelSource } from './kernel-source.ts';
export type { BuildMetadata } from './metadata.ts';

export interface BuildOptions extends SourceOptions {
  kernel: KernelName;
  variant?: Variant;
  /** make -j; default: number of CPUs + 1. */
  jobs?: number;
  /** The series to apply for the uringlet kernel; default: patches/ of this checkout. */
  patchesDir?: string;
}

export interface KernelBuild {
  kernel: KernelName;
  variant: Variant;
  tree: string;
  buildDir: string;
  bzImage: string;
  vmlinux: string;
  /** Exported uapi headers (make headers_install): <buildDir>/usr/include. */
  headersDir: string;
  configPath: string;
  metadataPath: string;
  /** true when nothing had to be rebuilt */
  upToDate: boolean;
}

// Reproducible: fixed build identity, C locale (stable compiler messages).
export const buildEnv: Record<string, string> = {
  KBUILD_BUILD_TIMESTAMP: 'Thu Jan 1 00:00:00 UTC 2026',
  KBUILD_BUILD_USER: 'uringlet',
  KBUILD_BUILD_HOST: 'uringlet',
  // Kbuild unexports LC_ALL; LANG and LC_CTYPE decide gcc's quotes and messages.
  LANG: 'C',
  LC_CTYPE: 'C',
  LC_MESSAGES: 'C',
};

const LOG_NAME = 'uringlet-build.log';
const BUILD_STAMP = '.uringlet-build-stamp';
const CONFIG_STAMP = '.uringlet-config-stamp';

function sha(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  return (r.stdout.split('\n')[0] ?? '').trim() || `${cmd} (version unknown)`;
}

function ccacheCounters(statsLog: string): CcacheCounters {
  return parseCcacheStatsLog(existsSync(statsLog) ? readFileSync(statsLog, 'utf8') : '');
}

export function buildDirOf(tree: string, variant: Variant): string {
  return join(tree, `.o-${variant}`);
}

interface TreeInputs {
  head: string;
  dirty: string[];
  untracked: string[];
  /** Digest of everything make would see change: HEAD, the uncommitted diff, untracked files. */
  digest: string;
}

/**
 * What the tree holds right now. Untracked files are listed without the
 * exclude rules: Debian's .gitignore ignores everything at the top level, so
 * a new io_uring/foo.c would otherwise be invisible.
 */
async function treeInputs(tree: string): Promise<TreeInputs> {
  // Read-only, and without the optional index refresh: a maintainer's git in the same tree must not hit index.lock.
  const git = async (args: string[]): Promise<string> => (await runOk('git', ['--no-optional-locks', '-C', tree, ...args])).stdout;
  const [head, diff, names, others] = await Promise.all([
    git(['rev-parse', 'HEAD']),
    git(['diff', 'HEAD', '--binary']),
    git(['diff', 'HEAD', '--name-only']),
    git(['ls-files', '--others', '-z', '--', '.', ':!/.o-*']),
  ]);
  const untracked = others.split('\0').filter((f) => f !== '');
  const h = createHash('sha256').update(head).update(diff);
  for (const f of untracked) {
    try {
      const st = statSync(join(tree, f));
      h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
    } catch {
      /* vanished meanwhile */
    }
  }
  return { head: head.trim(), dirty: names.split('\n').filter((l) => l !== ''), untracked, digest: h.digest('hex') };
}

/** Patches of the series that touch `file` (to point at the culprit of a compile error). */
function patchesTouching(series: Series | null, file: string): string[] {
  if (series === null) return [];
  return series.patches.filter((p) => readFileSync(p.path, 'utf8').includes(`diff --git a/${file} `)).map((p) => p.file);
}

function readPrevious(metadataPath: string): BuildMetadata | null {
  try {
    return existsSync(metadataPath) ? readMetadataFile(metadataPath) : null;
  } catch {
    return null;
  }
}

/** Reference count of compile steps for a full build of `variant` (for a percentage), from any earlier full build. */
function fullBuildSize(source: KernelSource, variant: Variant): number | null {
  for (const k of ['stock', 'uringlet'] as const) {
    const m = readPrevious(join(buildDirOf(treeDir(source, k), variant), 'metadata.json'));
    if (m?.build?.kind === 'full' && m.build.compiledFiles > 0) return m.build.compiledFiles;
  }
  return null;
}

/** Build (or find up to date) one kernel. Serialised per tree across processes. */
export async function buildKernel(opts: BuildOptions): Promise<KernelBuild> {
  const t0 = Date.now();
  await ensureHost('build-kernel');
  const source = await kernelSource(opts);
  const variant: Variant = opts.variant ?? 'default';
  const tree = treeDir(source, opts.kernel);
  ensureDisk(
    kernelDiskNeed(diskSizes(), {
      sourceImported: true,
      missingWorktrees: existsSync(join(tree, '.git')) ? 0 : 1,
      missingBuildDirs: existsSync(join(buildDirOf(tree, variant), 'vmlinux')) ? [] : [variant],
      ccacheExists: existsSync(paths.ccache()),
    }),
    `building ${opts.kernel}/${variant}`,
  );
  mkdirSync(join(paths.trees(), source.id), { recursive: true });
  return withFileLock(join(paths.trees(), source.id, `.${opts.kernel}.lock`), () => buildLocked(opts, source, variant, t0), {
    timeoutMs: 3 * 60 * 60_000,
    what: `another build of the ${opts.kernel} tree`,
  });
}

async function buildLocked(opts: BuildOptions, source: KernelSource, variant: Variant, t0: number): Promise<KernelBuild> {
  const kernel = opts.kernel;
  const tLocked = Date.now();
  const tree = await worktree(source, kernel);
  const buildDir = buildDirOf(tree, variant);
  mkdirSync(buildDir, { recursive: true });
  const label = `${kernel}/${variant}`;

  let series: Series | null = null;
  let seriesState: 'applied' | 'unchanged' | 'adopted' = 'unchanged';
  if (kernel === 'uringlet') {
    series = readSeries(opts.patchesDir ?? paths.patches());
    if (series.patches.length === 0) {
      throw new UserError('patches/ is empty: there is no uringlet kernel to build', { details: ['build the stock kernel with --kernel stock, or put a git format-patch series in patches/'] });
    }
    const applyLog = new LogFile(join(paths.logs(), `series-${source.id}.log`));
    seriesState = await applySeries(tree, series, applyLog);
    if (seriesState === 'applied') log.info(`applied ${series.patches.length} patches from patches/ onto ${source.description} (${tree})`);
  } else {
    // The stock kernel must be the base, exactly: a comparison against an edited "stock" would lie.
    const [head, dirty] = await Promise.all([
      runOk('git', ['-C', tree, 'rev-parse', 'HEAD']),
      runOk('git', ['--no-optional-locks', '-C', tree, 'status', '--porcelain', '--untracked-files=no']),
    ]);
    if (head.stdout.trim() !== source.baseCommit || dirty.stdout.trim() !== '') {
      throw new UserError(`the stock tree ${tree} is not the clean base (${source.baseCommit.slice(0, 12)})`, {
        details: [...dirty.stdout.trim().split('\n').filter((l) => l !== '').slice(0, 8), `restore it: git -C ${tree} checkout -f --detach uringlet-base`],
      });
    }
  }

  const jobs = opts.jobs ?? cpus().length + 1;
  const statsLog = join(buildDir, 'ccache-stats.log');
  const env = { ...buildEnv, CCACHE_DIR: paths.ccache(), CCACHE_BASEDIR: paths.trees(), CCACHE_STATSLOG: statsLog };
  const baseArgs = [`O=${buildDir}`, 'ARCH=x86_64', 'CC=ccache gcc'];
  const fragments = fragmentFiles(variant);
  const fh = fragmentsHash(fragments);
  const configPath = join(buildDir, '.config');
  const cfgStamp = join(buildDir, CONFIG_STAMP);
  const logFile = new LogFile(join(buildDir, LOG_NAME));
  const metadataPath = join(buildDir, 'metadata.json');
  const bzImage = join(buildDir, 'arch/x86/boot/bzImage');
  const result: KernelBuild = {
    kernel, variant, tree, buildDir, bzImage,
    vmlinux: join(buildDir, 'vmlinux'),
    headersDir: join(buildDir, 'usr/include'),
    configPath, metadataPath, upToDate: false,
  };

  const compiler = await firstLine('gcc', ['--version']);
  const inputs = await treeInputs(tree);
  const configured = existsSync(configPath) && existsSync(cfgStamp) && readFileSync(cfgStamp, 'utf8') === fh;
  const configHash = configured ? sha(readFileSync(configPath)).slice(0, 16) : '';
  const state = sha([inputs.digest, fh, configHash, compiler, ...baseArgs].join('\n'));
  const stamp = join(buildDir, BUILD_STAMP);
  const previous = readPrevious(metadataPath);
  // The stamp is written only after a good build and removed when one fails, so a
  // matching stamp means this bzImage is the product of exactly these inputs.
  if (configured && previous?.status === 'pass' && existsSync(bzImage) && existsSync(stamp) && readFileSync(stamp, 'utf8') === state) {
    log.info(`${label} kernel is up to date (${((Date.now() - t0) / 1000).toFixed(1)} s): ${bzImage}`);
    return { ...result, upToDate: true };
  }

  // A real build from here on: a fresh log (the previous one stays until now, metadata points at it).
  writeFileSync(logFile.path, `# ${label} kernel build, ${new Date().toISOString()}\n`);
  const makeArgs = [...baseArgs, `-j${jobs}`, 'bzImage'];
  const hdrArgs = [`O=${buildDir}`, 'ARCH=x86_64', 'headers_install', `INSTALL_HDR_PATH=${join(buildDir, 'usr')}`];
  const sh = (args: string[]): string => args.map((a) => (/^[\w./=@:+-]+$/.test(a) ? a : `'${a}'`)).join(' ');
  // Every step that made this build, configuration included (also when it was not redone now).
  const makeCommands = [
    `cd ${tree}`,
    `make ${sh([...baseArgs, 'tinyconfig'])}`,
    `KCONFIG_CONFIG=${configPath} scripts/kconfig/merge_config.sh -m -O ${buildDir} ${configPath} ${fragments.join(' ')}`,
    `make ${sh([...baseArgs, 'olddefconfig'])}`,
    `make ${sh(makeArgs)}`,
    `make ${sh(hdrArgs)}`,
  ];
  if (!configured) {
    // Removed first: an interrupted configure must not leave a stamp over a half-made .config.
    rmSync(cfgStamp, { force: true });
    rmSync(stamp, { force: true });
    await log.step(`configuring ${label} (tinyconfig + ${fragments.map((f) => f.split('/').pop()).join(' + ')})`, () =>
      configure(tree, buildDir, fragments, baseArgs, env, logFile),
    );
    writeFileSync(cfgStamp, fh);
  }

  const kind: 'full' | 'incremental' = existsSync(result.vmlinux) ? 'incremental' : 'full';
  const expected = kind === 'full' ? fullBuildSize(source, variant) : null;
  writeFileSync(statsLog, '');
  let compiled = 0;
  let lastObject = '';
  let lastReport = Date.now();
  const tMake = Date.now();
  const ok = await log.step(`building ${label} kernel (${kind}, -j${jobs}, log: ${logFile.path})`, async () => {
    const r = await run('make', makeArgs, {
      cwd: tree, env, log: logFile,
      onLine: (l) => {
        const m = /^\s+(CC|AS)\s+(\S+)$/.exec(l);
        if (m !== null) {
          compiled++;
          lastObject = m[2] ?? '';
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          const pct = expected !== null ? ` (~${Math.min(99, Math.round((100 * compiled) / expected))}%)` : '';
          log.info(`  ${label}: ${compiled} files compiled${pct}, at ${lastObject}`);
        }
      },
    });
    return r.exitCode === 0;
  });
  const makeSec = Math.round((Date.now() - tMake) / 100) / 10;
  const text = readFileSync(logFile.path, 'utf8');
  const source_: SourceIdentity = {
    id: source.id, kind: source.kind, description: source.description,
    ...(source.packageVersion !== undefined ? { packageVersion: source.packageVersion } : {}),
    ...(source.path !== undefined ? { path: source.path } : {}),
    ...(source.contentHash !== undefined ? { contentHash: source.contentHash } : {}),
    baseCommit: source.baseCommit, baseTree: source.baseTree, headCommit: inputs.head, dirtyFiles: inputs.dirty, untrackedFiles: inputs.untracked,
  };
  const fragmentNames = fragments.map((f) => f.split('/').slice(-3).join('/'));
  const common = {
    kernel, variant, source: source_,
    series: series === null ? null : { hash: series.hash, patches: series.patches.map((p) => ({ file: p.file, subject: p.subject })), state: seriesState },
    toolchain: { compiler, ccache: await firstLine('ccache', ['--version']), make: await firstLine('make', ['--version']) },
    artifacts: { bzImage, vmlinux: result.vmlinux, headers: result.headersDir, config: configPath, log: logFile.path },
    reproducer: reproducer({ ...opts, kernel, variant }),
    makeCommands,
    makeEnv: env,
  };

  if (!ok) {
    const errors = firstErrors(text);
    const failed = parseWarnings(text);
    writeJsonAtomic(metadataPath, assembleMetadata({
      ...common, status: 'fail',
      config: { fragments: fragmentNames, fragmentsHash: fh, configHash: sha(readFileSync(configPath)).slice(0, 16) },
      build: { kind, compiledFiles: compiled, jobs, durationSec: makeSec },
      durationSec: Math.round((Date.now() - tLocked) / 100) / 10,
      warnings: failed, newOverStock: null,
      errors,
      ccache: ccacheSummary(ccacheCounters(statsLog)),
      builtAt: new Date().toISOString(),
    }));
    rmSync(stamp, { force: true });
    const tool = toolchainProblem(text);
    if (tool !== null) throw new InfraError(`the ${label} build could not run a tool: ${tool}`, { details: [...errors, 'run `uringlet doctor`'], logPath: logFile.path });
    if (kernel === 'stock') {
      throw new InfraError(`the stock ${variant} kernel does not build (the base tree, the config fragments or the toolchain is at fault, not patches/)`, { details: errors, logPath: logFile.path });
    }
    const errFile = /^(?:\.\.\/)*([^\s:]+):\d+(?::\d+)?: (?:fatal )?error: /m.exec(text)?.[1];
    const culprits = errFile !== undefined ? patchesTouching(series, errFile) : [];
    throw new UserError(`the uringlet ${variant} kernel does not build${errFile !== undefined ? ` (${errFile})` : ''}`, {
      details: [...errors, ...(culprits.length > 0 ? [`${errFile} is changed by: ${culprits.join(', ')}`] : [])],
      logPath: logFile.path,
    });
  }

  // A patch may change Kconfig: make's syncconfig then rewrote .config, so check the fragments again.
  verifyConfig(fragments, configPath, logFile.path);
  await runOk('make', hdrArgs, { cwd: tree, env, log: logFile });

  const now = parseWarnings(text);
  let warnings = now;
  if (kind === 'incremental' && previous !== null) {
    // Files changed since the previous build: their old warnings are re-decided by this log.
    const changed = await run('git', ['-C', tree, 'diff', '--name-only', previous.source.headCommit]);
    warnings = changed.exitCode === 0
      ? mergeWarnings(previous.warnings.list, now, rebuiltFiles(text), new Set([...changed.stdout.split('\n').filter((l) => l !== ''), ...inputs.untracked]))
      : now;
  }
  let newOverStock: string[] | null = null;
  if (kernel === 'uringlet') {
    const stock = readPrevious(join(buildDirOf(treeDir(source, 'stock'), variant), 'metadata.json'));
    if (stock?.status === 'pass') newOverStock = newWarnings(warnings, stock.warnings.list);
  }
  const finalConfigHash = sha(readFileSync(configPath)).slice(0, 16);
  const meta = assembleMetadata({
    ...common, status: 'pass',
    config: { fragments: fragmentNames, fragmentsHash: fh, configHash: finalConfigHash },
    build: { kind, compiledFiles: compiledCount(text), jobs, durationSec: makeSec },
    durationSec: Math.round((Date.now() - tLocked) / 100) / 10,
    warnings, newOverStock,
    errors: [],
    ccache: ccacheSummary(ccacheCounters(statsLog)),
    builtAt: new Date().toISOString(),
  });
  writeJsonAtomic(metadataPath, meta);
  // The stamp is of the state before make ran (make may have rewritten .config via syncconfig).
  writeFileSync(stamp, sha([inputs.digest, fh, finalConfigHash, compiler, ...baseArgs].join('\n')));
  const rate = meta.ccache.hitRate === null ? 'n/a' : `${Math.round(meta.ccache.hitRate * 100)}%`;
  const extra = newOverStock !== null && newOverStock.length > 0 ? `, ${newOverStock.length} new over stock` : '';
  log.info(`${label}: ${bzImage} (${meta.durationSec} s, ${meta.build.compiledFiles} files compiled, ${warnings.length} warnings${extra}, ccache hit rate ${rate})`);
  return result;
}

/** Stock, then uringlet when patches/ has a series (stock only otherwise, said clearly). */
export async function buildAll(opts: Omit<BuildOptions, 'kernel'> = {}): Promise<{ stock: KernelBuild; uringlet: KernelBuild | null }> {
  const stock = await buildKernel({ ...opts, kernel: 'stock' });
  if (readSeries(opts.patchesDir ?? paths.patches()).patches.length === 0) {
    log.warn('patches/ is empty: built the stock kernel only (no uringlet kernel without a series)');
    return { stock, uringlet: null };
  }
  const uringlet = await buildKernel({ ...opts, kernel: 'uringlet' });
  return { stock, uringlet };
}

export function readMetadata(build: KernelBuild): BuildMetadata {
  return readMetadataFile(build.metadataPath);
}

/** bzImages already built in the cache (no build is started), newest first; for `uringlet doctor`'s KVM probe. */
export function builtKernels(kernel: KernelName = 'stock', variant: Variant = 'default'): string[] {
  if (!existsSync(paths.trees())) return [];
  return readdirSync(paths.trees())
    .map((id) => join(paths.trees(), id, kernel, `.o-${variant}`, 'arch/x86/boot/bzImage'))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
}
