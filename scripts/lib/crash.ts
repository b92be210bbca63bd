// Kernel failure classifier: console text in, the first report out (type,
// syzkaller-style title, console excerpt). Pure, so golden console logs
// (tests/fixtures/console/) test it without booting anything.
//
// Titles follow syzkaller's pkg/report: the report kind plus the function
// that is to blame (from the RIP line or the first interesting stack frame),
// without addresses, pids or offsets, so the same bug gets the same title
// on every run.
import type { KernelFailureType } from './errors.ts';

export interface CrashReport {
  type: KernelFailureType;
  title: string;
  /** 0-based index of the report's first line in the console text */
  line: number;
  /** the report, from a few lines before its header to its end marker */
  excerpt: string[];
  /** the kernel panicked after (or because of) this report */
  panicked: boolean;
}

// "[   12.345678] " and an optional caller id "[  T123] " / "[    C0] ".
const stampRe = /\[\s*\d+\.\d+\](?:\[\s*[CT]\d+\])?\s?/;

/** The line without its printk timestamp; text before the stamp (interleaved output) is dropped too. */
export function lineBody(line: string): string {
  const m = stampRe.exec(line);
  return (m === null ? line : line.slice(m.index + m[0].length)).replace(/\r$/, '');
}

const frameRe = /^\s*(\?\s+)?([A-Za-z_][\w.]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/;

/** Compiler suffixes (.isra.0, .constprop.1, .cold, .part.0) vary between builds. */
export function cleanFunc(f: string): string {
  return f.replace(/\.(isra|constprop|part|cold|llvm)(\.\d+)?/g, '').replace(/\.\d+$/, '');
}

// Frames that are the reporting machinery, not the culprit (syzkaller keeps a
// longer list; these are the ones a 6.1 x86 kernel prints).
const boringFrames = new RegExp(
  '^(' +
    [
      'dump_stack\\w*', 'show_stack', 'show_regs', 'panic', 'nmi_\\w+', '\\w*_nmi\\w*', 'arch_trigger_\\w+', 'trigger_\\w*backtrace\\w*',
      '__warn\\w*', 'warn_\\w+', 'report_bug', 'handle_bug', 'exc_\\w+', 'asm_\\w+', 'do_error_trap', 'do_trap', 'die\\w*',
      'kasan_\\w+', '__kasan_\\w+', 'print_report', 'print_address_description\\w*', 'check_\\w+', '__asan_\\w+',
      '__might_\\w+', '___might_sleep', 'might_\\w+', '__schedule_bug', 'lockdep_\\w+', '__lock_acquire', 'lock_acquire', 'lock_release',
      'print_\\w+', 'debug_\\w+', 'mark_lock\\w*', 'validate_chain', 'check_prev_add', 'check_noncircular',
      '__schedule', 'schedule\\w*', 'io_schedule\\w*', 'preempt_schedule\\w*', '__cond_resched', '_cond_resched', 'cond_resched',
      'rwsem_down_\\w+', 'down_\\w+', '__down\\w*', 'down', 'percpu_rwsem_wait', '__percpu_down_read', 'percpu_down_\\w+',
      'mutex_lock\\w*', '__mutex_lock\\w*', 'rt_mutex\\w*', 'wait_for_completion\\w*', '__wait_for_common', 'wait_for_common\\w*',
      'do_wait_for_common', 'bit_wait\\w*', '__wait_on_bit\\w*', 'out_of_line_wait_on_bit\\w*', 'folio_wait_bit\\w*', 'wait_on_page_bit\\w*',
      'prepare_to_wait\\w*', 'finish_wait', 'rcu_\\w+', '__rcu_\\w+', 'sched_show_task', 'watchdog\\w*', 'hrtimer_\\w+', '__hrtimer_\\w+',
      'tick_\\w+', 'update_process_times', '__sysvec_\\w+', 'sysvec_\\w+', 'irq_exit\\w*', '__irq_exit_rcu', '__do_softirq', 'do_softirq\\w*',
      'entry_SYSCALL\\w*', 'do_syscall_64', 'syscall_exit\\w*', 'ret_from_fork\\w*', 'kthread', 'worker_thread', 'process_one_work',
      'native_\\w+', 'default_idle\\w*', 'arch_cpu_idle', 'cpu_idle\\w*', 'do_idle', 'cpu_startup_entry',
      '_raw_\\w+', 'queued_\\w+', 'native_queued_\\w+', 'do_raw_\\w+', 'refcount_\\w+', 'ubsan_\\w+', '__ubsan_\\w+',
    ].join('|') +
    ')$',
);

function bodies(lines: string[], from: number, n: number): string[] {
  return lines.slice(from, Math.min(lines.length, from + n)).map(lineBody);
}

/** The kernel-mode function of the first RIP line after `from` (user-mode RIPs have no symbol). */
function ripFunc(lines: string[], from: number, span = 60): string | undefined {
  for (const b of bodies(lines, from, span)) {
    const m = /RIP: 0010:([A-Za-z_][\w.]*)\+0x/.exec(b);
    if (m?.[1] !== undefined) return cleanFunc(m[1]);
  }
  return undefined;
}

/** The first reliable, non-machinery stack frame after `from`. */
function stackFunc(lines: string[], from: number, span = 80): string | undefined {
  let unreliable: string | undefined;
  for (const b of bodies(lines, from, span)) {
    const m = frameRe.exec(b);
    if (m?.[2] === undefined) continue;
    const f = cleanFunc(m[2]);
    if (boringFrames.test(f)) continue;
    if (m[1] !== undefined) {
      unreliable ??= f;
      continue;
    }
    return f;
  }
  return unreliable;
}

/** Where it happened: RIP first (the faulting instruction), else the stack. */
function culprit(lines: string[], from: number): string {
  return ripFunc(lines, from) ?? stackFunc(lines, from) ?? '?';
}

/** The function after "at:" in lockdep's lock lines ("..., at: foo+0x1/0x2"). */
function lockdepAt(lines: string[], from: number, span = 30): string | undefined {
  for (const b of bodies(lines, from, span)) {
    const m = /, at: ([A-Za-z_][\w.]*)\+0x/.exec(b);
    if (m?.[1] !== undefined) return cleanFunc(m[1]);
  }
  return undefined;
}

/** Volatile bits of free-form BUG messages: kernel addresses, pids after a task name. */
function normalize(msg: string): string {
  return msg
    .replace(/\b(?:0x)?(?:ffff|0000)[0-9a-f]{8,12}\b/gi, 'ADDR')
    .replace(/([A-Za-z_][\w.-]*)\/\d+/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

interface Rule {
  type: KernelFailureType;
  re: RegExp;
  title: (m: RegExpExecArray, lines: string[], i: number) => string;
}

// Most specific first: a KASAN report also says "BUG:", lockdep says "WARNING:",
// a soft lockup says "BUG:". Only the body after the timestamp is matched.
const rules: Rule[] = [
  {
    type: 'kasan',
    re: /^BUG: KASAN: ([\w-]+) in ([A-Za-z_][\w.]*)/,
    title: (m, lines, i) => {
      const access = bodies(lines, i + 1, 3).map((b) => /^(Read|Write) of size/.exec(b)?.[1]).find((x) => x !== undefined);
      return `KASAN: ${m[1]}${access ? ` ${access}` : ''} in ${cleanFunc(m[2] ?? '?')}`;
    },
  },
  {
    type: 'lockdep',
    re: /^WARNING: (possible circular locking dependency detected|possible recursive locking detected|inconsistent lock state|possible irq lock inversion dependency detected|(?:HARD|SOFT)IRQ-safe -> (?:HARD|SOFT)IRQ-unsafe lock order detected|suspicious RCU usage|bad unlock balance detected!|held lock freed!|lock held when returning to user space!|Nested lock was not taken|lock held at task exit time!)/,
    title: (m, lines, i) => {
      const kind = m[1] ?? '';
      if (kind === 'suspicious RCU usage') {
        const at = bodies(lines, i + 1, 4).map((b) => /^(\S+\.[ch]:\d+) /.exec(b)?.[1]).find((x) => x !== undefined);
        return `suspicious RCU usage${at ? ` at ${at.replace(/:\d+$/, '')}` : ''}`;
      }
      const where = lockdepAt(lines, i) ?? stackFunc(lines, i) ?? '?';
      if (/circular|recursive|inversion|lock order/.test(kind)) return `possible deadlock in ${where}`;
      return `${kind.replace(/!$/, '')} in ${where}`;
    },
  },
  {
    type: 'hung-task',
    re: /^INFO: task (\S+):\d+ blocked for more than \d+ seconds/,
    title: (_m, lines, i) => `INFO: task hung in ${stackFunc(lines, i + 1) ?? '?'}`,
  },
  {
    type: 'soft-lockup',
    re: /BUG: soft lockup - CPU#\d+ stuck for \d+s!/,
    title: (_m, lines, i) => `BUG: soft lockup in ${culprit(lines, i)}`,
  },
  {
    type: 'soft-lockup',
    re: /Watchdog detected hard LOCKUP on cpu \d+/,
    title: (_m, lines, i) => `hard LOCKUP in ${culprit(lines, i)}`,
  },
  {
    type: 'rcu-stall',
    re: /^(?:rcu: )?INFO: (rcu_\w+|rcu) (?:self-detected stall on CPU|detected stalls? on CPUs\/tasks|detected expedited stalls on CPUs\/tasks)/,
    title: (_m, lines, i) => `INFO: rcu detected stall in ${culprit(lines, i)}`,
  },
  {
    type: 'gpf',
    re: /^general protection fault(?:, (?:probably for non-canonical address|maybe for address) 0x[0-9a-f]+)?: [0-9a-f]{4} \[#\d+\]/,
    title: (_m, lines, i) => `general protection fault in ${culprit(lines, i)}`,
  },
  {
    type: 'oops',
    re: /^BUG: (?:kernel NULL pointer dereference, address|unable to handle kernel NULL pointer dereference)/,
    title: (_m, lines, i) => `BUG: unable to handle kernel NULL pointer dereference in ${culprit(lines, i)}`,
  },
  {
    type: 'oops',
    re: /^BUG: (?:unable to handle page fault for address|unable to handle kernel paging request)/,
    title: (_m, lines, i) => `BUG: unable to handle kernel paging request in ${culprit(lines, i)}`,
  },
  {
    type: 'bug',
    re: /^kernel BUG at (\S+):\d+!/,
    title: (_m, lines, i) => `kernel BUG in ${culprit(lines, i)}`,
  },
  {
    type: 'bug',
    re: /^BUG: (sleeping function called from invalid context|scheduling while atomic|using smp_processor_id\(\) in preemptible|using __this_cpu_\w+\(\) in preemptible|workqueue lockup|stack guard page was hit|Bad page state|Bad page map|Bad rss-counter state|spinlock \w+ on CPU#\d+|spinlock bad magic|rwlock \w+|unable to handle kernel|corrupted list)/,
    title: (m, lines, i) => {
      const kind = (m[1] ?? '').replace(/ on CPU#\d+/, '');
      if (/workqueue lockup|Bad rss-counter|corrupted list/.test(kind)) return `BUG: ${kind}`;
      return `BUG: ${kind} in ${stackFunc(lines, i + 1) ?? culprit(lines, i)}`;
    },
  },
  {
    type: 'bug',
    re: /^UBSAN: ([\w-]+) in /,
    title: (m, lines, i) => `UBSAN: ${m[1]} in ${stackFunc(lines, i + 1) ?? '?'}`,
  },
  {
    type: 'bug',
    re: /^list_(?:add|del) corruption/,
    title: (_m, lines, i) => `BUG: corrupted list in ${stackFunc(lines, i + 1) ?? culprit(lines, i)}`,
  },
  {
    type: 'warning',
    re: /^WARNING: CPU: \d+ PID: \d+ at (?:\S+:\d+ )?([A-Za-z_][\w.]*)\+0x/,
    title: (m) => `WARNING in ${cleanFunc(m[1] ?? '?')}`,
  },
  {
    type: 'warning',
    re: /^WARNING: CPU: \d+ PID: \d+ at (\S+)/,
    title: (m, lines, i) => `WARNING in ${ripFunc(lines, i) ?? m[1] ?? '?'}`,
  },
  {
    type: 'memory-leak',
    re: /^kmemleak: \d+ new suspected memory leaks?/,
    title: () => 'memory leak (kmemleak)',
  },
  {
    type: 'oops',
    re: /^(invalid opcode|divide error|stack segment|double fault|int3|general protection fault|Oops): ([0-9a-f]{4} )?\[#\d+\]/,
    title: (m, lines, i) => `${m[1] === 'Oops' ? 'Oops' : m[1]} in ${culprit(lines, i)}`,
  },
  {
    type: 'bug',
    re: /^BUG: (.+)/,
    title: (m) => `BUG: ${normalize((m[1] ?? '').replace(/:.*$/, ''))}`,
  },
  {
    type: 'panic',
    re: /^Kernel panic - not syncing: (.*)/,
    title: (m) => `kernel panic: ${(m[1] ?? '').replace(/\s*\]---$/, '').trim()}`,
  },
];

/** Line range [from, end) of the report starting at `start`. */
function reportRange(lines: string[], start: number, headerIsRuled: boolean): { from: number; end: number } {
  const from = Math.max(0, start - 3);
  let end = Math.min(lines.length, start + 100);
  // KASAN and lockdep reports open and close with a ==== ruler; others end at "---[ end".
  for (let j = start + 1; j < end; j++) {
    const b = lineBody(lines[j] ?? '');
    if ((headerIsRuled && /^={40,}$/.test(b)) || /---\[ end (?:trace|Kernel panic)/.test(b)) {
      end = j + 1;
      break;
    }
  }
  return { from, end };
}

function matchAt(lines: string[], i: number): { rule: Rule; m: RegExpExecArray } | null {
  const b = lineBody(lines[i] ?? '');
  if (b.length === 0) return null;
  for (const rule of rules) {
    const m = rule.re.exec(b);
    if (m !== null) return { rule, m };
  }
  return null;
}

/** Every report on the console, in order. */
export function findReports(text: string): CrashReport[] {
  const lines = text.split('\n');
  const out: CrashReport[] = [];
  let skipUntil = -1;
  for (let i = 0; i < lines.length; i++) {
    if (i < skipUntil) {
      // inside the previous report: only a panic is news (it ends the run)
      const hit = matchAt(lines, i);
      const last = out[out.length - 1];
      if (hit?.rule.type === 'panic' && last !== undefined) last.panicked = true;
      continue;
    }
    const hit = matchAt(lines, i);
    if (hit === null) continue;
    const ruled = /^={40,}$/.test(lineBody(lines[i - 1] ?? '')) || /^={40,}$/.test(lineBody(lines[i - 2] ?? ''));
    const range = reportRange(lines, i, ruled);
    const report: CrashReport = {
      type: hit.rule.type,
      title: hit.rule.title(hit.m, lines, i),
      line: i,
      excerpt: lines.slice(range.from, range.end),
      panicked: hit.rule.type === 'panic',
    };
    // A panic right after a report ("Fatal exception", "hung_task: blocked
    // tasks") is that report's consequence, not a new failure.
    const last = out[out.length - 1];
    if (report.type === 'panic' && last !== undefined && !last.panicked && i - last.line < 400) {
      last.panicked = true;
      continue;
    }
    out.push(report);
    skipUntil = range.end;
  }
  return out;
}

/** The first kernel failure on the console (syzkaller reports the first too), or null. */
export function classifyConsole(text: string): CrashReport | null {
  return findReports(text)[0] ?? null;
}

/** For tests and the CLI: what a report looks like as expected-JSON. */
export function reportSummary(r: CrashReport | null): { type: KernelFailureType; title: string; panicked: boolean } | null {
  return r === null ? null : { type: r.type, title: r.title, panicked: r.panicked };
}

// ---- kmemleak -----------------------------------------------------------------------

export interface KmemleakObject {
  size: number;
  comm: string;
  /** allocation backtrace, function names without offsets */
  frames: string[];
}

// Allocator frames above the caller that asked for the memory.
const allocFrames = /^(kmemleak_\w+|__?kmem_cache_alloc\w*|kmem_cache_alloc\w*|__?kmalloc\w*|kmalloc\w*|__kmalloc_node\w*|kmalloc_node\w*|kzalloc\w*|kvmalloc\w*|__kvmalloc\w*|krealloc\w*|kmemdup\w*|kstrdup\w*|slab_post_alloc_hook|slab_alloc\w*|__slab_alloc\w*|___slab_alloc|alloc_pages\w*|__alloc_pages\w*|__get_free_pages|__vmalloc\w*|vmalloc\w*|vzalloc|__kvzalloc|kvzalloc|memdup_\w+|__alloc_percpu\w*|alloc_percpu\w*|pcpu_alloc)$/;

/**
 * The objects of /sys/kernel/debug/kmemleak ("unreferenced object 0x... (size
 * N):", comm line, hex dump, backtrace). Pure; [] for an empty report.
 */
export function parseKmemleak(text: string): KmemleakObject[] {
  const out: KmemleakObject[] = [];
  let cur: KmemleakObject | null = null;
  let inTrace = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const head = /^unreferenced object 0x[0-9a-f]+ \(size (\d+)\):/.exec(line);
    if (head !== null) {
      cur = { size: Number(head[1]), comm: '', frames: [] };
      out.push(cur);
      inTrace = false;
      continue;
    }
    if (cur === null) continue;
    const comm = /^\s+comm "([^"]*)"/.exec(line);
    if (comm !== null) cur.comm = comm[1]!;
    else if (/^\s+backtrace:/.test(line)) inTrace = true;
    else if (inTrace) {
      const f = /^\s+\[<[0-9a-f]+>\]\s+([A-Za-z_][\w.]*)\+0x/.exec(line);
      if (f !== null) cur.frames.push(cleanFunc(f[1]!));
    }
  }
  return out;
}

/** Where a leaked object was allocated: its first frame below the allocator. */
export function kmemleakCulprit(o: KmemleakObject): string {
  return o.frames.find((f) => !allocFrames.test(f)) ?? o.frames[0] ?? '?';
}

/** A stable title for a kmemleak report: the culprits, most leaked first. */
export function kmemleakTitle(objs: readonly KmemleakObject[]): string {
  const by = new Map<string, number>();
  for (const o of objs) {
    const f = kmemleakCulprit(o);
    by.set(f, (by.get(f) ?? 0) + 1);
  }
  const culprits = [...by.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([f]) => f);
  return `memory leak in ${culprits.slice(0, 3).join(', ')}${culprits.length > 3 ? ` (+${culprits.length - 3} more)` : ''}`;
}
