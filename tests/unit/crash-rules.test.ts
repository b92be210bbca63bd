// Rule-by-rule checks on short report snippets, in the formats of 6.1 x86
// (mostly report kinds this machine cannot provoke on demand; the real
// captures are in crash-golden.test.ts).
import test from 'ava';
import { classifyConsole, cleanFunc, findReports, lineBody, reportSummary } from '../../scripts/lib/crash.ts';

const ts = (lines: string[], t0 = 12): string => lines.map((l, i) => `[${(t0 + i / 1000).toFixed(6).padStart(12)}] ${l}`).join('\n') + '\n';

test('KASAN: bug kind, access and function', (t) => {
  const log = ts([
    '==================================================================',
    'BUG: KASAN: slab-out-of-bounds in io_uringlet_submit.isra.0+0x2a4/0x5c0',
    'Write of size 8 at addr ffff888012345678 by task fio/312',
    '',
    'CPU: 1 PID: 312 Comm: fio Not tainted 6.1.192+ #1',
    'Call Trace:',
    ' <TASK>',
    ' dump_stack_lvl+0x48/0x5f',
    ' print_report+0x16f/0x470',
    ' kasan_report+0xb0/0xe0',
    ' io_uringlet_submit.isra.0+0x2a4/0x5c0',
    ' io_wq_worker+0x2e1/0x6c0',
    ' </TASK>',
    '==================================================================',
    'Disabling lock debugging due to kernel taint',
  ]);
  const r = classifyConsole(log);
  t.deepEqual(reportSummary(r), { type: 'kasan', title: 'KASAN: slab-out-of-bounds Write in io_uringlet_submit', panicked: false });
  t.is(r?.excerpt.length, 14, 'from the opening ruler through the closing one');
});

test('lockdep: circular dependency is a possible deadlock in the acquiring function', (t) => {
  const log = ts([
    '======================================================',
    'WARNING: possible circular locking dependency detected',
    '6.1.192+ #1 Not tainted',
    '------------------------------------------------------',
    'iou-wrk-311/315 is trying to acquire lock:',
    'ffff88800b4e40a8 (&ctx->uring_lock){+.+.}-{3:3}, at: io_uringlet_prep+0x4e/0x1a0',
    '',
    'but task is already holding lock:',
    'ffff88800b4e4218 (&ctx->uringlet_lock){....}-{2:2}, at: io_uringlet_handoff+0x22/0x90',
  ]);
  t.deepEqual(reportSummary(classifyConsole(log)), { type: 'lockdep', title: 'possible deadlock in io_uringlet_prep', panicked: false });
});

test('lockdep: suspicious RCU usage names the file', (t) => {
  const log = ts(['=============================', 'WARNING: suspicious RCU usage', '6.1.192+ #1 Not tainted', '-----------------------------', 'include/linux/rcupdate.h:737 rcu_read_lock() used illegally while idle!']);
  t.deepEqual(reportSummary(classifyConsole(log)), { type: 'lockdep', title: 'suspicious RCU usage at include/linux/rcupdate.h', panicked: false });
});

test('hung task: the first frame that is not the scheduler or a lock primitive', (t) => {
  const log = ts([
    'INFO: task fio:412 blocked for more than 120 seconds.',
    '      Not tainted 6.1.192+ #1',
    '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
    'task:fio             state:D stack:0     pid:412   ppid:400    flags:0x00004000',
    'Call Trace:',
    ' <TASK>',
    ' __schedule+0x2f3/0x880',
    ' schedule+0x5a/0xc0',
    ' schedule_preempt_disabled+0x11/0x20',
    ' __mutex_lock.constprop.0+0x2d9/0x600',
    ' io_uringlet_wait+0x61/0x120',
    ' __do_sys_io_uring_enter+0x3b2/0x980',
    ' </TASK>',
  ]);
  t.deepEqual(reportSummary(classifyConsole(log)), { type: 'hung-task', title: 'INFO: task hung in io_uringlet_wait', panicked: false });
});

