// A real kernel through the cached buildKernel: the stock default build that
// every other suite uses too (cold on a fresh machine, then a no-op), its
// artifacts, exported headers and metadata.json; then the no-op rebuild.
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel, readMetadata } from '../../scripts/lib/kbuild.ts';
import { fragmentFiles, missingOptions, requestedOptions } from '../../scripts/lib/kconfig.ts';

test.serial('the stock default kernel builds (or is up to date) with artifacts, uapi headers and metadata', async (t) => {
  const b = await buildKernel({ kernel: 'stock', variant: 'default' });
  t.is(b.buildDir, join(b.tree, '.o-default'), 'the build directory is a direct subdirectory of the tree (ccache hits across trees)');
  for (const p of [b.bzImage, b.vmlinux, b.configPath, b.metadataPath]) t.true(existsSync(p), p);
  t.true(statSync(b.bzImage).size > 1_000_000, 'a real bzImage');
  t.is(readFileSync(b.bzImage).subarray(0x202, 0x206).toString('latin1'), 'HdrS', 'x86 boot protocol header');
  const uapi = readFileSync(join(b.headersDir, 'linux', 'io_uring.h'), 'utf8');
  t.regex(uapi, /IORING_SETUP_DEFER_TASKRUN/, 'exported 6.1 uapi headers');
  t.notRegex(uapi, /IORING_SETUP_URINGLET/, 'stock headers do not have the new flag');
  t.deepEqual(missingOptions(requestedOptions(fragmentFiles('default')), readFileSync(b.configPath, 'utf8')), []);

  const m = readMetadata(b);
  t.is(m.status, 'pass');
  t.is(m.kernel, 'stock');
  t.is(m.series, null);
  t.is(m.source.headCommit, m.source.baseCommit, 'stock is the base');
  t.regex(m.source.baseCommit, /^[0-9a-f]{40}$/);
  t.regex(m.toolchain.compiler, /gcc/);
  t.regex(m.config.configHash, /^[0-9a-f]{16}$/);
  t.is(m.artifacts.bzImage, b.bzImage);
  t.regex(m.reproducer, /^npm run build-kernel -- --kernel stock --variant default/);
  t.is(m.warnings.count, m.warnings.list.length);
  t.true(existsSync(m.artifacts.log), 'the full build log is kept');
});

test.serial('an unchanged tree is a no-op in under 5 s', async (t) => {
  await buildKernel({ kernel: 'stock', variant: 'default' });
  const t0 = Date.now();
  const again = await buildKernel({ kernel: 'stock', variant: 'default' });
  const sec = (Date.now() - t0) / 1000;
  t.true(again.upToDate);
  t.true(sec < 5, `no-op took ${sec} s`);
});
