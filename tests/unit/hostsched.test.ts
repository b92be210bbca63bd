// Host scheduling of QEMU's vCPU threads: schedstat parsing, thread naming,
// the wait share, and a snapshot of a /proc-like fixture tree.
import test from 'ava';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isVcpuThread, parseSchedstat, snapshotVcpus, vcpuWaitPercent, type VcpuSchedSnapshot } from '../../scripts/lib/hostsched.ts';

test('parseSchedstat reads run and wait time, rejects what is not schedstat', (t) => {
  t.deepEqual(parseSchedstat('125299299 2596164 37\n'), { runNs: 125299299, waitNs: 2596164 });
  t.is(parseSchedstat(''), null);
  t.is(parseSchedstat('12\n'), null);
  t.is(parseSchedstat('a b c'), null);
  t.is(parseSchedstat('-1 5 2'), null);
});

test('isVcpuThread knows QEMU vCPU thread names under TCG and KVM only', (t) => {
  t.true(isVcpuThread('CPU 0/TCG\n'));
  t.true(isVcpuThread('CPU 12/KVM'));
  t.false(isVcpuThread('qemu-system-x86'));
  t.false(isVcpuThread('worker'));
  t.false(isVcpuThread('CPU 0/HVF2'));
});

const snap = (atMs: number, threads: [number, number, number][]): VcpuSchedSnapshot => ({
  atMs,
  threads: new Map(threads.map(([tid, runNs, waitNs]) => [tid, { runNs, waitNs }])),
});

test('vcpuWaitPercent is the mean wait share of the vCPU threads in both snapshots', (t) => {
  // 2 s apart: one thread waited 0.5 s (25 %), the other 0.3 s (15 %); tid 9 is new and ignored
  const a = snap(1000, [[1, 0, 100e6], [2, 0, 0]]);
  const b = snap(3000, [[1, 1e9, 600e6], [2, 1e9, 300e6], [9, 0, 1e9]]);
  t.is(vcpuWaitPercent(a, b), 20);
  t.is(vcpuWaitPercent(b, b), null, 'no time passed');
  t.is(vcpuWaitPercent(a, snap(3000, [[7, 0, 0]])), null, 'no thread in common');
  t.is(vcpuWaitPercent(b, snap(4000, [[1, 0, 0]])), null, 'a counter that went back is another thread');
});

test('snapshotVcpus reads the vCPU threads of a process from a /proc tree', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hostsched-'));
  const thread = (tid: number, comm: string, schedstat: string | null): void => {
    const d = join(root, '4242', 'task', String(tid));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'comm'), `${comm}\n`);
    if (schedstat !== null) writeFileSync(join(d, 'schedstat'), schedstat);
  };
  thread(4242, 'qemu-system-x86', '5 6 7\n');
  thread(4250, 'CPU 0/TCG', '100 20 3\n');
  thread(4251, 'CPU 1/TCG', '200 40 5\n');
  thread(4252, 'CPU 2/TCG', null);
  const s = snapshotVcpus(4242, root);
  t.truthy(s);
  t.deepEqual([...s!.threads.entries()].sort(), [
    [4250, { runNs: 100, waitNs: 20 }],
    [4251, { runNs: 200, waitNs: 40 }],
  ]);
  t.is(snapshotVcpus(1, root), null, 'no such process');
  t.is(snapshotVcpus(process.pid), null, 'this process has no vCPU threads');
});
