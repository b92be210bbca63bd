// Host-side scheduling of a guest's vCPU threads, from the host kernel's
// /proc/<qemu>/task/<tid>/schedstat (CONFIG_SCHED_INFO). Each vCPU is a host
// thread; a uringlet hand-off needs two of them on a host CPU at the same
// moment where stock needs one, so the time they spend waiting for a host CPU
// is part of what a benchmark measures (on a 2-core TCG host under added load,
// fio at depth 1: 23-28 % of the run for uringlet, 13-17 % for stock; 1-2 %
// without that load). Reported per run so a reader can tell a kernel's loss
// from a starved VM.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ThreadSched {
  /** Time on a CPU and time runnable but waiting for one, in ns since the thread started. */
  runNs: number;
  waitNs: number;
}

export interface VcpuSchedSnapshot {
  /** Monotonic time of the snapshot, ms. */
  atMs: number;
  /** vCPU threads by tid. */
  threads: Map<number, ThreadSched>;
}

/** Pure: "run_ns wait_ns timeslices" as /proc/.../schedstat has it, or null. */
export function parseSchedstat(text: string): ThreadSched | null {
  const f = text.trim().split(/\s+/);
  if (f.length < 2) return null;
  const runNs = Number(f[0]);
  const waitNs = Number(f[1]);
  if (!Number.isFinite(runNs) || !Number.isFinite(waitNs) || runNs < 0 || waitNs < 0) return null;
  return { runNs, waitNs };
}

/** Pure: QEMU names its vCPU threads "CPU <n>/TCG" or "CPU <n>/KVM" (with -name ...,debug-threads=on). */
export function isVcpuThread(comm: string): boolean {
  return /^CPU \d+\/(TCG|KVM)$/.test(comm.trim());
}

/**
 * The vCPU threads of QEMU process @pid now, or null when the host can't say
 * (no schedstat, the process gone, or no thread named like a vCPU).
 */
export function snapshotVcpus(pid: number, procRoot = '/proc'): VcpuSchedSnapshot | null {
  const taskDir = join(procRoot, String(pid), 'task');
  const threads = new Map<number, ThreadSched>();
  let tids: string[];
  try {
    tids = readdirSync(taskDir);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      if (!isVcpuThread(readFileSync(join(taskDir, tid, 'comm'), 'utf8'))) continue;
      const s = parseSchedstat(readFileSync(join(taskDir, tid, 'schedstat'), 'utf8'));
      if (s) threads.set(Number(tid), s);
    } catch {
      // the thread exited between readdir and read, or no schedstat file
    }
  }
  return threads.size > 0 ? { atMs: performance.now(), threads } : null;
}

/**
 * Pure: the mean share of the interval (in %) that a vCPU thread spent
 * runnable but waiting for a host CPU, over the threads in both snapshots.
 */
export function vcpuWaitPercent(before: VcpuSchedSnapshot, after: VcpuSchedSnapshot): number | null {
  const intervalNs = (after.atMs - before.atMs) * 1e6;
  if (!(intervalNs > 0)) return null;
  const shares: number[] = [];
  for (const [tid, b] of before.threads) {
    const a = after.threads.get(tid);
    if (a === undefined || a.waitNs < b.waitNs) continue;
    shares.push(((a.waitNs - b.waitNs) / intervalNs) * 100);
  }
  if (shares.length === 0) return null;
  return shares.reduce((x, y) => x + y, 0) / shares.length;
}
