// SSH to the guest with ssh2: retries with backoff while it boots, the host
// key pinned to the image's (a mismatch is refused, never retried), exec with
// a timeout (exit code and signal back, output streamed), SFTP transfers of
// files and directories.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Client, type ClientChannel, type SFTPWrapper, type Stats } from 'ssh2';
import { InfraError, KernelFailure } from './errors.ts';

export interface ExecResult {
  /** null when the command was killed by a signal */
  code: number | null;
  /** e.g. 'SIGKILL', or null */
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** default 10 minutes: nothing in the guest may hang the orchestrator forever */
  timeoutMs?: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** written to the command's stdin, then EOF */
  input?: string;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 600_000;
/** environment variable tagging each command (sshd_config: AcceptEnv URINGLET_*) */
const TAG_VAR = 'URINGLET_EXEC_TAG';

export class HostKeyMismatch extends InfraError {}

export interface ConnectOptions {
  port: number;
  privateKey: string;
  /** base64 SSH wire-format blob of the pinned host key */
  hostKeyBlob: string;
  deadlineMs: number;
  /** stop retrying once QEMU is gone */
  isAlive: () => boolean;
}

/** Pure: does the key the server presented equal the pinned one? */
export function hostKeyMatches(presented: Buffer, pinnedBlob: string): boolean {
  const pinned = Buffer.from(pinnedBlob, 'base64');
  return pinned.length > 0 && Buffer.compare(presented, pinned) === 0;
}

function last(text: string, n = 10): string[] {
  return text.trimEnd().split('\n').slice(-n);
}

export class GuestSsh {
  private lost_: Error | null = null;
  /** connection attempts it took, and why the failed ones failed (boot diagnostics) */
  attempts: string[] = [];

  private constructor(private readonly client: Client) {
    client.on('error', (e) => (this.lost_ ??= e));
    client.on('close', () => (this.lost_ ??= new Error('connection closed')));
  }

