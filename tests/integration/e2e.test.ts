// End to end on real parts: build both kernels (cached), the image, boot each
// kernel in QEMU, run the guest suite over SSH.
import test from 'ava';
import { buildAll } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { buildGuestTests, runGuestTests } from '../../scripts/lib/guest-tests.ts';
import { withVm } from '../../scripts/lib/vm.ts';

const built = (async () => {
  const kernels = await buildAll();
  if (kernels.uringlet === null) throw new Error('patches/ is empty: the end-to-end test needs the uringlet kernel');
  const image = await buildImage();
  const bin = await buildGuestTests(kernels.uringlet.headersDir);
  return { stock: kernels.stock, uringlet: kernels.uringlet, image, bin };
})();

test.serial('guest suite passes on the uringlet kernel, and enter never blocks', async (t) => {
  const { uringlet, image, bin } = await built;
  await withVm({ kernel: uringlet.bzImage, image }, async (vm) => {
    const [run] = await runGuestTests(vm, bin);
    t.truthy(run);
    if (!run) return;
    t.log(run.output.split('\n').filter((l) => /^(not ok|#)/.test(l)).join('\n'));
    t.true(run.tap.diagnostics.some((d) => d.includes('kernel mode: uringlet')), 'the ring really is in uringlet mode');
    t.is(run.tap.failed, 0, run.tap.tests.filter((x) => !x.ok).map((x) => `${x.name}: ${x.comment}`).join('; '));
    t.true(run.tap.ok);
    t.true(run.tap.tests.some((x) => x.name.startsWith('never-blocks: writev') && x.ok && !x.skip));
    vm.checkConsole();
  });
});

test.serial('guest suite on the stock kernel records the baseline (enter blocks)', async (t) => {
  const { stock, image, bin } = await built;
  await withVm({ kernel: stock.bzImage, image }, async (vm) => {
    const [run] = await runGuestTests(vm, bin);
    if (!run) return t.fail('no run');
    t.true(run.tap.diagnostics.some((d) => d.includes('kernel mode: stock')));
    t.true(run.tap.ok, run.tap.tests.filter((x) => !x.ok).map((x) => x.name).join('; '));
    const blocked = run.tap.diagnostics.find((d) => /writev iovec: io_uring_enter\(\) took/.test(d));
    const ms = Number(/took ([\d.]+) ms/.exec(blocked ?? '')?.[1]);
    t.true(ms > 150, `stock io_uring_enter() blocked ${ms} ms on the faulting iovec`);
  });
});

// The VM failure paths (panic, boot timeout, SSH lost, Ctrl-C) are covered by
// tests/integration/vm-{crash,boot,lifecycle}.test.ts.
