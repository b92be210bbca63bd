// End to end on real parts: build both kernels (cached), the image, boot each
// kernel in QEMU, run the guest suite over SSH. Also the VM failure paths.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAll } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { buildGuestTests, runGuestTests } from '../../scripts/lib/guest-tests.ts';
import { bootVm, withVm } from '../../scripts/lib/vm.ts';
import { KernelFailure } from '../../scripts/lib/errors.ts';
import { paths, repoRoot } from '../../scripts/lib/paths.ts';

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

test.serial('a kernel panic is a KernelFailure with its title', async (t) => {
  const { stock, image } = await built;
  const vm = await bootVm({ kernel: stock.bzImage, image });
  try {
    const err = await t.throwsAsync(vm.exec('echo c > /proc/sysrq-trigger; sleep 30', { timeoutMs: 60000 }));
    t.true(err instanceof KernelFailure);
    t.is((err as KernelFailure).type, 'panic');
    t.regex((err as KernelFailure).title, /sysrq triggered crash/);
  } finally {
    await vm.shutdown();
  }
});

test.serial('a guest whose init never starts sshd is a boot timeout naming the stage', async (t) => {
  const { stock, image } = await built;
  const err = await t.throwsAsync(bootVm({ kernel: stock.bzImage, image, cmdline: ['uringlet.nosshd'], bootTimeoutMs: 20000 }));
  t.true(err instanceof KernelFailure);
  t.is((err as KernelFailure).type, 'boot-timeout');
  t.regex((err as KernelFailure).message, /stage reached: init/);
});

test.serial('killing sshd mid-command is SSH lost', async (t) => {
  const { stock, image } = await built;
  await withVm({ kernel: stock.bzImage, image }, async (vm) => {
    const err = await t.throwsAsync(vm.exec('sleep 1; pkill -KILL sshd; sleep 20', { timeoutMs: 60000 }));
    t.true(err instanceof KernelFailure);
    t.is((err as KernelFailure).type, 'ssh-lost');
  });
});

test.serial('Ctrl-C during a boot leaves no QEMU behind', async (t) => {
  const { stock } = await built;
  const before = new Set(readdirSync(paths.runs()));
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/cli.ts'), 'vm', '--kernel', stock.bzImage, '--', 'sleep 60'], { stdio: 'ignore' });
  // wait until its QEMU runs
  let runDir = '';
  for (let i = 0; i < 200 && runDir === ''; i++) {
    await new Promise((r) => setTimeout(r, 100));
    for (const d of readdirSync(paths.runs())) if (!before.has(d) && existsSync(join(paths.runs(), d, 'qemu.pid'))) runDir = join(paths.runs(), d);
  }
  t.not(runDir, '', 'QEMU started');
  const pid = Number(readFileSync(join(runDir, 'qemu.pid'), 'utf8'));
  // npx -> node: signal the whole group's leader's child by name
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  // gone, or a zombie waiting for init to reap it (it no longer runs)
  const running = (): boolean => {
    try {
      return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  let alive = running();
  for (let i = 0; i < 50 && alive; i++) {
    await new Promise((r) => setTimeout(r, 100));
    alive = running();
  }
  t.false(alive, `QEMU ${pid} is gone`);
});
