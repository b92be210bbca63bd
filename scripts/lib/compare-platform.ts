// Adapter from the comparison runner's Platform to the modules other
// engineers own: kernel builds (kbuild.ts), the guest image (image.ts), VMs
// (vm.ts) and the functional suites (guest-tests.ts, liburing-suite.ts).
// Kept thin on purpose; a missing suite is a loud "not run", never a
// silent skip.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { probeAccelerator } from './accel.ts';
import { KernelFailure, UserError } from './errors.ts';
import { log } from './log.ts';
import { buildImage, type GuestImage } from './image.ts';
import { buildKernel, readMetadata, type KernelBuild } from './kbuild.ts';
import type { Variant as KernelVariant } from './kconfig.ts';
import { paths, repoRoot } from './paths.ts';
import { readSeries } from './series.ts';
import { buildGuestTests, runGuestTests } from './guest-tests.ts';
import { withVm, type Vm } from './vm.ts';
import { snapshotVcpus } from './hostsched.ts';
import { buildPeerSuite, flakyEntry, loadSuiteSpec, runPeerSuite, toTap, type PeerStatus } from './liburing-suite.ts';
import type { BuiltKernel, Guest, KernelName, Platform, SuiteRunner } from './compare-run.ts';
import type { TestSuiteResult } from './results.ts';

const knob = '/proc/sys/kernel/io_uring_uringlet_force';

function asVariant(v: string): KernelVariant {
  if (v !== 'default' && v !== 'debug') throw new UserError(`unknown kernel variant '${v}' in the profile (default or debug)`);
  return v;
}

/** A VM as the suites' Guest (exec with seconds, exit code as a shell reports it). */
export function guestOf(vm: Vm): Guest {
  return {
    async exec(cmd, opts) {
      const r = await vm.exec(cmd, { timeoutMs: (opts?.timeoutSec ?? 600) * 1000 });
      // A command killed by a signal has no exit code; report it as 128+n like a shell.
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code ?? 128 };
    },
    put: (local, remote) => vm.push(local, remote),
    vcpuSched: () => (vm.qemuPid === undefined ? null : snapshotVcpus(vm.qemuPid)),
  };
}

/** The guest suite (tests/guest), compiled against the uringlet kernel's uapi headers; run with the force knob off. */
function guestSuite(headersDir: () => string): SuiteRunner {
  return async (g, ctx) => {
    const bin = await buildGuestTests(headersDir());
    // guest-tests.ts speaks vm.ts's exec/push; give it the same guest.
    const vm = {
      exec: async (cmd: string, o?: { timeoutMs?: number }) => {
        const r = await g.exec(cmd, { timeoutSec: Math.ceil((o?.timeoutMs ?? 600_000) / 1000) });
        return { code: r.exitCode, signal: null, stdout: r.stdout, stderr: r.stderr };
      },
      push: (local: string, remote: string) => g.put(local, remote),
    };
    if (ctx.kernel === 'uringlet') await g.exec(`echo 0 > ${knob}`);
    const runs = await runGuestTests(vm, bin);
    if (ctx.kernel === 'uringlet') await g.exec(`echo 1 > ${knob}`);
    const tests: TestSuiteResult['tests'] = [];
    const taps: string[] = [];
    for (const r of runs) {
      taps.push(`# ${r.program} (exit ${r.exitCode ?? 'signal'})\n${r.output}`);
      ctx.log(r.output);
      for (const t of r.tap.tests) {
        tests.push({ name: `${r.program}: ${t.name}`, status: t.ok ? (t.skip ? 'skip' : 'pass') : 'fail', runs: 1, fails: t.ok ? 0 : 1 });
      }
      if (r.tap.planned === null || r.tap.planned !== r.tap.tests.length) {
        tests.push({ name: `${r.program}: TAP plan (${r.tap.tests.length} of ${r.tap.planned ?? '?'} reported)`, status: 'fail', runs: 1, fails: 1 });
      }
    }
    const tapRel = join('tests', `${ctx.variant}-${ctx.arm}-guest.tap`);
    mkdirSync(ctx.outDir, { recursive: true });
    writeFileSync(join(ctx.outDir, `${ctx.variant}-${ctx.arm}-guest.tap`), taps.join('\n'));
    return { suite: 'guest', arm: ctx.arm, variant: ctx.variant, state: 'ran', tests, tap: tapRel };
  };
}

const peerStatus = (s: PeerStatus): 'pass' | 'fail' | 'skip' => (s === 'pass' ? 'pass' : s === 'skip' || s === 'not-run' ? 'skip' : 'fail');

/**
 * liburing's own tests (the peer suite): on uringlet with the force knob.
 * 'quick' runs the subset listed in tests/liburing/suite.json (TCG budget), 'all' every test.
 */
