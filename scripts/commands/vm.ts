import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Command } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { buildImage } from '../lib/image.ts';
import { resolveKernel } from '../lib/kernels.ts';
import { withVm } from '../lib/vm.ts';

const command: Command = {
  summary: 'boot a kernel in QEMU and run a command over SSH (or open a shell)',
  async run(argv) {
    const dd = argv.indexOf('--');
    const own = dd >= 0 ? argv.slice(0, dd) : argv;
    const guestCmd = dd >= 0 ? argv.slice(dd + 1) : [];
    const { values } = parseArgs({
      args: own,
      options: {
        kernel: { type: 'string', default: 'stock' },
        variant: { type: 'string', default: 'default' },
        vcpus: { type: 'string' },
        mem: { type: 'string' },
        disk: { type: 'string', multiple: true },
        append: { type: 'string', multiple: true },
        timeout: { type: 'string' },
        keep: { type: 'boolean', default: false },
      },
    });
    if (values.variant !== 'default' && values.variant !== 'debug') throw new UserError('--variant must be default or debug');
    const { bzImage } = await resolveKernel(values.kernel ?? 'stock', values.variant);
    const image = await buildImage();
    const dataDisks = (values.disk ?? []).map((d, i) => ({ name: `data${i}`, sizeMiB: Number(d) }));
    return withVm(
      {
        kernel: bzImage, image, dataDisks, keepRunDir: values.keep ?? false,
        ...(values.vcpus ? { vcpus: Number(values.vcpus) } : {}),
        ...(values.mem ? { memMiB: Number(values.mem) } : {}),
        ...(values.append ? { cmdline: values.append } : {}),
      },
      async (vm) => {
        if (guestCmd.length === 0) {
          // Interactive: the system ssh client, pinned host key, this image's key.
          const r = spawnSync('ssh', ['-p', String(vm.port), '-i', image.clientKey, '-o', `UserKnownHostsFile=${image.knownHosts}`,
            '-o', 'StrictHostKeyChecking=yes', '-o', 'HostKeyAlias=[127.0.0.1]:*', 'root@127.0.0.1'], { stdio: 'inherit' });
          return r.status ?? 1;
        }
        const r = await vm.exec(guestCmd.join(' '), {
          onStdout: (t) => process.stdout.write(t),
          onStderr: (t) => process.stderr.write(t),
          ...(values.timeout ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
        });
        vm.checkConsole();
        return r.code ?? 128;
      },
    );
  },
};
export default command;
