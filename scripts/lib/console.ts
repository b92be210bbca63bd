// The guest's serial console: which boot stage it reached (pure, over text)
// and a monitor that follows the console file while QEMU writes it, stamping
// the host time at which each stage first appeared. Failure classification
// lives in crash.ts.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { classifyConsole, findReports, type CrashReport } from './crash.ts';

export { classifyConsole, type CrashReport } from './crash.ts';

/** In boot order. 'firmware': QEMU runs but the kernel has not printed yet. */
export const bootStages = ['none', 'firmware', 'kernel', 'root-mounted', 'init', 'sshd-ready'] as const;
export type BootStage = (typeof bootStages)[number];

// What each stage prints. The kernel's own lines (KERN_INFO) vanish with a
// low loglevel; the init's markers (vm/image/init.sh) always print.
export const stageMarkers: { stage: BootStage; re: RegExp }[] = [
  { stage: 'firmware', re: /SeaBIOS|Booting from ROM|iPXE|qboot/ },
  { stage: 'kernel', re: /Linux version \d/ },
  { stage: 'root-mounted', re: /VFS: Mounted root|EXT4-fs \(vda\): mounted filesystem|Run \/sbin\/uringlet-init as init process/ },
  { stage: 'init', re: /^URINGLET-INIT\b/m },
  { stage: 'sshd-ready', re: /^URINGLET-READY\b/m },
];

export function stageIndex(s: BootStage): number {
  return bootStages.indexOf(s);
}

/** Pure: the furthest stage the console text shows ('firmware' when QEMU ran but nothing printed). */
export function bootStage(text: string, qemuStarted = true): BootStage {
  let stage: BootStage = qemuStarted ? 'firmware' : 'none';
  for (const { stage: s, re } of stageMarkers) if (re.test(text) && stageIndex(s) > stageIndex(stage)) stage = s;
  return stage;
}

/** Follows a console file; call poll() (or start()) and read the state. */
export class ConsoleMonitor {
  private text_ = '';
  private offset = 0;
  private fd: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stage_: BootStage = 'firmware';
  private crashCache: { len: number; report: CrashReport | null } = { len: -1, report: null };
  /** ms after t0 at which each stage was first seen */
  readonly stageAt: Partial<Record<BootStage, number>> = { firmware: 0 };

  constructor(
    readonly path: string,
    private readonly t0: number,
  ) {}

  /** Read what QEMU appended since the last poll. Returns true if there was new text. */
  poll(): boolean {
    if (this.fd === null) {
      if (!existsSync(this.path)) return false;
      this.fd = openSync(this.path, 'r');
    }
    const size = fstatSync(this.fd).size;
    if (size <= this.offset) return false;
    const buf = Buffer.alloc(size - this.offset);
    const n = readSync(this.fd, buf, 0, buf.length, this.offset);
    this.offset += n;
    // A stage marker may straddle two reads: look at the new text plus the tail of the old.
    const window = this.text_.slice(-200) + buf.subarray(0, n).toString('utf8');
    this.text_ += buf.subarray(0, n).toString('utf8');
    const now = Date.now() - this.t0;
    for (const { stage, re } of stageMarkers) {
      if (this.stageAt[stage] === undefined && re.test(window)) {
        this.stageAt[stage] = now;
        if (stageIndex(stage) > stageIndex(this.stage_)) this.stage_ = stage;
      }
    }
    return n > 0;
  }

  start(intervalMs = 20): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.poll();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  get stage(): BootStage {
    return this.stage_;
  }

  /** Bytes read so far: a mark for "since" queries. */
  get mark(): number {
    return this.text_.length;
  }

  text(since = 0): string {
    return since === 0 ? this.text_ : this.text_.slice(since);
  }

  tail(n = 30): string[] {
    const lines = this.text_.split('\n');
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  }

  /** Every kernel failure on the console since `since`, in order. */
  reports(since = 0): CrashReport[] {
    return findReports(this.text_.slice(since));
  }

  /** The first kernel failure on the console (memoised until new text arrives). */
  crash(since = 0): CrashReport | null {
    if (since !== 0) return classifyConsole(this.text_.slice(since));
    if (this.crashCache.len !== this.text_.length) {
      this.crashCache = { len: this.text_.length, report: classifyConsole(this.text_) };
    }
    return this.crashCache.report;
  }
}
