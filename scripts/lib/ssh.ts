// SSH to the guest with ssh2: retries while it boots, host key pinned to the
// image's, exec with a timeout (exit code and signal back), SFTP transfers.
import { readFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Client, type SFTPWrapper } from 'ssh2';
import { InfraError, KernelFailure } from './errors.ts';

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export class HostKeyMismatch extends InfraError {}

export class GuestSsh {
  private constructor(private readonly client: Client, private lost: Error | null) {}

  static connect(opts: { port: number; privateKey: string; hostKeyBlob: string; deadlineMs: number; isAlive: () => boolean }): Promise<GuestSsh> {
    const key = readFileSync(opts.privateKey);
    const pinned = Buffer.from(opts.hostKeyBlob, 'base64');
    const attempt = (): Promise<GuestSsh> =>
      new Promise((resolve, reject) => {
        const c = new Client();
        let mismatch = false;
        c.on('ready', () => {
          const s = new GuestSsh(c, null);
          c.on('error', (e) => (s.lost = e));
          c.on('close', () => (s.lost ??= new Error('connection closed')));
          resolve(s);
        });
        c.on('error', (e) => reject(mismatch ? new HostKeyMismatch('guest host key does not match the key pinned for this image: refusing to connect') : e));
        c.connect({
          host: '127.0.0.1',
          port: opts.port,
          username: 'root',
          privateKey: key,
          readyTimeout: 10000,
          keepaliveInterval: 5000,
          keepaliveCountMax: 6,
          hostVerifier: (k: Buffer) => {
            const ok = Buffer.compare(k, pinned) === 0;
            if (!ok) mismatch = true;
            return ok;
          },
        });
      });
    return (async () => {
      let delay = 100;
      let last: unknown;
      while (Date.now() < opts.deadlineMs) {
        if (!opts.isAlive()) throw new InfraError('QEMU exited while waiting for SSH');
        try {
          return await attempt();
        } catch (e) {
          if (e instanceof HostKeyMismatch) throw e;
          last = e;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
      throw new InfraError(`SSH did not come up: ${last instanceof Error ? last.message : String(last)}`);
    })();
  }

  get connectionLost(): Error | null {
    return this.lost;
  }

  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      if (this.lost) return reject(new KernelFailure('ssh-lost', `SSH connection lost before \`${cmd}\``));
      this.client.exec(cmd, (err, stream) => {
        if (err) return reject(new KernelFailure('ssh-lost', `cannot start \`${cmd}\`: ${err.message}`));
        let stdout = '';
        let stderr = '';
        let done = false;
        const timer = opts.timeoutMs
          ? setTimeout(() => {
              if (done) return;
              done = true;
              stream.close();
              reject(new KernelFailure('command-timeout', `\`${cmd}\` did not finish within ${opts.timeoutMs} ms`, { details: stdout.split('\n').slice(-10) }));
            }, opts.timeoutMs)
          : undefined;
        let code: number | null = null;
        let signal: string | null = null;
        stream.on('exit', (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        stream.on('data', (d: Buffer) => {
          const t = d.toString();
          stdout += t;
          opts.onStdout?.(t);
        });
        stream.stderr.on('data', (d: Buffer) => {
          const t = d.toString();
          stderr += t;
          opts.onStderr?.(t);
        });
        stream.on('close', () => {
          if (done) return;
          done = true;
          if (timer) clearTimeout(timer);
          if (code === null && signal === null) {
            reject(new KernelFailure('ssh-lost', `SSH connection lost during \`${cmd}\``, { details: stdout.split('\n').slice(-10) }));
            return;
          }
          resolve({ code, signal, stdout, stderr });
        });
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => this.client.sftp((e, s) => (e ? reject(e) : resolve(s))));
  }

  /** Copy a local file or directory (recursively) to `remote`. */
  async push(local: string, remote: string): Promise<void> {
    const sftp = await this.sftp();
    const put = (l: string, r: string): Promise<void> =>
      new Promise((res, rej) => sftp.fastPut(l, r, { mode: statSync(l).mode & 0o777 }, (e) => (e ? rej(e) : res())));
    const mkdir = (r: string): Promise<void> => new Promise((res) => sftp.mkdir(r, () => res()));
    const walk = async (l: string, r: string): Promise<void> => {
      if (statSync(l).isDirectory()) {
        await mkdir(r);
        for (const e of readdirSync(l)) await walk(join(l, e), posix.join(r, e));
      } else {
        await put(l, r);
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
    const stat = (r: string) => new Promise<import('ssh2').Stats>((res, rej) => sftp.stat(r, (e, s) => (e ? rej(e) : res(s))));
    const list = (r: string) => new Promise<string[]>((res, rej) => sftp.readdir(r, (e, l) => (e ? rej(e) : res(l.map((x) => x.filename)))));
    const get = (r: string, l: string) => new Promise<void>((res, rej) => sftp.fastGet(r, l, (e) => (e ? rej(e) : res())));
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