function liburingSuite(which: 'all' | 'quick'): SuiteRunner {
  return async (g, ctx) => {
    const spec = loadSuiteSpec();
    const built = await buildPeerSuite();
    const only = which === 'quick' ? spec.quick : undefined;
    const results = await runPeerSuite(g, built, {
      knob: ctx.kernel === 'uringlet' ? spec.uringletKnob : 0,
      spec,
      ...(only !== undefined ? { only } : {}),
      log: ctx.log,
    });
    const name = `${ctx.variant}-${ctx.arm}-liburing.tap`;
    mkdirSync(ctx.outDir, { recursive: true });
    writeFileSync(join(ctx.outDir, name), toTap(results, `liburing ${built.version} on ${ctx.kernel}/${ctx.variant}${ctx.kernel === 'uringlet' ? `, knob ${spec.uringletKnob}` : ''}`));
    const hung = results.filter((r) => r.status === 'hang');
    if (hung.length > 0) {
      // timeout(1)'s SIGKILL did not end it: a task stuck in the kernel is the kernel's failure
      throw new KernelFailure('hung-task', `liburing ${hung.map((r) => r.name).join(', ')} outlived SIGKILL (a task stuck in the kernel)`, {
        details: [...hung.flatMap((r) => r.tail), `TAP: ${join(ctx.outDir, name)}`],
      });
    }
    return {
      suite: 'liburing',
      arm: ctx.arm,
      variant: ctx.variant,
      state: 'ran',
      tests: results.map((r) => {
        const flaky = flakyEntry(spec, r.name, ctx.variant);
        return { name: r.name, status: peerStatus(r.status), runs: 1, fails: peerStatus(r.status) === 'fail' ? 1 : 0, ...(flaky !== undefined ? { flaky: flaky.reason } : {}) };
      }),
      tap: join('tests', name),
    };
  };
}

export async function realPlatform(opts: { liburing?: 'all' | 'quick' } = {}): Promise<Platform> {
  let image: GuestImage | undefined;
  let builds: Record<KernelName, Record<string, KernelBuild>> | undefined;

  const suites: Platform['suites'] = {
    guest: guestSuite(() => {
      const b = builds?.uringlet['default'] ?? Object.values(builds?.uringlet ?? {})[0];
      if (b === undefined) throw new Error('kernels not built');
      return b.headersDir;
    }),
    liburing: liburingSuite(opts.liburing ?? 'quick'),
  };

  return {
    async prepare(variants, prepOpts = {}) {
      const given = prepOpts.uringletKernel;
      if (given === undefined && readSeries(paths.patches()).patches.length === 0) {
        throw new UserError('patches/ is empty: there is no uringlet kernel to compare against stock', { details: ['put the series (git format-patch files) in patches/'] });
      }
      const out: Record<KernelName, Record<string, BuiltKernel>> = { stock: {}, uringlet: {} };
      builds = { stock: {}, uringlet: {} };
      for (const v of variants) {
        for (const k of ['stock', 'uringlet'] as const) {
          if (k === 'uringlet' && given !== undefined) {
            // A prototype build (or an older one): booted as is, the managed tree is not rebuilt.
            log.info(`uringlet/${v}: the given ${given}, not a build of patches/`);
            out[k][v] = { bzImage: given };
            continue;
          }
          const b = await buildKernel({ kernel: k, variant: asVariant(v) });
          builds[k][v] = b;
          const meta = readMetadata(b) as unknown as Record<string, unknown>;
          out[k][v] = { bzImage: b.bzImage, build: meta };
        }
      }
      image = await buildImage();
      return { kernels: out };
    },

    async withGuest(spec, fn) {
      const runDir = join(paths.runs(), `compare-${process.pid}-${spec.variant}-${spec.arm}-${spec.boot}-${Date.now()}`);
      let consoleSrc = join(runDir, 'console.log');
      try {
        return await withVm(
          {
            kernel: spec.bzImage,
            ...(image !== undefined ? { image } : {}),
            vcpus: spec.vcpus,
            memMiB: spec.memoryMiB,
            dataDisks: [{ name: 'data', sizeMiB: spec.dataDiskMiB, path: spec.dataDisk }],
            ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}),
            runDir,
            debugKernel: spec.variant === 'debug',
          },
          async (vm) => {
            consoleSrc = vm.consoleLogPath;
            const out = await fn(guestOf(vm));
            // A report that did not stop the guest (a WARNING, a lockdep or KASAN report that
            // only killed a kworker) fails the boot as much as a panic would.
            vm.checkConsole();
            return out;
          },
        );
      } finally {
        // vm.ts removes stale run directories at the next boot: keep our copies now.
        mkdirSync(dirname(spec.consoleLog), { recursive: true });
        if (existsSync(consoleSrc)) copyFileSync(consoleSrc, spec.consoleLog);
        if (existsSync(join(runDir, 'qemu.cmdline'))) copyFileSync(join(runDir, 'qemu.cmdline'), spec.consoleLog.replace(/\.console\.log$/, '.qemu.cmdline'));
      }
    },

    async accelerator() {
      const stock = builds?.stock['default'] ?? Object.values(builds?.stock ?? {})[0];
      return (await probeAccelerator(stock !== undefined ? { kernel: stock.bzImage } : {})).accel;
    },

    suites,

    async makeDataDisk(path, mib) {
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, 'w');
      try {
        ftruncateSync(fd, mib * 1024 * 1024);
      } finally {
        closeSync(fd);
      }
    },
  };
}
