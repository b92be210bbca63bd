// The VM layer on real parts: the stock kernel (built by build-kernel, cached)
// boots in real QEMU with the real image; commands, transfers, timeouts and a
// lost connection are checked over real SSH. One VM is shared by the
// assertions that leave it healthy; the destructive one (sshd killed) runs last.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernel } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { bootVm, type Vm } from '../../scripts/lib/vm.ts';
import { KernelFailure } from '../../scripts/lib/errors.ts';
import { GuestSsh, HostKeyMismatch } from '../../scripts/lib/ssh.ts';
import { probeAccelerator } from '../../scripts/lib/accel.ts';

let vm: Vm;

test.before(async () => {
  const kernel = await buildKernel({ kernel: 'stock' });
  const image = await buildImage();
  vm = await bootVm({ kernel: kernel.bzImage, image, dataDisks: [{ name: 'data0', sizeMiB: 64 }] });
});

test.after.always(async () => {
  await vm?.shutdown();
});

test.serial('boots with the probed accelerator and a complete timing breakdown', async (t) => {
  t.is(vm.accel, (await probeAccelerator()).accel);
  const b = vm.bootTimings;
  for (const k of ['qemuToKernelMs', 'kernelToInitMs', 'initToSshdMs', 'sshdToSshMs'] as const) t.true((b[k] ?? -1) >= 0, `${k} = ${b[k]}`);
  t.true((b.toKernelMs ?? 0) < (b.toInitMs ?? 0) && (b.toInitMs ?? 0) <= (b.toSshdMs ?? 0) && (b.toSshdMs ?? 0) <= (b.toSshMs ?? 0));
  t.log(`boot: ${JSON.stringify(b)}`);
  t.notThrows(() => vm.checkConsole(), 'a clean boot has nothing to report');
});

test.serial('exec returns stdout, stderr, exit code and signal, and streams output', async (t) => {
  const r = await vm.exec('echo out; echo err >&2; exit 7', { timeoutMs: 20_000 });
  t.deepEqual(r, { code: 7, signal: null, stdout: 'out\n', stderr: 'err\n' });
  const killed = await vm.exec('kill -TERM $$', { timeoutMs: 20_000 });
  t.is(killed.code, null);
  t.is(killed.signal, 'SIGTERM');
  const chunks: { at: number; text: string }[] = [];
  const t0 = Date.now();
  const s = await vm.exec('echo first; sleep 1.5; echo second', { timeoutMs: 20_000, onStdout: (text) => chunks.push({ at: Date.now() - t0, text }) });
  t.is(s.stdout, 'first\nsecond\n');
  const first = chunks.find((c) => c.text.includes('first'));
  t.truthy(first);
  t.true((first?.at ?? 1e9) < Date.now() - t0 - 1000, 'the first line arrived before the command ended');
  t.is((await vm.exec('cat', { input: 'via stdin', timeoutMs: 20_000 })).stdout, 'via stdin');
});

test.serial('a command over its timeout is a command-timeout, is killed, and the VM stays usable', async (t) => {
  const err = await t.throwsAsync(vm.exec('sleep 300', { timeoutMs: 1500 }));
  t.true(err instanceof KernelFailure);
  t.is((err as KernelFailure).type, 'command-timeout');
  // The kill reaches the guest asynchronously; on a loaded TCG host 500 ms was not always enough.
  let running = true;
  for (const deadline = Date.now() + 10_000; running && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 500));
    const ps = await vm.exec('ps -eo args', { timeoutMs: 20_000 });
    running = ps.stdout.split('\n').includes('sleep 300');
  }
  t.false(running, 'the remote sleep was killed (within 10 s)');
});

test.serial('push and pull a directory tree (contents and modes) and single files', async (t) => {
  const src = mkdtempSync(join(tmpdir(), 'vm-push-'));
  mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(src, 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
  writeFileSync(join(src, 'sub', 'deeper', 'big.bin'), Buffer.alloc(3 << 20, 7));
  await vm.push(src, '/root/tree');
  t.is((await vm.exec('/root/tree/sub/run.sh && md5sum < /root/tree/sub/deeper/big.bin', { timeoutMs: 30_000 })).stdout.split('\n')[0], 'ran');
  await vm.exec('echo made-in-guest > /root/tree/sub/new.txt', { timeoutMs: 20_000 });
  const back = mkdtempSync(join(tmpdir(), 'vm-pull-'));
  await vm.pull('/root/tree', join(back, 'tree'));
  t.is(readFileSync(join(back, 'tree', 'a.txt'), 'utf8'), 'alpha\n');
  t.is(readFileSync(join(back, 'tree', 'sub', 'new.txt'), 'utf8'), 'made-in-guest\n');
  t.is(statSync(join(back, 'tree', 'sub', 'deeper', 'big.bin')).size, 3 << 20);
  t.is((await vm.exec('stat -c %a /root/tree/sub/run.sh', { timeoutMs: 20_000 })).stdout.trim(), '755');
  await vm.pull('/etc/hostname', join(back, 'hostname'));
  t.is(readFileSync(join(back, 'hostname'), 'utf8'), 'uringlet\n');
  await t.throwsAsync(vm.pull('/no/such/file', join(back, 'x')), { message: /no\/such\/file/ });
});

test.serial('the data disk is a virtio disk of the requested size, with its name as serial', async (t) => {
  const r = await vm.exec('cat /sys/block/vdb/size /sys/block/vdb/serial', { timeoutMs: 20_000 });
  t.deepEqual(r.stdout.trim().split('\n'), [String((64 << 20) / 512), 'data0']);
  t.true(existsSync(join(vm.runDir, 'data0.raw')));
});

test.serial('a server with another host key is refused, not trusted', async (t) => {
  const wrongBlob = Buffer.from(vm.image.hostKeyBlob, 'base64');
  wrongBlob.writeUInt8((wrongBlob.at(-1) ?? 0) ^ 0xff, wrongBlob.length - 1);
  const err = await t.throwsAsync(GuestSsh.connect({
    port: vm.port, privateKey: vm.image.clientKey, hostKeyBlob: wrongBlob.toString('base64'), deadlineMs: Date.now() + 20_000, isAlive: () => true,
  }));
  t.true(err instanceof HostKeyMismatch, String(err));
});

test.serial('killing sshd in the middle of a command is ssh-lost (the console shows no crash)', async (t) => {
  const err = await t.throwsAsync(vm.exec('sleep 1; pkill -KILL -x sshd; sleep 30', { timeoutMs: 60_000 }));
  t.true(err instanceof KernelFailure, String(err));
  t.is((err as KernelFailure).type, 'ssh-lost');
  t.is(vm.crash(), null);
  t.true(vm.alive, 'QEMU itself is fine');
});

test.serial('shutdown stops QEMU, frees the disks, keeps the console log', async (t) => {
  const pid = vm.qemuPid ?? 0;
  await vm.shutdown();
  t.false(vm.alive);
  t.false(existsSync(`/proc/${pid}`), `QEMU ${pid} is gone`);
  t.deepEqual(readdirSync(vm.runDir).filter((f) => /\.(qcow2|raw)$/.test(f)), []);
  t.true(readFileSync(vm.consoleLogPath, 'utf8').includes('URINGLET-READY'));
});
