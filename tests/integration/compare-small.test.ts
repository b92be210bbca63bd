// A small real comparison: both kernels built from the cache (base + patches/),
// booted in QEMU, the RFC workload at three depths and the submit-latency
// probe, 3 runs on one boot per kernel. The uringlet image is given as a copy
// (--uringlet-kernel, as for a prototype), so the run boots that file. The
// first attempt is interrupted by an injected infrastructure error before the
// uringlet boot and continued with --resume. Checks the run directory, the
// report's contents and the exit code. Needs the uringlet series in patches/.
import test from 'ava';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCompare, type Platform } from '../../scripts/lib/compare-run.ts';
import { InfraError, UserError } from '../../scripts/lib/errors.ts';
import { buildKernel } from '../../scripts/lib/kbuild.ts';
import { realPlatform } from '../../scripts/lib/compare-platform.ts';
import { cacheRoot, paths } from '../../scripts/lib/paths.ts';
import type { Summary } from '../../scripts/lib/results.ts';
import { loadPerfRuns } from '../../scripts/lib/perf.ts';

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test.serial('compare: a small real stock-vs-uringlet run produces a complete, honest report', async (t) => {
  const patches = existsSync(paths.patches()) ? readdirSync(paths.patches()).filter((f) => f.endsWith('.patch')) : [];
  if (patches.length === 0) {
    t.fail(`patches/ (${paths.patches()}) has no .patch files: the comparison needs the uringlet series to build the patched kernel`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'compare-it-'));
  const given = join(root, 'uringlet-bzImage');
  copyFileSync((await buildKernel({ kernel: 'uringlet', variant: 'default' })).bzImage, given);
  const base = {
    profile: 'quick',
    workloads: ['rfc-xfs-randwrite', 'submit-latency'],
    boots: 1,
    runs: 3,
    runtimeSec: 2,
    rampSec: 0,
    tests: false,
    perf: true,
    resultsRoot: root,
    command: 'integration test: compare-small',
  };
  const opts = { ...base, uringletKernel: given };
  // First attempt: the host "fails" before the uringlet boot (an infrastructure
  // error injected at the platform boundary). The finished stock boot must survive.
  const real = await realPlatform();
  const failing: Platform = {
    ...real,
    withGuest: (spec, fn) => (spec.arm === 'uringlet' ? Promise.reject(new InfraError('injected: QEMU would not start')) : real.withGuest(spec, fn)),
  };
  await t.throwsAsync(runCompare(opts, failing), { instanceOf: InfraError, message: /injected/ });
  const partial = readdirSync(root).filter((d) => d.endsWith('.partial'));
  t.is(partial.length, 1, 'the interrupted run stays as <id>.partial');
  const id = partial[0]!.replace(/\.partial$/, '');
  const stockBoot = readFileSync(join(root, partial[0]!, 'boots', 'default-stock-0.json'), 'utf8');

  // --resume: only the uringlet boot runs; the stock boot file is reused as is.
  await t.throwsAsync(runCompare({ ...opts, resume: id }, failing), { instanceOf: UserError, message: /drop --uringlet-kernel/ });
  const outcome = await runCompare({ ...base, resume: id }, await realPlatform());
  t.is(readFileSync(join(outcome.dir, 'boots', 'default-stock-0.json'), 'utf8'), stockBoot);
  t.is(outcome.dir, join(root, id));
  const s = JSON.parse(readFileSync(join(outcome.dir, 'summary.json'), 'utf8')) as Summary;
  t.is(outcome.exitCode, s.exitCode);
  t.true(s.complete);
  t.deepEqual(s.kernelFailures, [], 'no kernel failure during a small comparison');
  t.deepEqual(s.analysis.failures, [], 'every benchmark run produced numbers');
  // Only one stock boot: no A/A floor, so no verdict is possible and nothing may fail the run.
  t.is(s.exitCode, 0, s.exitReasons.join('; '));
  t.true(s.analysis.comparisons.filter((c) => c.primary).every((c) => c.verdict === 'insufficient'));
  t.true(s.exitReasons.some((r) => /4 of 4 benchmark points without a verdict \(no A\/A noise floor/.test(r)), s.exitReasons.join('; '));
  t.is(s.host.guestFio, 'fio-3.33');
  t.regex(s.host.accelerator ?? '', /^(kvm|tcg)$/);

  // 3 fio points + 1 probe, 3 runs each, on both kernels.
  for (const key of ['rfc-xfs-randwrite@iodepth=1', 'rfc-xfs-randwrite@iodepth=8', 'rfc-xfs-randwrite@iodepth=32']) {
    const c = s.analysis.comparisons.find((x) => x.point === key && x.metric === 'iops')!;
    t.is(c.stock.n, 3, key);
    t.is(c.uringlet.n, 3, key);
    t.true(c.stock.mean > 100 && c.uringlet.mean > 100, `${key}: ${c.stock.mean} / ${c.uringlet.mean} IOPS`);
  }
  // The host's side of each fio run: how long the vCPU threads waited for a host CPU.
  if (existsSync(`/proc/self/task/${process.pid}/schedstat`)) {
    const wait = s.analysis.comparisons.find((x) => x.point === 'rfc-xfs-randwrite@iodepth=1' && x.metric === 'host_vcpu_wait_pct');
    t.truthy(wait, 'host_vcpu_wait_pct is reported');
    t.is(wait?.stock.n, 3);
    t.is(wait?.uringlet.n, 3);
    t.true((wait?.stock.mean ?? -1) >= 0 && (wait?.uringlet.mean ?? 101) <= 100, `${wait?.stock.mean} / ${wait?.uringlet.mean} %`);
  } else {
    t.log('this host kernel has no schedstat (CONFIG_SCHED_INFO): host_vcpu_wait_pct is not measured');
  }
  // The probe measured the headline: stock blocks ~200 ms in enter, uringlet returns at once.
  const enter = s.analysis.comparisons.find((x) => x.point === 'submit-latency' && x.metric === 'iovec_fault_enter_us_p50')!;
  t.true(enter.stock.median > 150_000, `stock enter ${enter.stock.median} µs`);
  t.true(enter.uringlet.median < 50_000, `uringlet enter ${enter.uringlet.median} µs`);
  t.is(s.rfc.rows.filter((r) => r.ourRatio !== undefined).length, 3);

  const md = readFileSync(join(outcome.dir, 'report.md'), 'utf8');
  t.regex(md, /\| iodepth \| stock ±%stddev \| %change \| uringlet ±%stddev \|/);
  t.regex(md, /## Against the 2022 RFC/);
  t.regex(md, /no A\/A|Noise floor/);
  const html = readFileSync(join(outcome.dir, 'report.html'), 'utf8');
  t.true((html.match(/<svg /g) ?? []).length >= 3);
  for (const f of ['plan.json', 'host.json', 'build.json', 'commands.txt', 'boots/default-stock-0.json', 'boots/default-uringlet-0.json', 'logs/default-stock-0.console.log']) {
    t.true(existsSync(join(outcome.dir, f)), f);
  }
  const raws = readdirSync(join(outcome.dir, 'raw', 'default-uringlet-0'));
  t.is(raws.filter((f) => f.endsWith('.fio.json')).length, 9);
  t.regex(readFileSync(join(outcome.dir, 'commands.txt'), 'utf8'), /io_uring_uringlet_force/);
  // --perf: one profiled run per fio point and boot, beside the measured ones, not counted in them.
  const perfRuns = loadPerfRuns(outcome.dir);
  t.is(perfRuns.length, 6, perfRuns.map((r) => `${r.arm} ${r.point}`).join(', '));
  for (const r of perfRuns) {
    t.true(r.ios > 100 && r.profile.samples > 100 && r.profile.event === 'cpu-clock', `${r.arm} ${r.point}: ${r.ios} I/Os, ${r.profile.samples} samples`);
  }
  // Who runs the writes: fio itself on stock, io-wq workers on uringlet (the loop issues them).
  const writeShare = (arm: string, comm: string): number =>
    perfRuns
      .filter((r) => r.arm === arm)
      .flatMap((r) => r.profile.entries)
      .filter((e) => e.comm === comm && /^(iomap_|xfs_file_buffered_write|xfs_buffered_write)/.test(e.symbol))
      .reduce((x, e) => x + e.pct, 0);
  t.true(writeShare('stock', 'fio') > 5 * writeShare('stock', 'iou-wrk-N'), `stock: fio ${writeShare('stock', 'fio')} %, workers ${writeShare('stock', 'iou-wrk-N')} %`);
  t.true(writeShare('uringlet', 'iou-wrk-N') > 5 * writeShare('uringlet', 'fio'), `uringlet: workers ${writeShare('uringlet', 'iou-wrk-N')} %, fio ${writeShare('uringlet', 'fio')} %`);
  t.regex(readFileSync(join(outcome.dir, 'perf.md'), 'utf8'), /## rfc-xfs-randwrite@iodepth=32 \(default\)[\s\S]*\| \*\*guest CPU per I\/O\*\* \| \*\*\d/);
  // The given image is what booted, recorded with its hash.
  const uringletMeta = s.kernels.find((k) => k.arm === 'uringlet')!;
  t.is(uringletMeta.bzImage, given);
  t.deepEqual(uringletMeta.build, { given: true, sha256: sha256(given) });
  t.regex(md, /given with --uringlet-kernel/);
});

test.serial('compare --uringlet-kernel: no resume once the given image changed; refused with functional tests', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'compare-given-'));
  const given = join(root, 'bzImage');
  writeFileSync(given, 'stands for a bzImage; never booted here\n');
  const opts = { profile: 'rfc-sweep', workloads: ['rfc-xfs-randwrite'], boots: 1, runs: 1, runtimeSec: 1, rampSec: 0, resultsRoot: root, command: 'integration test: given kernel' };
  const real = await realPlatform();
  const noBoot: Platform = { ...real, accelerator: () => Promise.resolve('tcg'), withGuest: () => Promise.reject(new InfraError('injected: no boot')) };
  await t.throwsAsync(runCompare({ ...opts, uringletKernel: given }, noBoot), { instanceOf: InfraError, message: /injected/ });
  const partial = readdirSync(root).filter((d) => d.endsWith('.partial'));
  t.is(partial.length, 1);
  t.false(existsSync(join(cacheRoot(), 'compare', `${partial[0]!.replace(/\.partial$/, '')}-data.raw`)), 'the interrupted run removed its data disk');
  const plan = JSON.parse(readFileSync(join(root, partial[0]!, 'plan.json'), 'utf8')) as { uringletKernel?: { path: string; sha256: string } };
  t.deepEqual(plan.uringletKernel, { path: given, sha256: sha256(given) });
  writeFileSync(given, 'another build\n');
  await t.throwsAsync(runCompare({ ...opts, resume: partial[0]!.replace(/\.partial$/, '') }, noBoot), { instanceOf: UserError, message: /gone or changed since/ });
  // Every kernel booted is pinned by its hash; a stock kernel rebuilt since is refused too.
  const planPath = join(root, partial[0]!, 'plan.json');
  const pinned = JSON.parse(readFileSync(planPath, 'utf8')) as { kernelSha256?: Record<string, string> };
  t.is(pinned.kernelSha256?.['uringlet/default'], plan.uringletKernel?.sha256, 'the copy booted is the given file');
  t.regex(pinned.kernelSha256?.['stock/default'] ?? '', /^[0-9a-f]{64}$/);
  writeFileSync(given, 'stands for a bzImage; never booted here\n');
  writeFileSync(planPath, JSON.stringify({ ...pinned, kernelSha256: { ...pinned.kernelSha256, 'stock/default': '0'.repeat(64) } }));
  await t.throwsAsync(runCompare({ ...opts, resume: partial[0]!.replace(/\.partial$/, '') }, noBoot), {
    instanceOf: UserError,
    message: /cannot be resumed: the stock\/default kernel changed/,
  });
  t.deepEqual(readdirSync(join(cacheRoot(), 'compare')).filter((f) => f.startsWith(partial[0]!.replace(/\.partial$/, ''))), [], 'no boot copy or data disk left behind');
  // quick runs the guest suite, compiled against the series' headers: refused before a run directory exists
  await t.throwsAsync(runCompare({ ...opts, profile: 'quick', uringletKernel: given }, noBoot), { instanceOf: UserError, message: /--no-tests/ });
  t.is(readdirSync(root).filter((d) => d.startsWith('20')).length, 1, 'no run directory for the refused run');
});
