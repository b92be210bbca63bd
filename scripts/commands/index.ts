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
  'peer-suite': lazy("run liburing's own tests on stock and on uringlet (forced); fail where uringlet breaks one", () => import('./peer-suite.ts')),
  iterate: lazy('rebuild the uringlet kernel incrementally, boot it, run the chosen guest tests, print the result', () => import('./iterate.ts')),
  patches: lazy('series hygiene: refresh patches/ from the uringlet tree, check each patch, export vN for mailing', () => import('./patches.ts')),
  trend: lazy("compare tonight's run with last night's (per metric, with spread); history of many runs", () => import('./trend.ts')),
  kcidb: lazy('export a results directory as KernelCI KCIDB JSON (schema 4.4) for kcidb-submit', () => import('./kcidb.ts')),
  compare: lazy('run tests and benchmarks on stock and uringlet, report honestly (results/<run-id>/)', () => import('./compare.ts')),
};
