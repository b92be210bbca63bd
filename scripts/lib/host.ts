// Host provisioning, run first by every command (`ensureHost`) and in full by
// `uringlet doctor`: the tools a purpose needs (vm/host-packages.json), apt
// install as root or the exact command otherwise, and free disk.
import { existsSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InfraError, UserError } from './errors.ts';
import { LogFile, log } from './log.ts';
import { cacheRoot, paths } from './paths.ts';
import { run } from './proc.ts';
import {
  aptInstallCommand,
  loadHostPackages,
  missingPackages,
  toolPresent,
  toolsFor,
  type DiskSizes,
  type Purpose,
} from './host-packages.ts';

export type { Purpose } from './host-packages.ts';
export { loadHostPackages, missingPackages, toolPresent, toolsFor, aptInstallCommand } from './host-packages.ts';

/** Free space (GiB) of the filesystem holding `dir` (or its closest existing parent). */
export function freeGiB(dir: string): number {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const s = statfsSync(d);
  return (s.bavail * s.bsize) / 2 ** 30;
}

/** What of the kernel cache is still to be created by a build (for the disk estimate). */
export interface KernelCacheState {
  sourceImported: boolean;
  missingWorktrees: number;
  /** Variants of build directories that do not exist yet (one entry per directory). */
  missingBuildDirs: string[];
  ccacheExists: boolean;
}

/** Pure: GiB a kernel build still needs, from the measured sizes in the data file. */
export function kernelDiskNeed(sizes: DiskSizes, s: KernelCacheState): number {
  let need = sizes.margin;
  if (!s.sourceImported) need += sizes.sourceImport;
  need += s.missingWorktrees * sizes.worktree;
  for (const v of s.missingBuildDirs) need += sizes.buildDir[v] ?? sizes.buildDir['default'] ?? 0;
  if (!s.ccacheExists) need += sizes.ccache;
  return need;
}

/** Pure: null when there is room, else the message saying how much is missing. */
export function diskShortfall(freeGiBs: number, needGiB: number, where: string, what: string): string | null {
  if (freeGiBs >= needGiB) return null;
  return `not enough disk under ${where}: ${freeGiBs.toFixed(1)} GiB free, ${what} needs about ${needGiB.toFixed(1)} GiB (${(needGiB - freeGiBs).toFixed(1)} GiB missing)`;
}

const toolsChecked = new Set<Purpose>();

async function aptInstall(pkgs: string[]): Promise<void> {
  const logFile = new LogFile(join(paths.logs(), 'apt.log'));
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // Another process may hold the dpkg lock (a parallel test): wait for it instead of failing.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
  await log.step(`installing host packages with apt: ${pkgs.join(' ')} (log: ${logFile.path})`, async () => {
    const up = await run('apt-get', [...lockWait, 'update', '-q'], { env, log: logFile });
    if (up.exitCode !== 0) throw new InfraError('apt-get update failed', { details: logFile.tail(12), logPath: logFile.path });
    const inst = await run('apt-get', [...lockWait, 'install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, log: logFile });
    if (inst.exitCode !== 0) {
      throw new InfraError(`apt-get install ${pkgs.join(' ')} failed`, { details: logFile.tail(12), logPath: logFile.path });
    }
  });
}

/**
 * Make sure the host has what `purpose` needs. Missing tools: as root they are
 * installed with apt (one update, one install); otherwise a UserError gives the
 * exact command. Disk: `diskGiB` (default: a margin) must be free in the cache.
 * Cheap after the first call of a process (tools are checked once per purpose).
 */
export async function ensureHost(purpose: Purpose, opts: { install?: boolean; diskGiB?: number } = {}): Promise<void> {
  if (!toolsChecked.has(purpose)) {
    const spec = loadHostPackages();
    const tools = toolsFor(spec, purpose);
    const missing = missingPackages(tools, toolPresent);
    if (missing.length > 0) {
      const isRoot = process.getuid?.() === 0;
      if (!isRoot || opts.install === false) {
        const why = tools.filter((t) => missing.includes(t.package) && !toolPresent(t.check)).map((t) => `${t.check} (${t.package}): ${t.for}`);
        throw new UserError(`missing host packages for ${purpose}: ${missing.join(' ')}`, {
          details: [...why, `install them with: ${aptInstallCommand(missing)}`],
        });
      }
      await aptInstall(missing);
      const still = missingPackages(tools, toolPresent);
      if (still.length > 0) throw new InfraError(`still missing after apt-get install: ${still.join(' ')}`);
    }
    toolsChecked.add(purpose);
  }
  const disk = loadHostPackages().disk;
  ensureDisk(opts.diskGiB ?? (purpose === 'image' ? disk.image + disk.margin : disk.margin), purpose);
}

/** Throw an InfraError when the cache filesystem has less than `needGiB` free, saying how much is missing. */
export function ensureDisk(needGiB: number, what: string): void {
  const short = diskShortfall(freeGiB(cacheRoot()), needGiB, cacheRoot(), what);
  if (short !== null) throw new InfraError(short, { details: ['free some space or point URINGLET_CACHE at a bigger filesystem'] });
}

/** The measured sizes of vm/host-packages.json (GiB). */
export function diskSizes(): DiskSizes {
  return loadHostPackages().disk;
}
