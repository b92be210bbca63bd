// One guest: QEMU started with the settings of vm/qemu.json, a per-run
// directory (disks, console, QMP socket, pidfile), a console monitor, and
// SSH. QEMU never outlives us: it is killed on success, error, timeout,
// SIGINT/SIGTERM, and a later run reaps what a killed run left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { join } from 'node:path';
import { probeAccelerator, type Accel } from './accel.ts';
import { classifyConsole, bootStage, type BootStage } from './console.ts';
import { InfraError, KernelFailure, isUringletError } from './errors.ts';
import { buildImage, type GuestImage } from './image.ts';
import { log } from './log.ts';
import { paths } from './paths.ts';
import { runOk } from './proc.ts';
import { GuestSsh, type ExecOptions, type ExecResult } from './ssh.ts';

export interface DataDisk {
  name: string;
  sizeMiB: number;
  /** use this file instead of a fresh one in the run directory */
  path?: string;
}

export interface BootOptions {
  kernel: string;
  image?: GuestImage;
  vcpus?: number;
  memMiB?: number;
  dataDisks?: DataDisk[];
  cmdline?: string[];
  runDir?: string;
  bootTimeoutMs?: number;
  /** keep the run directory (console log) after shutdown */
  keepRunDir?: boolean;
}

export interface BootTimings {
  toKernelMs: number | null;
  toInitMs: number | null;
  toSshdMs: number | null;
  toSshMs: number | null;
}

interface QemuSettings {
  vcpus: number;
  memMiB: number;
  machine: string;
  rootCache: string;
  dataDiskCache: string;
  dataDiskAio: string;
  cmdline: string[];
  bootTimeoutMs: { kvm: number; tcg: number };
}

