// Boot stages from console text, and the monitor that follows a console file
// while QEMU appends to it.
import test from 'ava';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootStage, ConsoleMonitor } from '../../scripts/lib/console.ts';

test('bootStage: the furthest marker seen, firmware when QEMU ran but printed nothing', (t) => {
  t.is(bootStage(''), 'firmware');
  t.is(bootStage('', false), 'none');
  t.is(bootStage('[    0.000000] Linux version 6.1.192+ (uringlet@uringlet)\n'), 'kernel');
  t.is(bootStage('[    1.6] VFS: Mounted root (ext4 filesystem) on device 254:0.\n[    0.0] Linux version 6.1.192+\n'), 'root-mounted');
  t.is(bootStage('Linux version 6.1.192+\nRun /sbin/uringlet-init as init process\nURINGLET-INIT\n'), 'init');
  t.is(bootStage('Linux version 6.1.192+\nURINGLET-INIT\nURINGLET-READY\n'), 'sshd-ready');
  // a marker must start a line: the kernel command line or a shell echo do not count
  t.is(bootStage('Linux version 6.1\n$ echo URINGLET-READY\n'), 'kernel');
});

test('ConsoleMonitor: incremental reads, stage times, markers split across reads, crash', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'console-'));
  const path = join(dir, 'console.log');
  const mon = new ConsoleMonitor(path, Date.now());
  t.false(mon.poll(), 'no file yet');
  t.is(mon.stage, 'firmware');
  writeFileSync(path, '[    0.000000] Linux version 6.1.192+ #1 SMP\n');
  t.true(mon.poll());
  t.is(mon.stage, 'kernel');
  t.is(typeof mon.stageAt.kernel, 'number');
  appendFileSync(path, 'URINGLET-IN');
  mon.poll();
  t.is(mon.stage, 'kernel', 'half a marker is not a marker');
  appendFileSync(path, 'IT\n');
  mon.poll();
  t.is(mon.stage, 'init');
  const mark = mon.mark;
  t.is(mon.crash(), null);
  appendFileSync(path, 'URINGLET-READY\n[    3.4] Kernel panic - not syncing: sysrq triggered crash\n');
  mon.poll();
  t.is(mon.stage, 'sshd-ready');
  t.is(mon.crash()?.type, 'panic');
  t.is(mon.crash(mark)?.title, 'kernel panic: sysrq triggered crash', 'also seen when looking only after the mark');
  t.deepEqual(mon.tail(2), ['URINGLET-READY', '[    3.4] Kernel panic - not syncing: sysrq triggered crash']);
  t.true((mon.stageAt.init ?? -1) <= (mon.stageAt['sshd-ready'] ?? -1));
  mon.stop();
});
