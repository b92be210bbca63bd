// Host provisioning: which tools the pipeline needs (vm/host-packages.json),
// what is missing, and installing it with apt when we are root.
import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { InfraError, UserError } from './errors.ts';
import { log } from './log.ts';
import { paths } from './paths.ts';
import { run } from './proc.ts';

export interface HostTool {
  check: string;
  package: string;
  for: string;
}

interface HostPackages {
  tools: HostTool[];
  optional: HostTool[];
  diskGiB: Record<string, number>;
}

export function loadHostPackages(): HostPackages {
  return JSON.parse(readFileSync(join(paths.vm(), 'host-packages.json'), 'utf8')) as HostPackages;
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/** A check is an absolute file path or a command on PATH. */
export function toolPresent(check: string): boolean {
  return check.startsWith('/') ? existsSync(check) : onPath(check);
}

/** Pure: the packages to install for the tools that are missing, deduplicated, sorted. */
export function missingPackages(tools: HostTool[], present: (check: string) => boolean): string[] {
  return [...new Set(tools.filter((t) => !present(t.check)).map((t) => t.package))].sort();
}

export function aptInstallCommand(pkgs: string[]): string {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

/** Free space (GiB) of the filesystem holding `dir` (or its closest existing parent). */
export function freeGiB(dir: string): number {
  let d = dir;
  while (!existsSync(d)) d = join(d, '..');
  const s = statfsSync(d);
  return (s.bavail * s.bsize) / 2 ** 30;
}

/**
 * Make sure the host has what `purpose` needs: installs missing packages
 * with apt as root, otherwise stops with the exact command to run.
 */
export async function ensureHost(purpose: 'build-kernel' | 'image' | 'compare', opts: { install?: boolean } = {}): Promise<void> {
  const spec = loadHostPackages();
  const missing = missingPackages(spec.tools, toolPresent);
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    if (!isRoot || opts.install === false) {
      throw new UserError(`missing host packages: ${missing.join(' ')}`, {
        details: [`install them with: sudo sh -c '${aptInstallCommand(missing)}'`],
      });
    }
    await log.step(`installing host packages: ${missing.join(' ')}`, async () => {
      const env = { DEBIAN_FRONTEND: 'noninteractive' };
      const up = await run('apt-get', ['update', '-q'], { env });
      if (up.exitCode !== 0) throw new InfraError('apt-get update failed', { details: up.stderr.trim().split('\n').slice(-10) });
      const inst = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
      if (inst.exitCode !== 0) throw new InfraError(`apt-get install ${missing.join(' ')} failed`, { details: inst.stderr.trim().split('\n').slice(-10) });
    });
    const still = missingPackages(spec.tools, toolPresent);
    if (still.length > 0) throw new InfraError(`still missing after apt-get install: ${still.join(' ')}`);
  }
  const need = spec.diskGiB[purpose] ?? 0;
  const free = freeGiB(paths.src());
  if (free < need) {
    throw new InfraError(`not enough disk under ${paths.src()}: ${free.toFixed(1)} GiB free, ${purpose} needs about ${need} GiB (${(need - free).toFixed(1)} GiB missing)`);
  }
}
