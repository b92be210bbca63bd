// The command registry. Each command is a small module in this directory;
// add a line here to expose a new one.
import type { Command } from './types.ts';

function lazy(summary: string, load: () => Promise<{ default: Command }>): Command {
  return { summary, run: async (argv) => (await load()).default.run(argv) };
}

export const commands: Record<string, Command> = {
  doctor: lazy('check (and as root, install) host tools; report disk and KVM', () => import('./doctor.ts')),
  image: lazy('build (or show the cached) guest image', () => import('./image.ts')),
  vm: lazy('boot a kernel and run a command over SSH (or open a shell)', () => import('./vm.ts')),
  'build-kernel': lazy('build stock and patched kernels from the 6.1 base and patches/', () => import('./build-kernel.ts')),
  'guest-test': lazy('boot a kernel and run the guest test suite (TAP) over SSH', () => import('./guest-test.ts')),
  compare: lazy('run tests and benchmarks on stock and uringlet, report honestly (results/<run-id>/)', () => import('./compare.ts')),
};
