// Building a kernel: stock or uringlet (base + patches/), default or debug
// variant, out of tree in <tree>/.o-<variant> (a direct subdirectory, so
// Kbuild uses relative paths and ccache hits across the two trees). Skips
// everything when nothing changed; writes metadata.json like tuxmake.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { UserError } from './errors.ts';
import { ensureHost } from './host.ts';
import { configure, fragmentFiles, fragmentsHash, type Variant } from './kconfig.ts';
import { kernelSource, worktree, type KernelName, type KernelSource, type SourceOptions } from './kernel-source.ts';
import { LogFile, log } from './log.ts';
import { paths } from './paths.ts';
import { run, runOk } from './proc.ts';
import { applySeries, readSeries, type Series } from './series.ts';

export type { Variant } from './kconfig.ts';
export type { KernelName } from './kernel-source.ts';

export interface BuildOptions extends SourceOptions {
  kernel: KernelName;
  variant?: Variant;
  jobs?: number;
}

export interface KernelBuild {
  kernel: KernelName;
  variant: Variant;
  tree: string;
  buildDir: string;
  bzImage: string;
  vmlinux: string;
  headersDir: string;
  configPath: string;
  metadataPath: string;
  /** true when nothing had to be rebuilt */
  upToDate: boolean;
}

export interface BuildMetadata {
  schema: 1;
  status: 'pass';
  kernel: KernelName;
  variant: Variant;
  source: { id: string; description: string; baseCommit: string; headCommit: string };
  series: { hash: string; patches: { file: string; subject: string }[] } | null;
  config: { fragments: string[]; fragmentsHash: string; configHash: string };
  compiler: string;
  durationSec: number;
  upToDate: boolean;
  warnings: { count: number; list: string[]; newOverStock: string[] | null };
  ccache: { hits: number; misses: number; hitRate: number | null };
  artifacts: { bzImage: string; vmlinux: string; headers: string; config: string; log: string };
  reproducer: string;
  builtAt: string;
}

const env: Record<string, string> = {
  KBUILD_BUILD_TIMESTAMP: 'Thu Jan 1 00:00:00 UTC 2026',
  KBUILD_BUILD_USER: 'uringlet',
  KBUILD_BUILD_HOST: 'uringlet',
};

