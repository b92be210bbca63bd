// Kernel failures end-to-end: a real panic becomes a typed KernelFailure with
// its title and console excerpt, also when a warning came first or the kernel
// dies between sshd's start and the first SSH session; a guest that never
// starts sshd is a boot timeout naming the stage it reached. None leaves QEMU
// behind.
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('the failure is the crash that ended the command, not a warning printed before it', async (t) => {
  const { kernel, image } = await ready;
  const vm = await bootVm({ kernel, image });
  try {
    // The console text of a WARNING, written at KERN_WARNING through /dev/kmsg (the kernel goes
    // on), by a command that then only times out: it keeps its type and names the warning.
    const warn = `echo '<4>WARNING: CPU: 0 PID: 1 at kernel/uringlet-test.c:1 uringlet_test_warn+0x0/0x10' >/dev/kmsg`;
    const slow = await t.throwsAsync(vm.exec(`${warn}; sleep 30`, { timeoutMs: 3_000 }));
    t.true(slow instanceof KernelFailure && slow.type === 'command-timeout', String(slow));
    const details = (slow as KernelFailure).details;
    t.true(details.some((l) => l.includes('the console showed while it ran: warning: WARNING in uringlet_test_warn')), details.join('\n'));
    t.is(vm.crash()?.type, 'warning', 'the warning is on the console');
    const err = await t.throwsAsync(vm.exec('echo c > /proc/sysrq-trigger; sleep 30', { timeoutMs: 60_000 }));
    t.true(err instanceof KernelFailure, String(err));
    t.is((err as KernelFailure).type, 'panic');
    t.is((err as KernelFailure).title, 'kernel panic: sysrq triggered crash');
  } finally {
    await vm.shutdown();
  }
});

test('a kernel that dies after sshd announced readiness, before the first SSH session, is a kernel failure', async (t) => {
  const { kernel, image } = await ready;
  const err = await t.throwsAsync(bootVm({ kernel, image, cmdline: ['uringlet.losessh'] }));
  t.true(err instanceof KernelFailure, String(err));
  const f = err as KernelFailure;
  t.is(f.type, 'panic', f.message);
  t.is(f.exitCode, 3);
  t.true(f.details.some((l) => l.includes('Kernel panic - not syncing: sysrq triggered crash')), 'the excerpt holds the panic line');
  t.deepEqual(processesNaming((f.logPath ?? '').replace(/\/console\.log$/, '')), [], 'no QEMU left');
});

test('a file transfer that outlives its timeout is a command timeout, not a hang of the run', async (t) => {
  const { kernel, image } = await ready;
  const dir = mkdtempSync(join(tmpdir(), 'vm-push-'));
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.alloc(64 << 20, 1));
  const vm = await bootVm({ kernel, image });
  try {
    const t0 = Date.now();
    const err = await t.throwsAsync(vm.push(big, '/root/big', 200));
    t.true(err instanceof KernelFailure && err.type === 'command-timeout', String(err));
    t.regex((err as Error).message, /push .* did not finish within 0.2 s/);
    t.true(Date.now() - t0 < 10_000, 'it gave up at the timeout');
    t.true(vm.alive, 'the guest itself is not the problem here');
  } finally {
    await vm.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a guest whose init never starts sshd is a boot timeout naming the stage (init)', async (t) => {
  const { kernel, image } = await ready;
  const t0 = Date.now();
  // 45 s: booted beside the other tests of this file under TCG, init took up to ~27 s to start,
  // and a 20 s deadline could fall after init started but before it printed why.
  const err = await t.throwsAsync(bootVm({ kernel, image, cmdline: ['uringlet.nosshd'], bootTimeoutMs: 45_000 }));
  t.true(err instanceof KernelFailure, String(err));
  const f = err as KernelFailure;
  t.is(f.type, 'boot-timeout');
  t.regex(f.title, /stage reached: init\)/);
  t.true(Date.now() - t0 < 65_000, 'it gave up at the deadline');
  t.true(f.details.some((l) => l.includes('URINGLET-NOSSHD')), 'the console tail shows why');
  t.true(existsSync(f.logPath ?? ''), 'the console log is kept');
  const runDir = (f.logPath ?? '').replace(/\/console\.log$/, '');
  t.deepEqual(processesNaming(runDir), [], 'no QEMU left');
});
