// `uringlet vm --kernel stock|uringlet|PATH [options] [-- CMD...]`: boot a
// kernel with the guest image; run CMD over SSH (its exit code becomes ours)
// or, without CMD, open an interactive shell with the system ssh client.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildImage } from '../lib/image.ts';
import { resolveKernel } from '../lib/kernels.ts';
import { bootVm, withVm, type BootOptions, type BootTimings, type Vm } from '../lib/vm.ts';

const usage = `usage: uringlet vm --kernel stock|uringlet|PATH [--variant default|debug] [--vcpus N] [--mem MiB]
                   [--disk MiB]... [--append ARG]... [--put LOCAL[:REMOTE]]... [--timeout SEC] [--keep]
                   [--gdb PORT] [-- CMD...]
       uringlet vm --kernel ... --bench N      boot N times, print the boot time breakdown (median)
  --put copies a file or directory into the guest before CMD runs (default: /root/<name>),
  e.g. a reproducer built on the host.`;

/** Pure: a --put argument, LOCAL or LOCAL:REMOTE (REMOTE absolute; default /root/<basename>). */
export function parsePut(arg: string): { local: string; remote: string } {
  const i = arg.lastIndexOf(':');
  const local = i > 0 ? arg.slice(0, i) : arg;
  const remote = i > 0 ? arg.slice(i + 1) : `/root/${basename(local)}`;
  if (local === '' || basename(local) === '') throw new UserError(`--put needs a local file, got '${arg}'`, { details: [usage] });
  if (!remote.startsWith('/')) throw new UserError(`--put: the guest path must be absolute, got '${remote}'`, { details: [usage] });
  if (!existsSync(local)) throw new UserError(`--put: ${local} does not exist`);
  return { local, remote };
}

function num(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${what} must be a positive integer, not '${v}'`, { details: [usage] });
  return n;
}

/** The system ssh client with this image's key and pinned host key (no prompts, no ~/.ssh). */
function interactive(vm: Vm): number {
  const img = vm.image;
  const r = spawnSync('ssh', [
    '-p', String(vm.port), '-i', img.clientKey, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${img.knownHosts}`, '-o', `HostKeyAlias=${img.hostKeyAlias}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'LogLevel=ERROR', 'root@127.0.0.1',
  ], { stdio: 'inherit' });
  return r.status ?? 255;
}

/** Boot `n` times in a row; print each breakdown and the medians. */
async function benchBoots(opts: BootOptions, n: number): Promise<number> {
  const keys = ['qemuToKernelMs', 'kernelToInitMs', 'initToSshdMs', 'sshdToSshMs', 'toSshMs'] as const;
  const rows: BootTimings[] = [];
  for (let i = 0; i < n; i++) {
    const vm = await bootVm(opts);
    rows.push(vm.bootTimings);
    await vm.shutdown();
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? (s[(s.length - 1) / 2] ?? 0) : Math.round(((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2);
  };
  const fmt = (r: Record<string, number | null>): string => keys.map((k) => String(r[k] ?? '-').padStart(11)).join('');
  process.stdout.write(`${'boot'.padEnd(8)}${['qemu->krn', 'krn->init', 'init->sshd', 'sshd->ssh', 'total'].map((h) => h.padStart(11)).join('')}  (ms)\n`);
  rows.forEach((r, i) => process.stdout.write(`${String(i + 1).padEnd(8)}${fmt({ ...r })}\n`));
  const med = Object.fromEntries(keys.map((k) => [k, median(rows.map((r) => r[k] ?? 0))]));
  process.stdout.write(`${'median'.padEnd(8)}${fmt(med)}\n`);
  return 0;
}

const command: Command = {
  summary: 'boot a kernel in QEMU and run a command over SSH (or open a shell)',
  async run(argv) {
    const dd = argv.indexOf('--');
    const own = dd >= 0 ? argv.slice(0, dd) : argv;
    const guestCmd = dd >= 0 ? argv.slice(dd + 1) : [];
    const parsed = parseCommandArgs(
      {
        args: own,
        options: {
          kernel: { type: 'string', default: 'stock' },
          variant: { type: 'string', default: 'default' },
          vcpus: { type: 'string' },
          mem: { type: 'string' },
          disk: { type: 'string', multiple: true },
          append: { type: 'string', multiple: true },
          put: { type: 'string', multiple: true },
          timeout: { type: 'string' },
          keep: { type: 'boolean', default: false },
          gdb: { type: 'string' },
          bench: { type: 'string' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      },
      usage,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    if (values.variant !== 'default' && values.variant !== 'debug') throw new UserError('--variant must be default or debug', { details: [usage] });
    // checked before the kernel and the image are built
    const puts = (values.put ?? []).map(parsePut);
    const { bzImage } = await resolveKernel(values.kernel ?? 'stock', values.variant);
    const image = await buildImage();
    const dataDisks = (values.disk ?? []).map((d, i) => ({ name: `data${i}`, sizeMiB: num(d, '--disk') ?? 0 }));
    const vcpus = num(values.vcpus, '--vcpus');
    const memMiB = num(values.mem, '--mem');
    const timeout = num(values.timeout, '--timeout');
    const gdbPort = num(values.gdb, '--gdb');
    const opts: BootOptions = {
      kernel: bzImage, image, dataDisks, keepRunDir: values.keep ?? false, debugKernel: values.variant === 'debug',
      ...(vcpus !== undefined ? { vcpus } : {}),
      ...(memMiB !== undefined ? { memMiB } : {}),
      ...(values.append ? { cmdline: values.append } : {}),
      ...(gdbPort !== undefined ? { gdbPort } : {}),
    };
    const bench = num(values.bench, '--bench');
    if (bench !== undefined) return benchBoots(opts, bench);
    if (gdbPort !== undefined) process.stderr.write(`gdb: gdb -ex 'target remote 127.0.0.1:${gdbPort}' <build dir>/vmlinux\n`);
    return withVm(
      opts,
      async (vm) => {
        for (const p of puts) await vm.push(p.local, p.remote);
        if (guestCmd.length === 0) return interactive(vm);
        // One argument is taken as a shell command line; several are joined like ssh does.
        const r = await vm.exec(guestCmd.join(' '), {
          onStdout: (t) => process.stdout.write(t),
          onStderr: (t) => process.stderr.write(t),
          ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
        });
        vm.checkConsole();
        if (r.code !== null) return r.code;
        const signo = r.signal !== null ? (constants.signals as Record<string, number>)[r.signal] : undefined;
        return 128 + (signo ?? 127);
      },
    );
  },
};
export default command;