function sha(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

async function ccacheStats(): Promise<{ hits: number; misses: number }> {
  const r = await run('ccache', ['--print-stats'], { env: { CCACHE_DIR: paths.ccache() } });
  const get = (k: string): number => Number(new RegExp(`^${k}\\t(\\d+)`, 'm').exec(r.stdout)?.[1] ?? 0);
  return { hits: get('direct_cache_hit') + get('preprocessed_cache_hit'), misses: get('cache_miss') };
}

/** Pure: normalised compiler warnings of a build log (file: message, no line numbers). */
export function parseWarnings(logText: string): string[] {
  const out = new Set<string>();
  for (const m of logText.matchAll(/^([^\s:]+):\d+:\d+: warning: (.*)$/gm)) out.add(`${m[1]}: ${m[2]}`);
  return [...out].sort();
}

/** Pure: the first compiler errors of a build log, for the failure message. */
export function firstErrors(logText: string, max = 12): string[] {
  const lines = logText.split('\n');
  const i = lines.findIndex((l) => /: error: |Error \d+$|undefined reference/.test(l));
  return i < 0 ? lines.filter((l) => l.trim() !== '').slice(-max) : lines.slice(Math.max(0, i - 2), i + max - 2);
}

async function treeState(tree: string): Promise<string> {
  const head = (await runOk('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
  // Uncommitted edits count too (a maintainer iterating in the tree).
  const diff = (await runOk('git', ['-C', tree, 'diff', 'HEAD'])).stdout;
  return `${head}:${sha(diff).slice(0, 16)}`;
}

export async function buildKernel(opts: BuildOptions): Promise<KernelBuild> {
  const variant: Variant = opts.variant ?? 'default';
  const t0 = Date.now();
  await ensureHost('build-kernel');
  const source = await kernelSource(opts);
  const tree = await worktree(source, opts.kernel);
  const buildDir = join(tree, `.o-${variant}`);
  mkdirSync(buildDir, { recursive: true });
  const logFile = new LogFile(join(buildDir, 'uringlet-build.log'));
  writeFileSync(logFile.path, '');
  let series: Series | null = null;
  if (opts.kernel === 'uringlet') {
    series = readSeries(paths.patches());
    if (series.patches.length === 0) throw new UserError('patches/ is empty: there is no uringlet kernel to build (build --kernel stock)');
    const r = await applySeries(tree, series, logFile);
    if (r === 'applied') log.info(`applied ${series.patches.length} patches from patches/ onto ${source.description}`);
  }
  const jobs = opts.jobs ?? cpus().length + 1;
  const makeArgs = [`O=${buildDir}`, 'ARCH=x86_64', 'CC=ccache gcc', `-j${jobs}`];
  const menv = { ...env, CCACHE_DIR: paths.ccache() };
  const configPath = join(buildDir, '.config');
  const cfgStamp = join(buildDir, '.uringlet-config-stamp');
  const fh = fragmentsHash(variant);
  if (!existsSync(configPath) || !existsSync(cfgStamp) || readFileSync(cfgStamp, 'utf8') !== fh) {
    await log.step(`configuring ${opts.kernel}/${variant} (tinyconfig + ${fragmentFiles(variant).map((f) => f.split('/').pop()).join(' + ')})`, () =>
      configure(tree, buildDir, variant, makeArgs.slice(0, 3), menv, logFile),
    );
    writeFileSync(cfgStamp, fh);
  }
  const configHash = sha(readFileSync(configPath)).slice(0, 16);
  const state = `${await treeState(tree)}:${configHash}`;
  const buildStamp = join(buildDir, '.uringlet-build-stamp');
  const bzImage = join(buildDir, 'arch/x86/boot/bzImage');
  const headersDir = join(buildDir, 'usr/include');
  const metadataPath = join(buildDir, 'metadata.json');
  const result: KernelBuild = {
    kernel: opts.kernel, variant, tree, buildDir, bzImage, vmlinux: join(buildDir, 'vmlinux'),
    headersDir, configPath, metadataPath, upToDate: false,
  };
  if (existsSync(bzImage) && existsSync(metadataPath) && existsSync(buildStamp) && readFileSync(buildStamp, 'utf8') === state) {
    log.info(`${opts.kernel}/${variant} kernel is up to date: ${bzImage}`);
    return { ...result, upToDate: true };
  }
  const before = await ccacheStats();
  let compiled = 0;
  let lastReport = Date.now();
  const ok = await log.step(`building ${opts.kernel}/${variant} kernel (-j${jobs}, log: ${logFile.path})`, async () => {
    const r = await run('make', [...makeArgs, 'bzImage'], {
      cwd: tree, env: menv, log: logFile,
      onLine: (l) => {
        if (/^\s+(CC|AS|LD|AR)\s/.test(l)) compiled++;
        if (Date.now() - lastReport > 15000) {
          lastReport = Date.now();
          log.info(`  ... ${compiled} objects built`);
        }
      },
    });
    return r.exitCode === 0;
  });
  const text = readFileSync(logFile.path, 'utf8');
  if (!ok) {
    throw new UserError(`the ${opts.kernel}/${variant} kernel does not build`, { details: firstErrors(text), logPath: logFile.path });
  }
  await runOk('make', [`O=${buildDir}`, 'ARCH=x86_64', 'headers_install', `INSTALL_HDR_PATH=${join(buildDir, 'usr')}`], { cwd: tree, env: menv, log: logFile });
  const after = await ccacheStats();
  const warnings = parseWarnings(text);
  let newOverStock: string[] | null = null;
  if (opts.kernel === 'uringlet') {
    const stockMeta = join(await worktree(source, 'stock'), `.o-${variant}`, 'metadata.json');
    if (existsSync(stockMeta)) {
      const stock = JSON.parse(readFileSync(stockMeta, 'utf8')) as BuildMetadata;
      newOverStock = warnings.filter((w) => !stock.warnings.list.includes(w));
    }
  }
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  const compiler = (await run('gcc', ['--version'])).stdout.split('\n')[0] ?? 'gcc';
  const headCommit = (await runOk('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
  const meta: BuildMetadata = {
    schema: 1, status: 'pass', kernel: opts.kernel, variant,
    source: { id: source.id, description: source.description, baseCommit: source.baseCommit, headCommit },
    series: series === null ? null : { hash: series.hash, patches: series.patches.map((p) => ({ file: p.file, subject: p.subject })) },
    config: { fragments: fragmentFiles(variant).map((f) => f.split('/').slice(-2).join('/')), fragmentsHash: fh, configHash },
    compiler,
    durationSec: Math.round((Date.now() - t0) / 100) / 10,
    upToDate: false,
    warnings: { count: warnings.length, list: warnings, newOverStock },
    ccache: { hits, misses, hitRate: hits + misses > 0 ? Math.round((1000 * hits) / (hits + misses)) / 1000 : null },
    artifacts: { bzImage, vmlinux: result.vmlinux, headers: headersDir, config: configPath, log: logFile.path },
    reproducer: `npm run build-kernel -- --kernel ${opts.kernel} --variant ${variant}${opts.kernelSrc ? ` --kernel-src ${opts.kernelSrc}` : ''}${opts.kernelRef ? ` --kernel-ref ${opts.kernelRef}` : ''}`,
    builtAt: new Date().toISOString(),
  };
  writeJsonAtomic(metadataPath, meta);
  writeFileSync(buildStamp, state);
  log.info(`${opts.kernel}/${variant}: ${bzImage} (${meta.durationSec}s, ${warnings.length} warnings, ccache ${hits} hits / ${misses} misses)`);
  return result;
}

/** Stock, then uringlet when patches/ has a series. */
export async function buildAll(opts: Omit<BuildOptions, 'kernel'> = {}): Promise<{ stock: KernelBuild; uringlet: KernelBuild | null }> {
  const stock = await buildKernel({ ...opts, kernel: 'stock' });
  if (readSeries(paths.patches()).patches.length === 0) {
    log.warn('patches/ is empty: built the stock kernel only');
    return { stock, uringlet: null };
  }
  const uringlet = await buildKernel({ ...opts, kernel: 'uringlet' });
  return { stock, uringlet };
}

export function readMetadata(build: KernelBuild): BuildMetadata {
  return JSON.parse(readFileSync(build.metadataPath, 'utf8')) as BuildMetadata;
}

export type { KernelSource };
