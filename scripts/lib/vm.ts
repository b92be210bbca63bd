// One guest: QEMU started with the settings of vm/qemu.json in a per-run
// directory (overlay root disk, data disks, console log, QMP socket,
// pidfile), a console monitor that follows the boot and spots kernel
// failures, and SSH. What went wrong is always typed: a kernel crash seen on
// the console wins over the symptom it caused (lost SSH, a stuck command).
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { probeAccelerator, type Accel } from './accel.ts';
import { ConsoleMonitor, type BootStage } from './console.ts';
import { kmemleakTitle, parseKmemleak, type CrashReport } from './crash.ts';
import { InfraError, KernelFailure, kernelGoesOn } from './errors.ts';
import { buildImage, type GuestImage } from './image.ts';
import { createRunDir, reapStaleRuns, removeRunDisks, spawnOwned } from './lifecycle.ts';
import { ensureHost } from './host.ts';
import { log } from './log.ts';
import { runOk } from './proc.ts';
import { freePort, hostHasInvariantTsc, isPortConflict, qemuArgs, qemuSettings, qmp, shellQuote } from './qemu.ts';
import { GuestSsh, HostKeyMismatch, type ExecOptions, type ExecResult } from './ssh.ts';

export type { ExecOptions, ExecResult } from './ssh.ts';
export type { GuestImage } from './image.ts';

export interface DataDisk {
  name: string;
  sizeMiB: number;
  /** use (or create) this file instead of a fresh one in the run directory */
  path?: string;
}

export interface BootOptions {
  /** bzImage path */
  kernel: string;
  image?: GuestImage;
  vcpus?: number;
  memMiB?: number;
  dataDisks?: DataDisk[];
  /** appended to the kernel command line of vm/qemu.json */
  cmdline?: string[];
  runDir?: string;
  bootTimeoutMs?: number;
  /** a debug kernel (KASAN, lockdep) boots much slower: use qemu.json's debugBootTimeoutMs */
  debugKernel?: boolean;
  /** keep disk files in the run directory after shutdown */
  keepRunDir?: boolean;
  /** open QEMU's gdbstub on this 127.0.0.1 port (target remote :PORT with the build's vmlinux) */
  gdbPort?: number;
}

/**
 * Milliseconds. to*: since QEMU was started, when the stage was first seen.
 * The rest is the breakdown: QEMU start -> kernel banner -> init -> sshd
 * listening -> first SSH session.
 */
export interface BootTimings {
  toKernelMs: number | null;
  toInitMs: number | null;
  toSshdMs: number | null;
  toSshMs: number | null;
  qemuToKernelMs: number | null;
  kernelToInitMs: number | null;
  initToSshdMs: number | null;
  sshdToSshMs: number | null;
}

function diff(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null ? null : b - a;
}

