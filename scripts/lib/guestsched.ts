// The guest kernel's own scheduling counters around a benchmark run: context
// switches (/proc/stat "ctxt") and inter-processor interrupts
// (/proc/interrupts RES, CAL, TLB, summed over the CPUs). A uringlet I/O is
// handed from the submitting task to a worker and its completion back; when
// either side has stopped polling, that costs a wake-up, often of another
// CPU (an IPI: CAL for a remote wake-up through the wake list, RES for a
// remote preemption). Per I/O these say which way a run went: the same
// IOPS loss reads differently at 0.02 context switches per I/O (the polls
// held) than at 2 (every hand-off slept). Under TCG an IPI to a halted vCPU
// costs tens of microseconds, so a few per hundred I/Os show in the IOPS.

/** Marker lines a run's shell command writes to stderr, parsed back by parseGuestSched(). */
export const guestSchedTags = ['@@sched0', '@@sched1'] as const;
export type GuestSchedTag = (typeof guestSchedTags)[number];

/** The IPI rows of /proc/interrupts that count wake-ups and preemptions across CPUs. */
export const ipiRows = ['RES', 'CAL', 'TLB'] as const;

/**
 * Shell for the guest: one line on stderr,
 * "<tag> ctxt <n> RES: <cpu0> <cpu1> Rescheduling interrupts CAL: ... TLB: ...".
 * Plain POSIX sh with grep and tr, as in the guest image.
 */
export function guestSchedCommand(tag: GuestSchedTag): string {
  return `echo "${tag} $(grep '^ctxt ' /proc/stat) $(grep -E '^ *(${ipiRows.join('|')}):' /proc/interrupts | tr -s ' \\n' ' ')" >&2`;
}

export interface GuestSchedSnapshot {
  ctxt: number;
  /** IPI counts by row (RES, CAL, TLB), summed over the CPUs. */
  ipis: Record<string, number>;
}

/**
 * Pure: the snapshot a guestSchedCommand(tag) line carries in @stderr, or
 * null when the line is missing or malformed. The per-CPU columns of each
 * IPI row are the numbers between its "XXX:" and the row's description.
 */
export function parseGuestSched(stderr: string, tag: GuestSchedTag): GuestSchedSnapshot | null {
  const line = stderr.split('\n').find((l) => l.startsWith(`${tag} `));
  if (line === undefined) return null;
  const ctxt = /\bctxt (\d+)/.exec(line);
  if (!ctxt) return null;
  const ipis: Record<string, number> = {};
  for (const row of ipiRows) {
    const m = new RegExp(`\\b${row}:((?:\\s+\\d+)+)`).exec(line);
    if (!m) return null;
    ipis[row] = m[1]!.trim().split(/\s+/).reduce((sum, n) => sum + Number(n), 0);
  }
  return { ctxt: Number(ctxt[1]), ipis };
}

export interface GuestSchedPerIo {
  ctxsw_per_io: number;
  ipi_per_io: number;
}

/**
 * Pure: context switches and IPIs (all rows) per I/O between two snapshots,
 * or null if there were no I/Os or a counter went backwards (not one boot).
 */
export function guestSchedPerIo(a: GuestSchedSnapshot, b: GuestSchedSnapshot, ios: number): GuestSchedPerIo | null {
  if (!(ios > 0)) return null;
  const ctxsw = b.ctxt - a.ctxt;
  let ipis = 0;
  for (const row of ipiRows) {
    const d = (b.ipis[row] ?? 0) - (a.ipis[row] ?? 0);
    if (d < 0) return null;
    ipis += d;
  }
  if (ctxsw < 0) return null;
  return { ctxsw_per_io: ctxsw / ios, ipi_per_io: ipis / ios };
}