test('sleeping in atomic context, scheduling while atomic, UBSAN, kmemleak, hard lockup', (t) => {
  const cases: [string[], string, string][] = [
    [['BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580', 'in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 77, name: iou-wrk-70', 'Call Trace:', ' <TASK>', ' dump_stack_lvl+0x48/0x5f', ' __might_resched+0x1b0/0x1f0', ' mutex_lock+0x1a/0x40', ' io_uringlet_issue+0x50/0x150', ' </TASK>'], 'bug', 'BUG: sleeping function called from invalid context in io_uringlet_issue'],
    [['BUG: scheduling while atomic: iou-wrk-70/77/0x00000002', 'Call Trace:', ' <TASK>', ' dump_stack_lvl+0x48/0x5f', ' __schedule_bug+0x5b/0x70', ' __schedule+0x6b2/0x880', ' schedule+0x5a/0xc0', ' io_wq_worker_sleeping+0x40/0x70', ' </TASK>'], 'bug', 'BUG: scheduling while atomic in io_wq_worker_sleeping'],
    [['UBSAN: shift-out-of-bounds in io_uring/io_uring.c:3412:20', 'shift exponent 64 is too large for 64-bit type', 'Call Trace:', ' <TASK>', ' dump_stack_lvl+0x48/0x5f', ' __ubsan_handle_shift_out_of_bounds+0x120/0x170', ' io_uring_setup+0x9f3/0xa20', ' </TASK>'], 'bug', 'UBSAN: shift-out-of-bounds in io_uring_setup'],
    [['kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)'], 'memory-leak', 'memory leak (kmemleak)'],
    [['NMI watchdog: Watchdog detected hard LOCKUP on cpu 1', 'CPU: 1 PID: 0 Comm: swapper/1 Not tainted 6.1.192+ #1', 'RIP: 0010:io_uringlet_spin+0x10/0x30'], 'soft-lockup', 'hard LOCKUP in io_uringlet_spin'],
    [['BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!'], 'bug', 'BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!'.replace(/ - pool.*/, '')],
  ];
  for (const [lines, type, title] of cases) t.deepEqual(reportSummary(classifyConsole(ts(lines))), { type: type as never, title, panicked: false }, lines[0]);
});

test('an Oops followed by its panic is one report, marked panicked', (t) => {
  const log = ts([
    'BUG: kernel NULL pointer dereference, address: 0000000000000008',
    '#PF: supervisor read access in kernel mode',
    'Oops: 0000 [#1] SMP',
    'CPU: 0 PID: 90 Comm: fio Not tainted 6.1.192+ #1',
    'RIP: 0010:io_uringlet_reap.cold+0x4/0x20',
    '---[ end trace 0000000000000000 ]---',
    'Kernel panic - not syncing: Fatal exception',
    '---[ end Kernel panic - not syncing: Fatal exception ]---',
  ]);
  const all = findReports(log);
  t.is(all.length, 1);
  t.deepEqual(reportSummary(all[0] ?? null), { type: 'oops', title: 'BUG: unable to handle kernel NULL pointer dereference in io_uringlet_reap', panicked: true });
});

test('two independent reports are both found; the first one is the classification', (t) => {
  const log = ts(['WARNING: CPU: 1 PID: 5 at io_uring/io-wq.c:1201 io_wq_put_and_exit+0x1a/0x50', 'RIP: 0010:io_wq_put_and_exit+0x1a/0x50', '---[ end trace 0000000000000000 ]---', 'some other line'])
    + ts(['general protection fault: 0000 [#1] SMP', 'RIP: 0010:io_req_task_complete+0x33/0x80'], 40);
  const all = findReports(log);
  t.deepEqual(all.map((r) => r.type), ['warning', 'gpf']);
  t.is(classifyConsole(log)?.title, 'WARNING in io_wq_put_and_exit');
});

test('no false positives: the command line, NMI handler timing, OOM kills, user text', (t) => {
  const log = ts([
    'Kernel command line: console=ttyS0 panic=-1 rcupdate.rcu_cpu_stall_timeout=120',
    'INFO: NMI handler (nmi_cpu_backtrace_handler) took too long to run: 8.663 msecs',
    'Out of memory: Killed process 47 (tail) total-vm:238532kB',
    'tsc: Marking TSC unstable due to TSCs unsynchronized',
  ]) + 'a user program printed: the BUG: word and a WARNING: too\n';
  t.is(classifyConsole(log), null);
});

test('timestamps with printk caller ids, CRLF line ends, text glued before the stamp', (t) => {
  t.is(lineBody('[   12.345678][  T123] BUG: foo'), 'BUG: foo');
  t.is(lineBody('[   12.345678] Kernel panic - not syncing: x\r'), 'Kernel panic - not syncing: x');
  const glued = 'URINGLET-READY[    3.468981] Kernel panic - not syncing: sysrq triggered crash\n';
  t.is(classifyConsole(glued)?.title, 'kernel panic: sysrq triggered crash');
});

test('compiler suffixes are not part of a function name', (t) => {
  t.is(cleanFunc('io_submit_sqes.isra.0'), 'io_submit_sqes');
  t.is(cleanFunc('io_issue_sqe.constprop.1'), 'io_issue_sqe');
  t.is(cleanFunc('__io_req_complete.cold'), '__io_req_complete');
  t.is(cleanFunc('foo.part.0'), 'foo');
});