/** Pure: the breakdown from the stage times and the SSH time. */
export function bootTimings(stageAt: Partial<Record<BootStage, number>>, sshMs: number | null): BootTimings {
  const kernel = stageAt.kernel ?? null;
  const init = stageAt.init ?? null;
  const sshd = stageAt['sshd-ready'] ?? null;
  return {
    toKernelMs: kernel, toInitMs: init, toSshdMs: sshd, toSshMs: sshMs,
    qemuToKernelMs: kernel, kernelToInitMs: diff(kernel, init), initToSshdMs: diff(init, sshd), sshdToSshMs: diff(sshd, sshMs),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How long a push or pull may take. SFTP requests have no timeout of their
 * own, and a guest whose root file system hangs in writeback keeps answering
 * SSH keepalives; what moves here is MiBs, so minutes mean a hung guest.
 */
const transferTimeoutMs = 5 * 60_000;

export class Vm {
  readonly consoleLogPath: string;
  bootTimings: BootTimings = bootTimings({}, null);
  private ssh: GuestSsh | null = null;
  private exited: { code: number | null; signal: string | null } | null = null;
  private shutDown = false;

  constructor(
    readonly runDir: string,
    readonly accel: Accel,
    readonly accelReason: string,
    readonly port: number,
    readonly image: GuestImage,
    /** data disk name -> host file */
    readonly dataDiskPaths: Record<string, string>,
    private readonly child: ChildProcess,
    readonly monitor: ConsoleMonitor,
    private readonly keepRunDir: boolean,
  ) {
    this.consoleLogPath = monitor.path;
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.monitor.poll();
    });
  }

  get qemuPid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exited === null;
  }

  /** A position in the console; checkConsole(mark) looks only at what came after. */
  consoleMark(): number {
    this.monitor.poll();
    return this.monitor.mark;
  }

  consoleTail(n = 30): string[] {
    this.monitor.poll();
    return this.monitor.tail(n);
  }

  crash(since = 0): CrashReport | null {
    this.monitor.poll();
    return this.monitor.crash(since);
  }

  private failure(r: CrashReport): KernelFailure {
    return new KernelFailure(r.type, r.title, { details: r.excerpt.slice(0, 60), logPath: this.consoleLogPath });
  }

  /** Throws a KernelFailure if the console shows a kernel failure (crash or warning) since boot, or since `mark`. */
  checkConsole(mark = 0): void {
    const r = this.crash(mark);
    if (r !== null) throw this.failure(r);
  }

  /**
   * Have kmemleak scan now and throw a KernelFailure for what it reports (a
   * no-op on a kernel without it). Its own thread scans a minute after boot
   * and then every ten minutes, so the leaks of a shorter run would never be
   * reported. Two scans 6 s apart, as kmemleak's documentation suggests: an
   * object younger than its minimum age (5 s) is not reported by the first.
   * The report is also written to kmemleak.txt beside the console log.
   */
  async checkLeaks(): Promise<void> {
    const f = '/sys/kernel/debug/kmemleak';
    const started = Date.now();
    const r = await this.exec(`[ -e ${f} ] || exit 3; echo scan > ${f} && sleep 6 && echo scan > ${f} && cat ${f}`, { timeoutMs: 10 * 60_000 });
    if (r.code === 3) {
      log.warn(`kmemleak: ${f} is missing (no CONFIG_DEBUG_KMEMLEAK, or debugfs not mounted): leaks not checked`);
      return;
    }
    if (r.code !== 0) throw new InfraError(`kmemleak scan failed in the guest (exit ${r.code ?? r.signal})`, { details: (r.stderr + r.stdout).split('\n').slice(-8) });
    const leaks = parseKmemleak(r.stdout);
    const took = ((Date.now() - started) / 1000).toFixed(0);
    if (leaks.length === 0) {
      log.info(`kmemleak: nothing reported (two scans, ${took} s)`);
      return;
    }
    const report = join(this.runDir, 'kmemleak.txt');
    writeFileSync(report, r.stdout);
    throw new KernelFailure('memory-leak', `${kmemleakTitle(leaks)} (kmemleak: ${leaks.length} object${leaks.length === 1 ? '' : 's'})`, {
      details: r.stdout.split('\n').slice(0, 60),
      logPath: report,
    });
  }

  /** Wait for the boot to reach SSH, or throw what stopped it. */
  async waitReady(t0: number, deadline: number): Promise<void> {
    for (;;) {
      this.monitor.poll();
      const crash = this.monitor.crash();
      if (crash !== null && !kernelGoesOn(crash.type)) throw this.failure(crash);
      if (!this.alive) {
        throw new KernelFailure('qemu-exit', `QEMU exited during boot (exit ${this.exited?.code ?? this.exited?.signal}; stage reached: ${this.monitor.stage})`, {
          details: this.consoleTail(30), logPath: this.consoleLogPath,
        });
      }
      if (this.monitor.stage === 'sshd-ready') break;
      if (Date.now() > deadline) {
        throw new KernelFailure('boot-timeout', `guest not ready within ${Math.round((deadline - t0) / 1000)} s (stage reached: ${this.monitor.stage})`, {
          details: this.consoleTail(30), logPath: this.consoleLogPath,
        });
      }
      await sleep(20);
    }
    const mark = this.consoleMark();
    try {
      this.ssh = await GuestSsh.connect({
        port: this.port, privateKey: this.image.clientKey, hostKeyBlob: this.image.hostKeyBlob,
        deadlineMs: Math.max(deadline, Date.now() + 15_000), isAlive: () => this.alive,
      });
    } catch (e) {
      // A pinned key that does not match, or a key sshd refuses, is the image's problem.
      if (e instanceof HostKeyMismatch) throw e;
      const what = e instanceof InfraError ? [e.message, ...e.details].join('\n') : String(e);
      if (this.alive && /authentication methods failed/i.test(what)) throw e;
      // sshd said it was ready: a guest that then dies or stops answering is the kernel's failure.
      throw await this.explain(new KernelFailure('ssh-lost', `sshd announced it was ready, then SSH failed: ${e instanceof Error ? e.message : String(e)}`, {
        details: e instanceof InfraError ? e.details : [],
      }), mark);
    }
    this.bootTimings = bootTimings(this.monitor.stageAt, Date.now() - t0);
    if (this.ssh.attempts.length > 1) log.info(`vm: SSH took ${this.ssh.attempts.length} attempts: ${this.ssh.attempts.join('; ')}`);
  }

  /**
   * What an SSH-level error really was. A dropped connection is given a
   * moment for the console to show why (a panic ends QEMU right after it
   * prints); a console crash report wins over the symptom.
   */
  private async explain(e: unknown, mark: number): Promise<unknown> {
    if (!(e instanceof KernelFailure)) return e;
    const fatal = (): CrashReport | undefined => {
      this.monitor.poll();
      const first = this.monitor.crash();
      // a crash that left SSH up during an earlier command still explains this one
      return this.monitor.reports(mark).find((r) => !kernelGoesOn(r.type)) ?? (first !== null && !kernelGoesOn(first.type) ? first : undefined);
    };
    if (e.type === 'ssh-lost') {
      const until = Date.now() + 3000;
      while (Date.now() < until && this.alive && fatal() === undefined) await sleep(50);
    }
    // A crash before a warning: an earlier warning (the kernel went on after it) is not
    // what ended this command.
    const crash = fatal();
    if (crash !== undefined) return this.failure(crash);
    const warning = this.monitor.reports(mark)[0];
    const seen = warning !== undefined ? [`--- the console showed while it ran: ${warning.type}: ${warning.title} ---`] : [];
    if (!this.alive) {
      return new KernelFailure('qemu-exit', `QEMU exited (${this.exited?.code ?? this.exited?.signal}) with no kernel crash report on the console`, {
        details: [...seen, ...this.consoleTail(20)], logPath: this.consoleLogPath,
      });
    }
    return new KernelFailure(e.type, e.title, { details: [...e.details, ...seen, '--- console tail ---', ...this.consoleTail(15)], logPath: this.consoleLogPath });
  }

  private connected(): GuestSsh {
    if (this.ssh === null) throw new InfraError('the VM is not connected (boot it with bootVm)');
    return this.ssh;
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const ssh = this.connected();
    const mark = this.consoleMark();
    try {
      return await ssh.exec(cmd, opts);
    } catch (e) {
      throw await this.explain(e, mark);
    }
  }

  async push(local: string, remote: string, timeoutMs = transferTimeoutMs): Promise<void> {
    await this.transfer(`push ${local} -> ${remote}`, (ssh) => ssh.push(local, remote), timeoutMs);
  }

  async pull(remote: string, local: string, timeoutMs = transferTimeoutMs): Promise<void> {
    await this.transfer(`pull ${remote} -> ${local}`, (ssh) => ssh.pull(remote, local), timeoutMs);
  }

  private async transfer(what: string, op: (ssh: GuestSsh) => Promise<void>, timeoutMs: number): Promise<void> {
    const ssh = this.connected();
    const mark = this.consoleMark();
    const work = op(ssh);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((res) => (timer = setTimeout(() => res('expired'), timeoutMs)));
    try {
      if ((await Promise.race([work.then(() => 'done' as const), expired])) === 'expired') {
        // Closing the connection is what makes the pending SFTP requests settle.
        work.catch(() => undefined);
        ssh.close();
        throw await this.explain(new KernelFailure('command-timeout', `${what} did not finish within ${timeoutMs / 1000} s`), mark);
      }
    } catch (e) {
      if (e instanceof KernelFailure) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (ssh.lost !== null || !this.alive) throw await this.explain(new KernelFailure('ssh-lost', `${what}: ${msg}`), mark);
      throw new InfraError(`${what} failed: ${msg}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop QEMU (QMP quit, then SIGKILL), free the disk files, keep the logs. Idempotent. */
  async shutdown(): Promise<void> {
    await this.stopQemu();
    if (!this.keepRunDir) removeRunDisks(this.runDir);
  }

  /** Stop QEMU, keep every file (bootVm retries on the same disks). */
  async stopQemu(): Promise<void> {
    if (this.shutDown) return;
    this.shutDown = true;
    this.ssh?.close();
    if (this.alive) {
      try {
        await qmp(join(this.runDir, 'qmp.sock'), 'quit', undefined, 2000);
      } catch {
        /* QMP not up or already gone: SIGKILL below */
      }
      const t = Date.now();
      while (this.alive && Date.now() - t < 3000) await sleep(20);
      if (this.alive) this.child.kill('SIGKILL');
      while (this.alive && Date.now() - t < 6000) await sleep(20);
    }
    this.monitor.stop();
  }
}

async function prepareDisks(runDir: string, image: GuestImage, disks: DataDisk[]): Promise<{ overlay: string; data: Record<string, string> }> {
  const overlay = join(runDir, 'root.qcow2');
  // A throwaway copy-on-write layer: the cached image stays pristine and runs never share a writable disk.
  await runOk('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.rootImage, overlay]);
  const data: Record<string, string> = {};
  for (const d of disks) {
    if (!/^[A-Za-z][\w-]{0,19}$/.test(d.name)) throw new InfraError(`data disk name '${d.name}' must be a short identifier (it becomes the virtio serial)`);
    const p = d.path ?? join(runDir, `${d.name}.raw`);
    if (!existsSync(p)) {
      const fd = openSync(p, 'w');
      ftruncateSync(fd, d.sizeMiB * 2 ** 20); // sparse
      closeSync(fd);
    }
    data[d.name] = p;
  }
  return { overlay, data };
}

/** Boot a kernel with the guest image; resolves once SSH works. Never leaves QEMU behind on failure. */
export async function bootVm(opts: BootOptions): Promise<Vm> {
  reapStaleRuns();
  if (!existsSync(opts.kernel)) throw new InfraError(`kernel image ${opts.kernel} does not exist (build it: npm run build-kernel)`);
  await ensureHost('vm'); // QEMU, qemu-img, qboot, ssh: installed (as root) or named
  const image = opts.image ?? (await buildImage());
  const settings = qemuSettings();
  const { accel, reason } = await probeAccelerator({ kernel: opts.kernel });
  const runDir = createRunDir(opts.runDir);
  const { overlay, data } = await prepareDisks(runDir, image, opts.dataDisks ?? []);
  const vcpus = opts.vcpus ?? settings.vcpus;
  const memMiB = opts.memMiB ?? settings.memMiB;
  const timeout = opts.bootTimeoutMs ?? (opts.debugKernel ? settings.debugBootTimeoutMs : settings.bootTimeoutMs[accel]);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = qemuArgs({
      settings, accel, kernel: opts.kernel, cmdline: opts.cmdline ?? [], rootOverlay: overlay,
      dataDisks: Object.entries(data).map(([name, path]) => ({ name, path })), sshPort: port, runDir, vcpus, memMiB,
      extraArgs: opts.gdbPort !== undefined ? ['-gdb', `tcp:127.0.0.1:${opts.gdbPort}`] : [],
      hostInvariantTsc: hostHasInvariantTsc(readFileSync('/proc/cpuinfo', 'utf8')),
    });
    writeFileSync(join(runDir, 'qemu.cmdline'), shellQuote(['qemu-system-x86_64', ...args]) + '\n');
    writeFileSync(join(runDir, 'console.log'), '');
    const qemuLog = join(runDir, 'qemu.log');
    const fd = openSync(qemuLog, 'w');
    const t0 = Date.now();
    const child = spawnOwned('qemu-system-x86_64', args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const monitor = new ConsoleMonitor(join(runDir, 'console.log'), t0);
    const vm = new Vm(runDir, accel, reason, port, image, data, child, monitor, opts.keepRunDir ?? false);
    if (attempt === 1) {
      log.info(`vm: ${accel.toUpperCase()} (${reason}), ${vcpus} vCPUs, ${memMiB} MiB, ssh 127.0.0.1:${port}, run directory ${runDir}`);
    }
    try {
      await vm.waitReady(t0, t0 + timeout);
      const b = vm.bootTimings;
      log.info(`vm: ready in ${b.toSshMs} ms (QEMU->kernel ${b.qemuToKernelMs} ms, kernel->init ${b.kernelToInitMs} ms, init->sshd ${b.initToSshdMs} ms, sshd->ssh ${b.sshdToSshMs} ms)`);
      return vm;
    } catch (e) {
      await vm.stopQemu();
      const qerr = existsSync(qemuLog) ? readFileSync(qemuLog, 'utf8').trim() : '';
      if (e instanceof KernelFailure && e.type === 'qemu-exit' && vm.monitor.stage === 'firmware') {
        // QEMU itself failed: a lost race for the SSH port is retried, anything else is the host's problem.
        if (isPortConflict(qerr) && attempt < 4) {
          log.warn(`vm: port ${port} was taken before QEMU could bind it; retrying`);
          continue;
        }
        if (!opts.keepRunDir) removeRunDisks(runDir);
        if (qerr !== '') {
          throw new InfraError(`QEMU failed to start: ${qerr.split('\n')[0]}`, { details: qerr.split('\n').slice(0, 12), logPath: qemuLog });
        }
      }
      if (!opts.keepRunDir) removeRunDisks(runDir);
      throw e;
    }
  }
}

/** Boot, run `fn`, always shut down (also when fn throws). */
export async function withVm<T>(opts: BootOptions, fn: (vm: Vm) => Promise<T>): Promise<T> {
  const vm = await bootVm(opts);
  try {
    const out = await fn(vm);
    // a debug kernel's leaks count as much as its splats (see checkLeaks)
    if (opts.debugKernel === true && vm.alive) await vm.checkLeaks();
    return out;
  } finally {
    await vm.shutdown();
  }
}
