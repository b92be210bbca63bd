// Reading the guest's serial console: how far the boot got, and whether
// the kernel reported a failure. Pure functions over text, so golden
// console logs test them (tests/fixtures/console/).
import type { KernelFailureType } from './errors.ts';

export const bootStages = ['none', 'firmware', 'kernel', 'root-mounted', 'init', 'sshd-ready'] as const;
export type BootStage = (typeof bootStages)[number];

const stageMarkers: [BootStage, RegExp][] = [
  ['firmware', /SeaBIOS|Booting from ROM|iPXE/],
  ['kernel', /Linux version \d/],
  ['root-mounted', /VFS: Mounted root|EXT4-fs \(vda\): mounted filesystem|Run \/sbin\/uringlet-init as init process/],
  ['init', /URINGLET-INIT|uringlet-init: start/],
  ['sshd-ready', /URINGLET-READY/],
];

export function bootStage(text: string): BootStage {
  let stage: BootStage = 'none';
  for (const [s, re] of stageMarkers) if (re.test(text)) stage = s;
  return stage;
}

export interface CrashReport {
  type: KernelFailureType;
  title: string;
  /** index of the line where it starts */
  line: number;
  excerpt: string[];
}

// Strip "[   12.345678] " timestamps and CPU prefixes for matching.
function body(line: string): string {
  return line.replace(/^\[\s*\d+\.\d+\]\s*/, '').replace(/^\[\s*[CT]\d+\]\s*/, '');
}

function funcOf(s: string | undefined): string {
  return (s ?? '?').replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, '');
}

/** The function named in the RIP line after `from`, for Oops/GPF titles. */
function ripFunc(lines: string[], from: number): string | undefined {
  for (let i = from; i < Math.min(lines.length, from + 40); i++) {
    const m = /RIP: \d+:([\w.]+\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(lines[i] ?? '');
    if (m) return funcOf(m[1]);
  }
  return undefined;
}

type Rule = (b: string, lines: string[], i: number) => { type: KernelFailureType; title: string } | null;

// Most specific first: a KASAN report also says "BUG:", a lockdep report "WARNING:".
const rules: Rule[] = [
  (b) => {
    const m = /BUG: KASAN: ([\w-]+) in ([\w.]+)/.exec(b);
    return m ? { type: 'kasan', title: `KASAN: ${m[1]} in ${funcOf(m[2])}` } : null;
  },
  (b) => {
    const m = /WARNING: (possible circular locking dependency detected|possible recursive locking detected|inconsistent lock state|suspicious RCU usage|bad unlock balance detected!?|held lock freed!?)/.exec(b);
    return m ? { type: 'lockdep', title: `lockdep: ${m[1]}` } : null;
  },
  (b) => {
    const m = /INFO: task (\S+):\d+ blocked for more than \d+ seconds/.exec(b);
    return m ? { type: 'hung-task', title: `hung task: ${m[1]} blocked` } : null;
  },
  (b) => {
    const m = /BUG: soft lockup - CPU#\d+ stuck for \d+s! \[(.+)\]/.exec(b);
    return m ? { type: 'soft-lockup', title: `soft lockup in ${m[1]}` } : null;
  },
  (b) => {
    const m = /rcu: INFO: (rcu_\w+) (?:self-)?detected stalls? on CPUs?/.exec(b);
    return m ? { type: 'rcu-stall', title: `RCU stall (${m[1]})` } : null;
  },
  (b, lines, i) => {
    if (!/general protection fault/.test(b)) return null;
    return { type: 'gpf', title: `general protection fault in ${ripFunc(lines, i) ?? '?'}` };
  },
  (b, lines, i) => {
    const m = /BUG: (unable to handle (?:page fault|kernel NULL pointer dereference|kernel paging request))/.exec(b);
    return m ? { type: 'oops', title: `BUG: ${m[1]} in ${ripFunc(lines, i) ?? '?'}` } : null;
  },
  (b, lines, i) => {
    const m = /kernel BUG at ([^:]+):\d+!/.exec(b);
    if (m) return { type: 'bug', title: `kernel BUG at ${m[1]} (${ripFunc(lines, i) ?? '?'})` };
    const g = /^BUG: (.+)$/.exec(b);
    return g ? { type: 'bug', title: `BUG: ${g[1]?.replace(/\s+\d+$/, '')}` } : null;
  },
  (b, lines, i) => {
    const m = /^WARNING: CPU: \d+ PID: \d+ at \S+ ([\w.]+\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(b);
    if (m) return { type: 'warning', title: `WARNING in ${funcOf(m[1])}` };
    const m2 = /^WARNING: CPU: \d+ PID: \d+ at (\S+)/.exec(b);
    return m2 ? { type: 'warning', title: `WARNING at ${m2[1]?.replace(/:\d+$/, '')} (${ripFunc(lines, i) ?? '?'})` } : null;
  },
  (b, lines, i) => {
    const m = /^Oops: (.*)/.exec(b);
    return m ? { type: 'oops', title: `Oops in ${ripFunc(lines, i) ?? '?'}` } : null;
  },
  (b) => {
    const m = /Kernel panic - not syncing: (.*)/.exec(b);
    return m ? { type: 'panic', title: `kernel panic: ${m[1]?.trim()}` } : null;
  },
];

/** The first kernel failure on the console, or null. */
export function classifyConsole(text: string, opts: { context?: number } = {}): CrashReport | null {
  const lines = text.split('\n');
  const ctx = opts.context ?? 40;
  for (let i = 0; i < lines.length; i++) {
    const b = body(lines[i] ?? '');
    for (const rule of rules) {
      const hit = rule(b, lines, i);
      if (hit) {
        // A panic that follows an earlier report belongs to it: report the first.
        return { ...hit, line: i, excerpt: lines.slice(Math.max(0, i - 5), i + ctx) };
      }
    }
  }
  return null;
}
