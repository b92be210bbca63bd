// `uringlet doctor`: every host tool the project uses (installed with apt as
// root unless --check), free disk against a cold run, the kernel cache, and
// whether KVM works here.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { helpOrFlags, type Command } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { aptInstallCommand, diskShortfall, diskSizes, ensureHost, freeGiB, kernelDiskNeed, loadHostPackages, missingPackages, toolPresent, toolsFor } from '../lib/host.ts';
import { builtKernels } from '../lib/kbuild.ts';
import { cacheRoot, paths } from '../lib/paths.ts';
import { probeAccelerator } from '../lib/accel.ts';

const out = (s: string): void => void process.stdout.write(s + '\n');

const doctorHelp = `usage: uringlet doctor [--check]
  Checks the host tools of vm/host-packages.json and, as root without --check, installs the
  missing ones with apt; reports free disk against a cold run, the kernel cache, and KVM.`;

function dirs(p: string): string[] {
  return existsSync(p) ? readdirSync(p).filter((d) => !d.startsWith('.')) : [];
}

const command: Command = {
  summary: 'check (and as root, install) host tools; report disk and KVM',
  async run(argv) {
    if (helpOrFlags(argv, ['--check'], doctorHelp)) return 0;
    const checkOnly = argv.includes('--check');
    const isRoot = process.getuid?.() === 0;
    if (!checkOnly && isRoot) await ensureHost('all');

    const spec = loadHostPackages();
    const tools = toolsFor(spec, 'all');
    out('host tools (vm/host-packages.json):');
    for (const t of tools) out(`  ${toolPresent(t.check) ? 'ok     ' : 'MISSING'} ${t.check.padEnd(46)} ${t.package} (${t.for})`);
    const missing = missingPackages(tools, toolPresent);

    // Disk: what a cold run (source, two trees, two default builds, ccache, image) still needs.
    const sizes = diskSizes();
    const sources = dirs(paths.src());
    const trees = sources.flatMap((id) => dirs(join(paths.trees(), id)).map((k) => join(paths.trees(), id, k)));
    const need =
      kernelDiskNeed(sizes, {
        sourceImported: sources.length > 0,
        missingWorktrees: Math.max(0, 2 - trees.length),
        missingBuildDirs: ['default', 'default'].slice(trees.filter((t) => existsSync(join(t, '.o-default', 'vmlinux'))).length),
        ccacheExists: existsSync(paths.ccache()),
      }) + (dirs(paths.images()).length > 0 ? 0 : sizes.image);
    const free = freeGiB(cacheRoot());
    const short = diskShortfall(free, need, cacheRoot(), 'a full run');
    out(`disk: ${free.toFixed(1)} GiB free under ${cacheRoot()}; a full run still needs about ${need.toFixed(1)} GiB${short === null ? ' (ok)' : ` -> ${short}`}`);

    out(`kernel sources: ${sources.length > 0 ? sources.join(', ') : 'none imported yet (the first build-kernel imports Debian linux-source-6.1)'}`);
    for (const k of ['stock', 'uringlet'] as const) {
      for (const v of ['default', 'debug'] as const) {
        const b = builtKernels(k, v)[0];
        if (b !== undefined) out(`  built: ${k}/${v} ${b}`);
      }
    }

    const probe = builtKernels()[0];
    const accel = await probeAccelerator(probe !== undefined ? { kernel: probe } : {});
    out(`accelerator: ${accel.accel} (${accel.reason})`);
    if (accel.accel === 'tcg') {
      out('  KVM is not usable: guests run under TCG emulation (much slower); benchmarks compare only runs on this same host.');
    }

    if (missing.length > 0) {
      throw new UserError(`missing host packages: ${missing.join(' ')}`, {
        details: [isRoot ? 'run `uringlet doctor` without --check to install them' : `install them with: ${aptInstallCommand(missing)}`],
      });
    }
    return short === null ? 0 : 2;
  },
};
export default command;
