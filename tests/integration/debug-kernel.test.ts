// The series on the debug kernel (lockdep, KASAN, kmemleak, atomic-sleep and
// hung-task checks): the whole guest suite, then no report on the console,
// and withVm()'s kmemleak scans at the end find nothing. .ci/run builds the
// debug kernel before the tests (13 min cold here, a no-op when cached).
import test from 'ava';
import { buildKernel } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { buildGuestTests, runGuestTests } from '../../scripts/lib/guest-tests.ts';
import { withVm } from '../../scripts/lib/vm.ts';

test.serial('debug kernel: the guest suite passes, the console has no report and kmemleak lists nothing', async (t) => {
  const debug = await buildKernel({ kernel: 'uringlet', variant: 'debug' });
  const headers = (await buildKernel({ kernel: 'uringlet', variant: 'default' })).headersDir;
  const image = await buildImage();
  const bin = await buildGuestTests(headers);
  // withVm() scans kmemleak after this function and throws on a leak, failing the test
  await withVm({ kernel: debug.bzImage, image, bootTimeoutMs: 300_000, debugKernel: true }, async (vm) => {
    const k = await vm.exec('test -e /sys/kernel/debug/kmemleak && cat /proc/sys/kernel/io_uring_uringlet_force');
    t.is(k.code, 0, 'kmemleak is there to scan, and this is the uringlet kernel');
    const [run] = await runGuestTests(vm, bin, { timeoutMs: 900_000 });
    if (!run) return t.fail('no guest test run');
    t.true(run.tap.diagnostics.some((d) => d.includes('kernel mode: uringlet')), 'the rings really are in uringlet mode');
    t.is(run.tap.failed, 0, run.tap.tests.filter((x) => !x.ok).map((x) => `${x.name}: ${x.comment}`).join('; '));
    t.true(run.tap.tests.length >= 40, `${run.tap.tests.length} guest tests ran`);
    vm.checkConsole();
  });
});
