// The pure parts of the VM layer: QEMU argv, apt mirror parsing, host-key
// pinning, the reaper's "is this our QEMU" test, boot timing breakdown.
import test from 'ava';
import { hostHasInvariantTsc, isPortConflict, kernelCmdline, qemuArgs, shellQuote, type QemuSettings } from '../../scripts/lib/qemu.ts';
import { mirrorFromAptSources } from '../../scripts/lib/image.ts';
import { hostKeyMatches } from '../../scripts/lib/ssh.ts';
import { isOurQemu } from '../../scripts/lib/lifecycle.ts';
import { bootTimings } from '../../scripts/lib/vm.ts';

const settings: QemuSettings = {
  vcpus: 2, memMiB: 2048, machine: 'q35,i8042=off', bios: null, cpu: { kvm: 'host', tcg: 'max' },
  rootCache: 'unsafe', dataDiskCache: 'none', dataDiskAio: 'threads', extraArgs: ['-device', 'virtio-rng-pci'],
  cmdline: ['console=ttyS0', 'panic=-1'], cmdlineFor: { tcg: ['lpj=1'], 'tcg+invariant-tsc': ['tsc=reliable'], kvm: [] }, bootTimeoutMs: { kvm: 30000, tcg: 90000 }, debugBootTimeoutMs: 300000, accelProbeTimeoutMs: 8000,
};

test('qemuArgs: accelerator, no reboot, SSH on loopback only, disks, console, QMP, pidfile', (t) => {
  const a = qemuArgs({
    settings, accel: 'tcg', kernel: '/k/bzImage', cmdline: ['uringlet.nosshd'], rootOverlay: '/run/x/root.qcow2',
    dataDisks: [{ name: 'data0', path: '/run/x/data0.raw' }, { name: 'data1', path: '/d/shared.raw' }], sshPort: 40022, runDir: '/run/x', vcpus: 4, memMiB: 4096, hostInvariantTsc: true,
  });
  const after = (flag: string): string[] => a.flatMap((v, i) => (v === flag ? [a[i + 1] ?? ''] : []));
  t.deepEqual(after('-accel'), ['tcg,thread=multi']);
  t.deepEqual(after('-cpu'), ['max']);
  t.true(a.includes('-no-reboot') && a.includes('-nodefaults') && a.includes('-no-user-config'));
  t.deepEqual(after('-smp'), ['4']);
  t.deepEqual(after('-m'), ['4096']);
  t.is(after('-append')[0], 'console=ttyS0 panic=-1 lpj=1 tsc=reliable uringlet.nosshd');
  t.deepEqual(after('-netdev'), ['user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22']);
  const drives = after('-drive');
  t.is(drives.length, 3);
  t.regex(drives[0] ?? '', /^file=\/run\/x\/root\.qcow2,.*format=qcow2/);
  t.regex(drives[2] ?? '', /^file=\/d\/shared\.raw,if=none,id=data1,format=raw,cache=none,aio=threads$/);
  t.true(after('-device').includes('virtio-blk-pci,drive=data1,serial=data1'));
  t.deepEqual(after('-serial'), ['chardev:console']);
  t.deepEqual(after('-chardev'), ['file,id=console,path=/run/x/console.log']);
  t.deepEqual(after('-qmp'), ['unix:/run/x/qmp.sock,server=on,wait=off']);
  t.deepEqual(after('-pidfile'), ['/run/x/qemu.pid']);
  const kvm = qemuArgs({ settings: { ...settings, bios: '/usr/share/qemu/qboot.rom' }, accel: 'kvm', kernel: '/k', cmdline: [], rootOverlay: '/r', dataDisks: [], sshPort: 1, runDir: '/x', vcpus: 1, memMiB: 512, extraArgs: ['-gdb', 'tcp:127.0.0.1:1234'], hostInvariantTsc: true });
  t.is(kvm[kvm.indexOf('-append') + 1], 'console=ttyS0 panic=-1', 'KVM: no TCG workarounds');
  t.true(kvm.join(' ').includes('-accel kvm -cpu host'));
  t.true(kvm.join(' ').includes('-bios /usr/share/qemu/qboot.rom'));
  t.deepEqual(kvm.slice(-2), ['-gdb', 'tcp:127.0.0.1:1234']);
});