export function qemuSettings(): QemuSettings {
  return JSON.parse(readFileSync(join(paths.vm(), 'qemu.json'), 'utf8')) as QemuSettings;
}

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = (): void => {
    for (const c of live) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.stderr.write(`\nuringlet: ${sig}: QEMU stopped\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill QEMU left by runs whose orchestrator died; only ours (cmdline names the run dir). */
export function reapStaleRuns(): number {
  const root = paths.runs();
  if (!existsSync(root)) return 0;
  let reaped = 0;
  for (const id of readdirSync(root)) {
    const dir = join(root, id);
    const owner = Number(existsSync(join(dir, 'owner.pid')) ? readFileSync(join(dir, 'owner.pid'), 'utf8') : 0);
    if (owner > 0 && pidAlive(owner)) continue;
    const pidFile = join(dir, 'qemu.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        /* gone */
      }
      if (pid > 0 && cmd.includes('qemu-system') && cmd.includes(dir)) {
        process.kill(pid, 'SIGKILL');
        reaped++;
        log.warn(`killed QEMU ${pid} left behind by an earlier run (${dir})`);
      }
    }
    if (!existsSync(join(dir, 'keep'))) rmSync(dir, { recursive: true, force: true });
  }
  return reaped;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function qmpQuit(sock: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const c = createConnection(sock);
    const t = setTimeout(() => {
      c.destroy();
      resolve();
    }, 2000);
    c.on('connect', () => {
      c.write('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n');
    });
    c.on('error', () => {
      clearTimeout(t);
      resolve();
    });
    c.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export class Vm {
  readonly consoleLogPath: string;
  bootTimings: BootTimings = { toKernelMs: null, toInitMs: null, toSshdMs: null, toSshMs: null };
  private ssh: GuestSsh | null = null;
  private exited: { code: number | null; signal: string | null } | null = null;

  constructor(
    readonly runDir: string,
    readonly accel: Accel,
    readonly port: number,
    private readonly child: ChildProcess,
    readonly dataDiskPaths: string[],
    private readonly keepRunDir: boolean,
  ) {
    this.consoleLogPath = join(runDir, 'console.log');
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      live.delete(child);
    });
  }

  get alive(): boolean {
    return this.exited === null;
  }

  consoleText(): string {
    return existsSync(this.consoleLogPath) ? readFileSync(this.consoleLogPath, 'utf8') : '';
  }

  consoleTail(n = 40): string[] {
    return this.consoleText().split('\n').slice(-n);
  }

  /** Throws a KernelFailure if the console shows a kernel failure since boot. */
  checkConsole(): void {
    const crash = classifyConsole(this.consoleText());
    if (crash) throw new KernelFailure(crash.type, crash.title, { details: crash.excerpt, logPath: this.consoleLogPath });
  }

  /** Wait for the console to show readiness, a crash, QEMU's exit or the deadline. */
  async waitReady(deadline: number, t0: number, image: GuestImage): Promise<void> {
    let stage: BootStage = 'none';
    const seen = new Set<BootStage>();
    for (;;) {
      const text = this.consoleText();
      stage = bootStage(text);
      const now = Date.now() - t0;
      if (!seen.has(stage)) {
        seen.add(stage);
        if (stage === 'kernel') this.bootTimings.toKernelMs = now;
        if (stage === 'init' || stage === 'root-mounted') this.bootTimings.toInitMs ??= now;
        if (stage === 'sshd-ready') {
          this.bootTimings.toKernelMs ??= now;
          this.bootTimings.toInitMs ??= now;
          this.bootTimings.toSshdMs = now;
        }
      }
      const crash = classifyConsole(text);
      if (crash && crash.type !== 'warning') {
        throw new KernelFailure(crash.type, crash.title, { details: crash.excerpt, logPath: this.consoleLogPath });
      }
      if (!this.alive) {
        throw new KernelFailure('qemu-exit', `QEMU exited during boot (stage reached: ${stage})`, { details: this.consoleTail(30), logPath: this.consoleLogPath });
      }
      if (stage === 'sshd-ready') break;
      if (Date.now() > deadline) {
        throw new KernelFailure('boot-timeout', `no SSH readiness before the deadline; boot stage reached: ${stage}`, { details: this.consoleTail(30), logPath: this.consoleLogPath });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.ssh = await GuestSsh.connect({
      port: this.port, privateKey: image.clientKey, hostKeyBlob: image.hostKeyBlob,
      deadlineMs: deadline + 15000, isAlive: () => this.alive,
    });
    this.bootTimings.toSshMs = Date.now() - t0;
  }

  private crashOr(e: unknown): unknown {
    // A dropped connection or a stuck command is the kernel's fault if the console says so.
    const crash = classifyConsole(this.consoleText());
    if (crash) return new KernelFailure(crash.type, crash.title, { details: crash.excerpt, logPath: this.consoleLogPath });
    if (isUringletError(e) && e instanceof KernelFailure) {
      return new KernelFailure(e.type, e.title, { details: [...e.details, '--- console tail ---', ...this.consoleTail(20)], logPath: this.consoleLogPath });
    }
    return e;
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.ssh === null) throw new InfraError('VM is not connected');
    try {
      return await this.ssh.exec(cmd, opts);
    } catch (e) {
      throw this.crashOr(e);
    }
  }

  async push(local: string, remote: string): Promise<void> {
    if (this.ssh === null) throw new InfraError('VM is not connected');
    try {
      await this.ssh.push(local, remote);
    } catch (e) {
      throw this.crashOr(new KernelFailure('ssh-lost', `push ${local} -> ${remote} failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  async pull(remote: string, local: string): Promise<void> {
    if (this.ssh === null) throw new InfraError('VM is not connected');
    try {
      await this.ssh.pull(remote, local);
    } catch (e) {
      throw this.crashOr(new KernelFailure('ssh-lost', `pull ${remote} -> ${local} failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  async shutdown(): Promise<void> {
    this.ssh?.close();
    if (this.alive) {
      await qmpQuit(join(this.runDir, 'qmp.sock'));
      const t = Date.now();
      while (this.alive && Date.now() - t < 3000) await new Promise((r) => setTimeout(r, 50));
      if (this.alive) this.child.kill('SIGKILL');
      while (this.alive && Date.now() - t < 6000) await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(join(this.runDir, 'owner.pid'), { force: true });
    if (!this.keepRunDir) {
      for (const f of readdirSync(this.runDir)) if (/\.(qcow2|raw)$/.test(f)) rmSync(join(this.runDir, f), { force: true });
    }
  }
}

export async function bootVm(opts: BootOptions): Promise<Vm> {
  installHandlers();
  reapStaleRuns();
  if (!existsSync(opts.kernel)) throw new InfraError(`kernel image ${opts.kernel} does not exist (run npm run build-kernel)`);
  const image = opts.image ?? (await buildImage());
  const settings = qemuSettings();
  const { accel, reason } = await probeAccelerator({ kernel: opts.kernel });
  const runDir = opts.runDir ?? join(paths.runs(), `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'owner.pid'), String(process.pid));
  if (opts.keepRunDir) writeFileSync(join(runDir, 'keep'), '');
  const overlay = join(runDir, 'root.qcow2');
  await runOk('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.rootImage, overlay]);
  const disks: string[] = [];
  for (const d of opts.dataDisks ?? []) {
    const p = d.path ?? join(runDir, `${d.name}.raw`);
    if (d.path === undefined) {
      closeSync(openSync(p, 'w'));
      await runOk('truncate', ['-s', `${d.sizeMiB}M`, p]);
    }
    disks.push(p);
  }
  const port = await freePort();
  const vcpus = opts.vcpus ?? settings.vcpus;
  const args = [
    '-name', `uringlet,debug-threads=on`,
    '-machine', settings.machine,
    '-accel', accel === 'tcg' ? 'tcg,thread=multi' : 'kvm',
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-smp', String(vcpus), '-m', String(opts.memMiB ?? settings.memMiB),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', opts.kernel,
    '-append', [...settings.cmdline, ...(opts.cmdline ?? [])].join(' '),
    '-drive', `file=${overlay},if=virtio,format=qcow2,cache=${settings.rootCache}`,
    ...disks.flatMap((p) => ['-drive', `file=${p},if=virtio,format=raw,cache=${settings.dataDiskCache},aio=${settings.dataDiskAio}`]),
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    '-device', 'virtio-rng-pci',
    '-serial', `file:${join(runDir, 'console.log')}`,
    '-qmp', `unix:${join(runDir, 'qmp.sock')},server=on,wait=off`,
    '-pidfile', join(runDir, 'qemu.pid'),
  ];
  writeFileSync(join(runDir, 'qemu.cmdline'), ['qemu-system-x86_64', ...args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ') + '\n');
  const t0 = Date.now();
  const qlog = openSync(join(runDir, 'qemu.log'), 'w');
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', qlog, qlog] });
  closeSync(qlog);
  live.add(child);
  const vm = new Vm(runDir, accel, port, child, disks, opts.keepRunDir ?? false);
  log.info(`booting ${opts.kernel} under ${accel.toUpperCase()} (${reason}), ${vcpus} vCPUs, ssh on 127.0.0.1:${port}, console ${vm.consoleLogPath}`);
  const timeout = opts.bootTimeoutMs ?? settings.bootTimeoutMs[accel];
  try {
    await vm.waitReady(t0 + timeout, t0, image);
  } catch (e) {
    const qemuLog = existsSync(join(runDir, 'qemu.log')) ? readFileSync(join(runDir, 'qemu.log'), 'utf8').trim() : '';
    await vm.shutdown();
    if (qemuLog !== '' && e instanceof KernelFailure && e.type === 'qemu-exit' && !/Linux version/.test(vm.consoleText())) {
      throw new InfraError(`QEMU failed to start: ${qemuLog.split('\n')[0]}`, { details: qemuLog.split('\n').slice(0, 10), logPath: join(runDir, 'qemu.log') });
    }
    throw e;
  }
  const b = vm.bootTimings;
  log.info(`guest ready in ${b.toSshMs} ms (kernel ${b.toKernelMs} ms, init ${b.toInitMs} ms, sshd ${b.toSshdMs} ms)`);
  return vm;
}

/** Boot, run `fn`, always shut down. */
export async function withVm<T>(opts: BootOptions, fn: (vm: Vm) => Promise<T>): Promise<T> {
  const vm = await bootVm(opts);
  try {
    return await fn(vm);
  } finally {
    await vm.shutdown();
  }
}
