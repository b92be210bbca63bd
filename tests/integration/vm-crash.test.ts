// Kernel failures end-to-end: a real panic becomes a typed KernelFailure with
// its title and console excerpt; a guest that never starts sshd is a boot
// timeout naming the stage it reached. Neither leaves QEMU behind.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { buildKernel } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { bootVm } from '../../scripts/lib/vm.ts';
import { KernelFailure } from '../../scripts/lib/errors.ts';
import { procCmdline } from '../../scripts/lib/lifecycle.ts';

function processesNaming(dir: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => procCmdline(pid).some((a) => a.includes(dir)));
}

const ready = (async () => ({ kernel: (await buildKernel({ kernel: 'stock' })).bzImage, image: await buildImage() }))();

test('echo c > /proc/sysrq-trigger is a kernel panic with its title; QEMU exits; a second VM booted alongside is unaffected', async (t) => {
  const { kernel, image } = await ready;
  // two runs at the same time: own run dirs, ports and disks
  const [vm, other] = await Promise.all([bootVm({ kernel, image }), bootVm({ kernel, image })]);
  try {
    t.not(vm.runDir, other.runDir);
    t.not(vm.port, other.port);
    const err = await t.throwsAsync(vm.exec('echo c > /proc/sysrq-trigger; sleep 30', { timeoutMs: 60_000 }));
    t.true(err instanceof KernelFailure, String(err));
    const f = err as KernelFailure;
    t.is(f.type, 'panic');
    t.is(f.title, 'kernel panic: sysrq triggered crash');
    t.is(f.exitCode, 3);
    t.is(f.logPath, vm.consoleLogPath);
    t.true(f.details.some((l) => l.includes('Kernel panic - not syncing: sysrq triggered crash')), 'the excerpt holds the panic line');
    // panic=-1 + -no-reboot: the guest's reboot ends QEMU
    const until = Date.now() + 10_000;
    while (vm.alive && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    t.false(vm.alive);
    t.throws(() => vm.checkConsole(), { instanceOf: KernelFailure, message: /sysrq triggered crash/ });
    t.is((await other.exec('echo still-here', { timeoutMs: 30_000 })).stdout, 'still-here\n');
    t.notThrows(() => other.checkConsole());
  } finally {
    await Promise.all([vm.shutdown(), other.shutdown()]);
  }
});

test('a guest whose init never starts sshd is a boot timeout naming the stage (init)', async (t) => {
  const { kernel, image } = await ready;
  const t0 = Date.now();
  const err = await t.throwsAsync(bootVm({ kernel, image, cmdline: ['uringlet.nosshd'], bootTimeoutMs: 20_000 }));
  t.true(err instanceof KernelFailure, String(err));
  const f = err as KernelFailure;
  t.is(f.type, 'boot-timeout');
  t.regex(f.title, /stage reached: init\)/);
  t.true(Date.now() - t0 < 40_000, 'it gave up at the deadline');
  t.true(f.details.some((l) => l.includes('URINGLET-NOSSHD')), 'the console tail shows why');
  t.true(existsSync(f.logPath ?? ''), 'the console log is kept');
  const runDir = (f.logPath ?? '').replace(/\/console\.log$/, '');
  t.deepEqual(processesNaming(runDir), [], 'no QEMU left');
});
