// Lifetimes of the processes and directories a run creates. QEMU must never
// outlive the orchestrator: it is killed on success, error, timeout,
// SIGINT/SIGTERM/SIGHUP and process exit; it gets PR_SET_PDEATHSIG (via
// setpriv) so even a SIGKILLed orchestrator takes it along; and if all of
// that failed, the next run finds it through the run directory's pidfile and
// kills it -- after checking /proc/<pid>/cmdline names that run directory,
// so QEMU processes we did not start are never touched.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { InfraError } from './errors.ts';
import { log } from './log.ts';
import { paths } from './paths.ts';

// ---- process identity ------------------------------------------------------------

/** Kernel start time of a process (jiffies since boot), or null if it is gone. */
export function procStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

export function procCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
  } catch {
    return [];
  }
}

/** Pure: is this command line a QEMU of the run in `runDir`? */
export function isOurQemu(cmdline: string[], runDir: string): boolean {
  const exe = cmdline[0] ?? '';
  return /qemu-system-/.test(exe) && cmdline.some((a) => a.includes(runDir));
}

// ---- run directories ---------------------------------------------------------------

export interface RunOwner {
  pid: number;
  /** /proc start time of `pid`, so a recycled pid is not mistaken for us */
  startTime: number | null;
  startedAt: string;
  argv: string[];
}

/** A fresh per-run directory with a random id; owner.json says who made it. */
export function createRunDir(dir?: string): string {
  const id = `${new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '')}-${randomBytes(4).toString('hex')}`;
  const runDir = dir ?? join(paths.runs(), id);
  mkdirSync(runDir, { recursive: true });
  const owner: RunOwner = { pid: process.pid, startTime: procStartTime(process.pid), startedAt: new Date().toISOString(), argv: process.argv.slice(1) };
  writeJsonAtomic(join(runDir, 'owner.json'), owner);
  return runDir;
}

function ownerAlive(runDir: string): boolean {
  try {
    const o = JSON.parse(readFileSync(join(runDir, 'owner.json'), 'utf8')) as RunOwner;
    const st = procStartTime(o.pid);
    return st !== null && (o.startTime === null || st === o.startTime);
  } catch {
    return false;
  }
}

/** Disk files a finished run no longer needs (logs stay for post-mortems). */
export function removeRunDisks(runDir: string): void {
  if (!existsSync(runDir)) return;
  for (const f of readdirSync(runDir)) if (/\.(qcow2|raw|img)$/.test(f)) rmSync(join(runDir, f), { force: true });
}

/** ENOENT: another process (a VM booting concurrently reaps too) removed it first. */
function vanished(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * Kill QEMU left behind by runs whose orchestrator is gone, free their disk
 * files, and delete run directories older than `keepDays` (keeping the newest
 * `keepRuns`). Returns the pids killed.
 */
export function reapStaleRuns(opts: { keepDays?: number; keepRuns?: number } = {}): number[] {
  const root = paths.runs();
  if (!existsSync(root)) return [];
  const killed: number[] = [];
  const dirs = readdirSync(root).map((d) => join(root, d)).filter((d) => existsSync(join(d, 'owner.json')));
  const stale = dirs.filter((d) => !ownerAlive(d));
  for (const dir of stale) {
    try {
      reapRun(dir, killed);
    } catch (e) {
      if (!vanished(e)) throw e;
    }
  }
  const keepMs = (opts.keepDays ?? 3) * 86400_000;
  const byAge = stale
    .flatMap((d) => {
      try {
        return [{ d, mtime: statSync(d).mtimeMs }];
      } catch (e) {
        if (vanished(e)) return [];
        throw e;
      }
    })
    .sort((a, b) => b.mtime - a.mtime);
  byAge.forEach(({ d, mtime }, i) => {
    if (i >= (opts.keepRuns ?? 50) || Date.now() - mtime > keepMs) rmSync(d, { recursive: true, force: true });
  });
  return killed;
}

/** Kill the QEMU of one stale run directory, if still there, and free its disks. */
function reapRun(dir: string, killed: number[]): void {
  const pidFile = join(dir, 'qemu.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid > 0 && isOurQemu(procCmdline(pid), dir)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
        log.warn(`killed QEMU ${pid} left behind by an earlier run (${dir})`);
      } catch {
        /* exited meanwhile */
      }
    }
    rmSync(pidFile, { force: true });
  }
  removeRunDisks(dir);
}

// ---- children that must die with us -------------------------------------------------

const live = new Map<number, ChildProcess>();
let handlersInstalled = false;

function killAllNow(): void {
  for (const [pid, c] of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
    live.delete(pid);
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllNow);
  const signals: [NodeJS.Signals, number][] = [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]];
  for (const [sig, code] of signals) {
    process.on(sig, () => {
      const n = live.size;
      killAllNow();
      process.stderr.write(`\nuringlet: ${sig}${n > 0 ? `: stopped ${n} QEMU process${n > 1 ? 'es' : ''}` : ''}\n`);
      process.exit(code);
    });
  }
}

let setprivOk: boolean | undefined;
function hasSetprivPdeathsig(): boolean {
  if (setprivOk === undefined) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
    setprivOk = r.status === 0;
    if (!setprivOk) log.warn('setpriv --pdeathsig is not available (util-linux): QEMU will not die with a SIGKILLed orchestrator; the next run reaps it');
  }
  return setprivOk;
}

/**
 * Spawn a process that must not outlive us: its own process group (a
 * terminal Ctrl-C reaches us, and we stop it in order), PDEATHSIG=KILL, and
 * SIGKILL from our exit/signal handlers.
 */
export function spawnOwned(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  installHandlers();
  const [c, a] = hasSetprivPdeathsig() ? ['setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(c, a as string[], { ...opts, detached: true });
  if (child.pid === undefined) throw new InfraError(`could not start ${cmd}`);
  const pid = child.pid;
  live.set(pid, child);
  child.once('exit', () => live.delete(pid));
  return child;
}

export function liveChildren(): number {
  return live.size;
}

// ---- a lock between processes (image builds) ---------------------------------------------

/** Run `fn` holding an exclusive lock file; a lock whose holder died is taken over. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20 * 60_000);
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, startTime: procStartTime(process.pid) }));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: { pid: number; startTime: number | null } | null = null;
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; startTime: number | null };
      } catch {
        /* being written right now */
      }
      if (holder !== null && (procStartTime(holder.pid) === null || procStartTime(holder.pid) !== holder.startTime)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new InfraError(`timed out waiting for ${path} (held by pid ${holder?.pid ?? '?'})`);
      if (!announced) {
        log.info(`waiting for pid ${holder?.pid ?? '?'} (${opts.what ?? path})`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