  private static attempt(opts: ConnectOptions, key: Buffer, timeoutMs: number): Promise<GuestSsh> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      let mismatch = false;
      let settled = false;
      c.once('ready', () => {
        settled = true;
        resolve(new GuestSsh(c));
      });
      c.on('error', (e) => {
        if (settled) return;
        settled = true;
        c.end();
        reject(mismatch ? new HostKeyMismatch(`the SSH server on 127.0.0.1:${opts.port} presented a host key that is not the one pinned for this image: refusing to connect`) : e);
      });
      c.on('close', () => {
        if (settled) return;
        settled = true;
        reject(new Error('connection closed before the handshake finished'));
      });
      c.connect({
        host: '127.0.0.1',
        port: opts.port,
        username: 'root',
        privateKey: key,
        readyTimeout: timeoutMs,
        keepaliveInterval: 5000,
        keepaliveCountMax: 6,
        hostVerifier: (presented: Buffer) => {
          const ok = hostKeyMatches(presented, opts.hostKeyBlob);
          if (!ok) mismatch = true;
          return ok;
        },
      });
    });
  }

  /** Connect, retrying with backoff (100 ms doubling to 1 s) until the deadline. */
  static async connect(opts: ConnectOptions): Promise<GuestSsh> {
    const key = readFileSync(opts.privateKey);
    let delay = 100;
    let lastErr: unknown;
    const failures: string[] = [];
    const t0 = Date.now();
    while (Date.now() < opts.deadlineMs) {
      if (!opts.isAlive()) throw new InfraError('QEMU exited while we were connecting over SSH');
      try {
        const ssh = await GuestSsh.attempt(opts, key, Math.max(1000, Math.min(10_000, opts.deadlineMs - Date.now())));
        ssh.attempts = [...failures, `connected after ${Date.now() - t0} ms`];
        return ssh;
      } catch (e) {
        if (e instanceof HostKeyMismatch) throw e;
        lastErr = e;
        failures.push(`${Date.now() - t0} ms: ${e instanceof Error ? e.message : String(e)}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
    throw new InfraError(`SSH to 127.0.0.1:${opts.port} did not succeed in ${failures.length} attempts: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`, { details: failures.slice(-10) });
  }

  /** Why the connection ended, if it did. */
  get lost(): Error | null {
    return this.lost_;
  }

  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      if (this.lost_ !== null) {
        reject(new KernelFailure('ssh-lost', `SSH connection lost before \`${cmd}\` (${this.lost_.message})`));
        return;
      }
      let stream: ClientChannel | null = null;
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | null = null;
      let settled = false;
      const settle = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err !== null) reject(err);
        else resolve({ code, signal, stdout, stderr });
      };
      // Every command carries a tag in its environment, so a timed-out one can be
      // found and killed: OpenSSH refuses "signal" requests for root sessions
      // ("session signalling requires privilege separation").
      const tag = randomBytes(8).toString('hex');
      let timedOut = false;
      const timer = setTimeout(() => {
        // The kill below ends the command with SIGKILL: that is still a timeout.
        timedOut = true;
        try {
          stream?.signal('KILL');
        } catch {
          /* channel already gone */
        }
        void this.killTagged(tag).finally(() => {
          stream?.close();
          settle(new KernelFailure('command-timeout', `\`${cmd}\` did not finish within ${Math.round(timeoutMs / 1000)} s`, {
            details: [...last(stdout).map((l) => `stdout: ${l}`), ...last(stderr, 5).map((l) => `stderr: ${l}`)],
          }));
        });
      }, timeoutMs);
      this.client.exec(cmd, { env: { [TAG_VAR]: tag } }, (err, s) => {
        if (err) {
          settle(new KernelFailure('ssh-lost', `cannot start \`${cmd}\`: ${err.message}`));
          return;
        }
        stream = s;
        s.on('exit', (c: number | null, sig?: string) => {
          code = c;
          // ssh2 reports 'SIGTERM' (OpenSSH sends 'TERM'): always the SIG-prefixed name
          signal = sig === undefined || sig === null ? null : sig.startsWith('SIG') ? sig : `SIG${sig}`;
        });
        s.on('data', (d: Buffer) => {
          const t = d.toString();
          stdout += t;
          opts.onStdout?.(t);
        });
        s.stderr.on('data', (d: Buffer) => {
          const t = d.toString();
          stderr += t;
          opts.onStderr?.(t);
        });
        s.on('close', () => {
          if (timedOut) return;
          if (code === null && signal === null) {
            settle(new KernelFailure('ssh-lost', `SSH connection lost during \`${cmd}\`${this.lost_ ? ` (${this.lost_.message})` : ''}`, {
              details: last(stdout).map((l) => `stdout: ${l}`),
            }));
            return;
          }
          settle(null);
        });
        if (opts.input !== undefined) s.end(opts.input);
      });
    });
  }

  /** SIGKILL every guest process whose environment carries `tag` (a timed-out command and its children). */
  private killTagged(tag: string): Promise<void> {
    const script = `for e in /proc/[0-9]*/environ; do if grep -qzx '${TAG_VAR}=${tag}' "$e" 2>/dev/null; then p=\${e#/proc/}; kill -KILL \${p%/environ} 2>/dev/null; fi; done; true`;
    return new Promise((resolve) => {
      const done = setTimeout(resolve, 5000);
      if (this.lost_ !== null) return resolve();
      this.client.exec(script, (err, s) => {
        if (err) return resolve();
        s.on('close', () => {
          clearTimeout(done);
          resolve();
        });
        s.resume();
        s.stderr.resume();
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => this.client.sftp((e, s) => (e ? reject(e) : resolve(s))));
  }

  /** Copy a local file or directory (recursively, modes kept) to `remote`. */
  async push(local: string, remote: string): Promise<void> {
    const sftp = await this.sftp();
    const put = (l: string, r: string, mode: number): Promise<void> =>
      new Promise((res, rej) => sftp.fastPut(l, r, { mode }, (e) => (e ? rej(new Error(`${l} -> ${r}: ${e.message}`)) : res())));
    const mkdir = (r: string, mode: number): Promise<void> =>
      new Promise((res, rej) =>
        sftp.mkdir(r, { mode }, (e) => {
          if (!e) return res();
          // already there is fine, as long as it is a directory
          sftp.stat(r, (e2, st) => (e2 || !st.isDirectory() ? rej(new Error(`mkdir ${r}: ${e.message}`)) : res()));
        }),
      );
    const walk = async (l: string, r: string): Promise<void> => {
      const st = statSync(l);
      if (st.isDirectory()) {
        await mkdir(r, st.mode & 0o7777);
        for (const e of readdirSync(l)) await walk(join(l, e), posix.join(r, e));
      } else {
        await put(l, r, st.mode & 0o7777);
      }
    };
    try {
      await walk(local, remote);
    } finally {
      sftp.end();
    }
  }

  /** Copy a remote file or directory (recursively) to `local`. */
  async pull(remote: string, local: string): Promise<void> {
    const sftp = await this.sftp();
    const stat = (r: string): Promise<Stats> => new Promise((res, rej) => sftp.stat(r, (e, s) => (e ? rej(new Error(`${r}: ${e.message}`)) : res(s))));
    const list = (r: string): Promise<string[]> =>
      new Promise((res, rej) => sftp.readdir(r, (e, l) => (e ? rej(new Error(`${r}: ${e.message}`)) : res(l.map((x) => x.filename)))));
    const get = (r: string, l: string): Promise<void> => new Promise((res, rej) => sftp.fastGet(r, l, (e) => (e ? rej(new Error(`${r} -> ${l}: ${e.message}`)) : res())));
    const walk = async (r: string, l: string): Promise<void> => {
      if ((await stat(r)).isDirectory()) {
        mkdirSync(l, { recursive: true });
        for (const e of await list(r)) await walk(posix.join(r, e), join(l, e));
      } else {
        await get(r, l);
      }
    };
    try {
      await walk(remote, local);
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.client.end();
  }
}
