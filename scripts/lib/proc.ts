// Running host commands: output to a log file, a typed error naming the
// command and the tail of its log when it fails.
import { execa, type Options } from 'execa';
import { InfraError } from './errors.ts';
import { LogFile } from './log.ts';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Append stdout+stderr here instead of returning them. */
  log?: LogFile;
  /** Called with each output line (progress). */
  onLine?: (line: string) => void;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run a command; never throws for a non-zero exit (the caller decides). */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const execOpts: Options = {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    reject: false,
    all: true,
    timeout: opts.timeoutMs,
    input: opts.input,
    stripFinalNewline: false,
  };
  opts.log?.write(`$ ${[cmd, ...args].join(' ')}\n`);
  const child = execa(cmd, args, execOpts);
  if (opts.log !== undefined || opts.onLine !== undefined) {
    let pending = '';
    const onData = (chunk: Buffer | string): void => {
      const text = chunk.toString();
      opts.log?.write(text);
      if (opts.onLine !== undefined) {
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) opts.onLine(l);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }
  const r = await child;
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new InfraError(`${cmd}: command not found (run \`uringlet doctor\`)`);
  }
  return {
    exitCode: typeof r.exitCode === 'number' ? r.exitCode : 1,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
  };
}

/** Run and throw an InfraError (or the error made by `fail`) on a non-zero exit. */
export async function runOk(
  cmd: string,
  args: string[],
  opts: RunOptions & { fail?: (r: RunResult) => Error } = {},
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.exitCode !== 0) {
    if (opts.fail !== undefined) throw opts.fail(r);
    const tail = (opts.log?.tail(20) ?? (r.stderr || r.stdout).trim().split('\n').slice(-20));
    throw new InfraError(`\`${[cmd, ...args].join(' ')}\` failed with exit code ${r.exitCode}`, {
      details: tail,
      ...(opts.log !== undefined ? { logPath: opts.log.path } : {}),
    });
  }
  return r;
}
