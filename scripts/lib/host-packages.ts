// The host tools the pipeline needs, as data (vm/host-packages.json): what
// to check, which Debian package provides it, which purpose needs it. Pure
// functions here; probing and installing are in host.ts.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UserError } from './errors.ts';
import { paths } from './paths.ts';

export interface HostTool {
  /** A command looked up on PATH, or an absolute file path. */
  check: string;
  /** Debian package that provides it. */
  package: string;
  groups: string[];
  /** Why we need it, shown by `uringlet doctor`. */
  for: string;
}

export interface DiskSizes {
  sourceImport: number;
  worktree: number;
  buildDir: Record<string, number>;
  ccache: number;
  image: number;
  margin: number;
}

export interface HostPackages {
  purposes: Record<string, string[]>;
  tools: HostTool[];
  disk: DiskSizes;
}

/** What a command needs; 'all' is what `uringlet doctor` and CI install. */
export type Purpose = 'build-kernel' | 'image' | 'vm' | 'guest-programs' | 'guest-test' | 'compare' | 'all';

export function hostPackagesFile(): string {
  return join(paths.vm(), 'host-packages.json');
}

/** Load and validate the data file (a typo there must not turn into a silent skip). */
export function parseHostPackages(text: string, file = 'vm/host-packages.json'): HostPackages {
  const d = JSON.parse(text) as HostPackages;
  const groups = new Set(Object.values(d.purposes ?? {}).flat());
  if (!Array.isArray(d.tools) || d.tools.length === 0) throw new UserError(`${file}: no tools`);
  for (const t of d.tools) {
    if (typeof t.check !== 'string' || typeof t.package !== 'string' || !/^[a-z0-9][a-z0-9+.-]*$/.test(t.package)) {
      throw new UserError(`${file}: bad tool entry ${JSON.stringify(t)}`);
    }
    const unknown = (t.groups ?? []).filter((g) => !groups.has(g));
    if (!Array.isArray(t.groups) || t.groups.length === 0 || unknown.length > 0) {
      throw new UserError(`${file}: tool ${t.check} has no groups or groups no purpose uses (${unknown.join(', ')})`);
    }
  }
  for (const p of ['build-kernel', 'image', 'vm', 'guest-programs', 'guest-test', 'compare', 'all'] satisfies Purpose[]) {
    if (!Array.isArray(d.purposes[p])) throw new UserError(`${file}: purpose '${p}' is not defined`);
  }
  return d;
}

export function loadHostPackages(): HostPackages {
  return parseHostPackages(readFileSync(hostPackagesFile(), 'utf8'), hostPackagesFile());
}

/** Pure: the tools `purpose` needs. */
export function toolsFor(spec: HostPackages, purpose: Purpose): HostTool[] {
  const groups = new Set(spec.purposes[purpose] ?? []);
  return spec.tools.filter((t) => t.groups.some((g) => groups.has(g)));
}

function onPath(cmd: string): boolean {
  // sbin too: mkfs.ext4 lives there and a non-root PATH may lack it.
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    if (dir === '') continue;
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

/** The exact command a non-root user has to run (one update, then one install). */
export function aptInstallCommand(pkgs: string[]): string {
  return `sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs.join(' ')}'`;
}
