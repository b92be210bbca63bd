// Host provisioning: the data file, tool -> package mapping, the apt command,
// and the disk estimate and its message.
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { aptInstallCommand, hostPackagesFile, loadHostPackages, missingPackages, parseHostPackages, toolsFor, type HostTool } from '../../scripts/lib/host-packages.ts';
import { diskShortfall, ensureHost, kernelDiskNeed } from '../../scripts/lib/host.ts';

test('the data file is valid and names a package for every tool the issue lists', (t) => {
  const spec = loadHostPackages();
  const kernel = toolsFor(spec, 'build-kernel');
  const pkgOf = (check: string): string | undefined => spec.tools.find((x) => x.check === check)?.package;
  for (const [check, pkg] of [
    ['gcc', 'gcc'], ['make', 'make'], ['flex', 'flex'], ['bison', 'bison'], ['bc', 'bc'], ['cpio', 'cpio'], ['ccache', 'ccache'],
    ['/usr/include/libelf.h', 'libelf-dev'], ['/usr/include/openssl/ssl.h', 'libssl-dev'], ['rsync', 'rsync'],
    ['qemu-system-x86_64', 'qemu-system-x86'], ['debootstrap', 'debootstrap'], ['mkfs.ext4', 'e2fsprogs'], ['ssh', 'openssh-client'],
  ] as const) {
    t.is(pkgOf(check), pkg, check);
  }
  t.true(kernel.some((x) => x.check === 'gcc'));
  t.false(kernel.some((x) => x.check === 'qemu-system-x86_64'), 'a kernel build does not need QEMU');
  t.true(toolsFor(spec, 'compare').some((x) => x.check === 'qemu-system-x86_64'));
  t.is(toolsFor(spec, 'all').length, spec.tools.length, 'doctor/CI installs every tool');
});

// A fresh machine once ran `npm run compare` through 25 minutes of kernel builds
// and then stopped: liburing-dev was in no purpose any stage ensured.
test('compare ensures what every stage it runs needs; guest programs get liburing-dev', (t) => {
  const spec = loadHostPackages();
  const checks = (p: Parameters<typeof toolsFor>[1]): Set<string> => new Set(toolsFor(spec, p).map((x) => x.check));
  const compare = checks('compare');
  for (const stage of ['build-kernel', 'image', 'vm', 'guest-programs', 'guest-test'] as const) {
    for (const c of checks(stage)) t.true(compare.has(c), `${stage} needs ${c}, compare does not ensure it`);
  }
  const guest = checks('guest-programs');
  for (const c of ['gcc', 'make', '/usr/include/liburing.h', 'dpkg-source']) t.true(guest.has(c), c);
  t.false(guest.has('qemu-system-x86_64'), 'compiling guest programs needs no QEMU');
});

test('a tool with an unknown group or a missing purpose is rejected, not skipped', (t) => {
  const good = JSON.parse(readFileSync(hostPackagesFile(), 'utf8')) as { tools: HostTool[]; purposes: Record<string, string[]> };
  const typo = structuredClone(good);
  typo.tools[0]!.groups = ['kernal'];
  t.throws(() => parseHostPackages(JSON.stringify(typo)), { instanceOf: UserError, message: /kernal/ });
  const noPurpose = structuredClone(good);
  delete noPurpose.purposes['image'];
  t.throws(() => parseHostPackages(JSON.stringify(noPurpose)), { instanceOf: UserError, message: /'image'/ });
});

test('missing tools map to their packages, deduplicated and sorted', (t) => {
  const tools: HostTool[] = [
    { check: 'ssh', package: 'openssh-client', groups: ['vm'], for: 'x' },
    { check: 'ssh-keygen', package: 'openssh-client', groups: ['vm'], for: 'y' },
    { check: 'gcc', package: 'gcc', groups: ['kernel'], for: 'z' },
    { check: '/usr/include/libelf.h', package: 'libelf-dev', groups: ['kernel'], for: 'z' },
  ];
  t.deepEqual(missingPackages(tools, (c) => c === 'gcc'), ['libelf-dev', 'openssh-client']);
  t.deepEqual(missingPackages(tools, () => true), []);
});

test('the apt command: one update, then one install without recommends', (t) => {
  t.is(
    aptInstallCommand(['bc', 'flex']),
    "sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bc flex'",
  );
});

test('disk: a cold kernel build needs the import, two trees worth of space; a warm one only the margin', (t) => {
  const sizes = loadHostPackages().disk;
  const cold = kernelDiskNeed(sizes, { sourceImported: false, missingWorktrees: 1, missingBuildDirs: ['default'], ccacheExists: false });
  t.is(cold, sizes.margin + sizes.sourceImport + sizes.worktree + (sizes.buildDir['default'] ?? NaN) + sizes.ccache);
  t.is(kernelDiskNeed(sizes, { sourceImported: true, missingWorktrees: 0, missingBuildDirs: [], ccacheExists: true }), sizes.margin);
  t.true(
    kernelDiskNeed(sizes, { sourceImported: true, missingWorktrees: 0, missingBuildDirs: ['debug'], ccacheExists: true }) >
      kernelDiskNeed(sizes, { sourceImported: true, missingWorktrees: 0, missingBuildDirs: ['default'], ccacheExists: true }),
  );
});

test('disk: the message says how much is missing', (t) => {
  t.is(diskShortfall(10, 8, '/c', 'x'), null);
  t.is(diskShortfall(2.5, 6.2, '/c', 'building stock/default'), 'not enough disk under /c: 2.5 GiB free, building stock/default needs about 6.2 GiB (3.7 GiB missing)');
});

test('ensureHost without installing: a UserError naming the missing packages and the exact apt command', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = mkdtempSync(join(tmpdir(), 'uringlet-empty-path-'));
  try {
    const e = await t.throwsAsync(ensureHost('build-kernel', { install: false }), { instanceOf: UserError });
    t.regex(e?.message ?? '', /^missing host packages for build-kernel: .*\bbison\b.*\bgcc\b/);
    t.notRegex(e?.message ?? '', /qemu/, 'only what a kernel build needs');
    const cmd = (e as UserError).details.at(-1) ?? '';
    t.regex(cmd, /^install them with: sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends .*\bflex\b/);
    t.true((e as UserError).details.some((l) => l.startsWith('gcc (gcc): ')), 'each missing tool says why it is needed');
  } finally {
    process.env.PATH = saved;
  }
});