test('kernel command line: TCG extras only with an invariant host TSC; caller extras last', (t) => {
  t.deepEqual(kernelCmdline({ settings, accel: 'tcg', cmdline: ['x=1'], hostInvariantTsc: false }), ['console=ttyS0', 'panic=-1', 'lpj=1', 'x=1']);
  t.true(hostHasInvariantTsc('processor\t: 0\nflags\t\t: fpu tsc constant_tsc rep_good nonstop_tsc cpuid\n'));
  t.false(hostHasInvariantTsc('flags\t\t: fpu tsc constant_tsc\n'));
});

test('shellQuote and port-conflict detection', (t) => {
  t.is(shellQuote(['qemu', '-append', 'a b', "it's"]), `qemu -append 'a b' 'it'\\''s'`);
  t.true(isPortConflict("qemu-system-x86_64: -netdev user,id=net0,hostfwd=tcp:127.0.0.1:4000-:22: Could not set up host forwarding rule 'tcp:127.0.0.1:4000-:22'"));
  t.false(isPortConflict('qemu-system-x86_64: -drive file=x: Could not open x: No such file or directory'));
});

test('mirrorFromAptSources: deb822 stanza of the suite, one-line format, security/updates skipped', (t) => {
  const deb822 = [
    'Types: deb',
    'URIs: http://security.mirror.example/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    '',
    'Types: deb deb-src',
    '# a comment',
    'URIs: http://mirror.example/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n');
  t.is(mirrorFromAptSources(deb822, 'bookworm'), 'http://mirror.example/debian');
  t.is(mirrorFromAptSources(deb822, 'trixie'), undefined);
  t.is(mirrorFromAptSources('Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\n', 'bookworm'), undefined);
  const legacy = '# comment\ndeb http://security.mirror.example/debian-security bookworm-security main\ndeb [arch=amd64] http://mirror.example/debian bookworm main contrib\n';
  t.is(mirrorFromAptSources(legacy, 'bookworm'), 'http://mirror.example/debian');
});

test('hostKeyMatches: only the exact pinned blob', (t) => {
  const blob = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIKVc+A1uabG3haOF1ie0JrmPuz9YGeSD12Faij20pK5n', 'base64');
  t.true(hostKeyMatches(blob, blob.toString('base64')));
  const other = Buffer.from(blob);
  other.writeUInt8((other.at(-1) ?? 0) ^ 1, other.length - 1);
  t.false(hostKeyMatches(other, blob.toString('base64')));
  t.false(hostKeyMatches(blob, ''));
});

test('isOurQemu: a QEMU whose command line names the run dir, nothing else', (t) => {
  const dir = '/root/.cache/uringlet/runs/2026-01-01T00-00-00-000-abcd1234';
  t.true(isOurQemu(['qemu-system-x86_64', '-name', 'uringlet', '-pidfile', `${dir}/qemu.pid`], dir));
  t.false(isOurQemu(['qemu-system-x86_64', '-pidfile', '/other/run/qemu.pid'], dir), "someone else's QEMU");
  t.false(isOurQemu(['vim', `${dir}/console.log`], dir), 'not QEMU');
  t.false(isOurQemu([], dir), 'process gone');
});

test('bootTimings: breakdown from stage times', (t) => {
  t.deepEqual(bootTimings({ firmware: 0, kernel: 1100, init: 2200, 'sshd-ready': 2700 }, 3000), {
    toKernelMs: 1100, toInitMs: 2200, toSshdMs: 2700, toSshMs: 3000,
    qemuToKernelMs: 1100, kernelToInitMs: 1100, initToSshdMs: 500, sshdToSshMs: 300,
  });
  t.is(bootTimings({ firmware: 0, init: 2000 }, null).kernelToInitMs, null, 'unknown when a stage was not seen');
});
