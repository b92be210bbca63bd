// The guest test suite (tests/guest/*.c): compiled on the host against the
// patched kernel's exported uapi headers, pushed over SSH, run, TAP parsed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError } from './errors.ts';
import { paths, cacheRoot } from './paths.ts';
import { run, runOk } from './proc.ts';
import { ensureHost } from './host.ts';
import { parseTap, type TapResult } from './tap.ts';
import type { ExecResult } from './ssh.ts';

/** What the suite needs from a VM (vm.ts's Vm has it). */
export interface GuestExec {
  exec(cmd: string, opts?: { timeoutMs?: number }): Promise<ExecResult>;
  push(local: string, remote: string): Promise<void>;
}

const srcDir = (): string => join(paths.tests(), 'guest');

/** The fast functional set: the guest test groups that take seconds under TCG (iterate's default, patches check --boot's). */
export const fastGuestTests = ['setup', 'nops', 'never-blocks', 'links', 'cancel', 'fork', 'threads', 'exit', 'exec'];

/**
 * uringlet_uapi.h: the flag's value as the patched headers define it, so
 * that no test hard-codes it. 0 when the headers do not have it.
 */
export async function uapiHeader(headersDir: string): Promise<string> {
  const r = await run('cpp', ['-P', `-I${headersDir}`, '-'], { input: '#include <linux/io_uring.h>\nIORING_SETUP_URINGLET\n' });
  if (r.exitCode !== 0) throw new InfraError(`cannot preprocess ${headersDir}/linux/io_uring.h`, { details: r.stderr.split('\n').slice(0, 5) });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const value = last.trim() === 'IORING_SETUP_URINGLET' ? '0' : last.trim();
  return `/* generated from ${headersDir}/linux/io_uring.h */\n#define IORING_SETUP_URINGLET_VALUE ${value}\n`;
}

/** Build every tests/guest/*.c; cached by sources + header. Returns the binaries' directory. */
export async function buildGuestTests(headersDir: string): Promise<string> {
  const header = await uapiHeader(headersDir);
  const sources = readdirSync(srcDir()).filter((f) => f.endsWith('.c')).sort();
  const h = createHash('sha256').update(header);
  for (const s of sources) h.update(readFileSync(join(srcDir(), s)));
  const out = join(cacheRoot(), 'guest-tests', h.digest('hex').slice(0, 16));
  if (sources.every((s) => existsSync(join(out, s.replace(/\.c$/, ''))))) return out;
  await ensureHost('guest-programs');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'uringlet_uapi.h'), header);
  for (const s of sources) {
    await runOk('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-Wno-unused-result', `-I${out}`, '-o', join(out, s.replace(/\.c$/, '')), join(srcDir(), s), '-luring', '-lpthread']);
  }
  return out;
}

export interface GuestTestRun {
  program: string;
  tap: TapResult;
  output: string;
  exitCode: number | null;
}

/** Push the binaries and run each program (optionally one test group), TAP parsed. */
export async function runGuestTests(vm: GuestExec, binDir: string, opts: { only?: string; timeoutMs?: number } = {}): Promise<GuestTestRun[]> {
  await vm.exec('mkdir -p /root/guest-tests', { timeoutMs: 10000 });
  const programs = readdirSync(binDir).filter((f) => !f.includes('.'));
  const runs: GuestTestRun[] = [];
  for (const p of programs) {
    await vm.push(join(binDir, p), `/root/guest-tests/${p}`);
    const r = await vm.exec(`cd /tmp && /root/guest-tests/${p}${opts.only ? ` ${opts.only}` : ''}`, { timeoutMs: opts.timeoutMs ?? 180000 });
    runs.push({ program: p, tap: parseTap(r.stdout), output: r.stdout + r.stderr, exitCode: r.code });
  }
  return runs;
}
