// The comparison runner: boots stock and uringlet alternately (stock,
// uringlet, stock, uringlet ...), runs every point of the profile several
// times per boot on freshly made filesystems, runs the functional suites on
// both kernels, and writes results/<run-id>/ (see results.ts). Building and
// booting go through a Platform (compare-platform.ts), so this file is only
// about the order of things and about what is measured.
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { log } from './log.ts';
import { InfraError, KernelFailure, UserError, kernelGoesOn } from './errors.ts';
import { fioProblems, histogramToJson, parseFioOutput, sampleOf, histogramPercentiles, FioParseError } from './fio.ts';
import type { Arm, MetricDef, RunRecord } from './compare.ts';
import { hostInfo, type HostInfo } from './hostinfo.ts';
import { vcpuWaitPercent, type VcpuSchedSnapshot } from './hostsched.ts';
import { guestSchedCommand, guestSchedPerIo, parseGuestSched } from './guestsched.ts';
import { buildSummary, RunDir, newRunId, type BootRecord, type KernelMeta, type Summary, type TestSuiteResult } from './results.ts';
import { renderMarkdown, renderTerminal } from './report.ts';
import { renderHtml } from './report-html.ts';
import {
  buildBenchPrograms,
  loadMatrix,
  loadProfile,
  planPoints,
  runSeconds,
  substitute,
  takesRuntime,
  workloadsDir,
  type Matrix,
  type Point,
  type Profile,
  type Target,
  type Variant,
} from './workloads.ts';
import { cacheRoot, paths } from './paths.ts';
import { loadPerfRuns, parsePerfReport, perfRecordCommand, perfReportCommand, renderPerfMarkdown, type PerfRun } from './perf.ts';

// ---- what the runner needs from the VM layer ------------------------------------------

export interface GuestResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A booted guest. exec() throws KernelFailure when the kernel dies under it. */
export interface Guest {
  exec(cmd: string, opts?: { timeoutSec?: number }): Promise<GuestResult>;
  put(localPath: string, remotePath: string): Promise<void>;
  /** The host's scheduling of the guest's vCPU threads now, when the host can tell. */
  vcpuSched?(): VcpuSchedSnapshot | null;
}

export type KernelName = 'stock' | 'uringlet';

export interface BootSpec {
  arm: Arm;
  boot: number;
  kernel: KernelName;
  variant: string;
  bzImage: string;
  vcpus: number;
  memoryMiB: number;
  /** Raw data disk shared by every boot (re-made with mkfs in each). */
  dataDisk: string;
  dataDiskMiB: number;
  /** Extra guest kernel arguments of the profile (vm.cmdline). */
  cmdline?: string[];
  /** Where the serial console goes. */
  consoleLog: string;
}

export interface BuiltKernel {
  bzImage: string;
  build?: Record<string, unknown>;
}

/** Runs one functional suite in a booted guest. */
export type SuiteRunner = (g: Guest, ctx: { arm: Arm; kernel: KernelName; variant: string; outDir: string; log: (line: string) => void }) => Promise<TestSuiteResult>;

export interface Platform {
  /** Build (or reuse) both kernels for the variants and the guest image. */
  prepare(variants: string[], opts?: { uringletKernel?: string }): Promise<{ kernels: Record<KernelName, Record<string, BuiltKernel>> }>;
  /** Boot, run fn, always shut down. */
  withGuest<T>(spec: BootSpec, fn: (g: Guest) => Promise<T>): Promise<T>;
  /** 'kvm' or 'tcg', as the VM layer decided. */
  accelerator(): Promise<string>;
  /** Functional suites; a missing one is reported as not run. */
  suites: Record<string, SuiteRunner | { missing: string }>;
  /** Creates the shared data disk file. */
  makeDataDisk(path: string, mib: number): Promise<void>;
}

// ---- options and plan -----------------------------------------------------------------

export interface CompareOptions {
  profile: string;
  workloads?: string[];
  boots?: number;
  runs?: number;
  runtimeSec?: number;
  rampSec?: number;
  tests?: boolean;
  resume?: string;
  resultsRoot?: string;
  /** A bzImage for the uringlet arm instead of building the managed tree (benchmarks only). */
  uringletKernel?: string;
  /** One extra run per fio point and boot under perf record (perf.md); not measured. */
  perf?: boolean;
  command: string;
}

/** Saved at the start; --resume continues with exactly this plan. */
interface SavedPlan {
  profile: string;
  workloads?: string[];
  overrides: { boots?: number; runs?: number; runtimeSec?: number; rampSec?: number; tests?: boolean; perf?: boolean };
  /** --uringlet-kernel: the file and its hash, so that --resume boots the same kernel. */
  uringletKernel?: { path: string; sha256: string };
  /** sha256 of each kernel booted ('stock/default': ...), so that --resume refuses a rebuilt one. */
  kernelSha256?: Record<string, string>;
  command: string;
  startedAt: string;
}

export interface BootSlot {
  arm: Arm;
  kernel: KernelName;
  variant: Variant;
  boot: number;
}

/** The boot order: interleaved arms for the compared variant, then one boot per kernel for the others. */
export function bootSlots(profile: Profile): BootSlot[] {
  const out: BootSlot[] = [];
  for (const v of profile.variants) {
    if (v.benchmarks === 'compare') {
      const arms: Arm[] = profile.aa === 'extra' ? ['stock', 'uringlet', 'stock-aa'] : ['stock', 'uringlet'];
      for (let b = 0; b < profile.bootsPerKernel; b++) for (const arm of arms) out.push({ arm, kernel: arm === 'uringlet' ? 'uringlet' : 'stock', variant: v, boot: b });
    } else if (v.benchmarks === 'smoke' || v.tests) {
      for (const arm of ['stock', 'uringlet'] as const) out.push({ arm, kernel: arm, variant: v, boot: 0 });
    }
  }
  return out;
}

/**
 * Pure: why a profile can't run with a given uringlet bzImage, or null. The
 * guest suite is compiled against the uapi headers of the build it goes with,
 * and the other variants (debug) have no given image: benchmarks of the
 * default variant only.
 */
export function kernelOverrideProblem(profile: Profile): string | null {
  const others = profile.variants.filter((v) => v.name !== 'default').map((v) => v.name);
  if (others.length > 0) return `profile '${profile.name}' also boots the ${others.join(', ')} variant; --uringlet-kernel replaces the default variant's uringlet kernel only`;
  if (profile.variants.some((v) => v.tests)) return `--uringlet-kernel runs benchmarks only (the guest suite is compiled against the uapi headers of the series' build): add --no-tests`;
  return null;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function applyOverrides(p: Profile, o: SavedPlan['overrides']): Profile {
  const q: Profile = { ...p, vm: { ...p.vm } };
  if (o.boots !== undefined) q.bootsPerKernel = o.boots;
  if (o.runs !== undefined) q.runsPerBoot = o.runs;
  if (o.runtimeSec !== undefined) q.runtimeSec = o.runtimeSec;
  if (o.rampSec !== undefined) q.rampSec = o.rampSec;
  if (o.tests === false) q.variants = q.variants.map((v) => ({ ...v, tests: false }));
  return q;
}

/**
 * Seconds per boot that are not measurement (boot ~5 s, pushes, two mkfs,
 * file layout) and for the functional suites of a boot, measured under TCG
 * on the 2-core machine (quick profile, 2026-11-24).
 */
const bootOverheadSec = 15;
const suiteBudgetSec = 120;

/** Seconds a --perf run adds per fio point and boot beyond its runtime: perf report under TCG. */
const perfReportSec = 8;

export function estimateSeconds(profile: Profile, points: Point[], opts: { perf?: boolean } = {}): number {
  let s = 0;
  for (const slot of bootSlots(profile)) {
    s += bootOverheadSec;
    const runs = slot.variant.benchmarks === 'compare' ? profile.runsPerBoot : slot.variant.benchmarks === 'smoke' ? 1 : 0;
    const pts = slot.variant.benchmarks === 'smoke' ? firstPoints(points) : points;
    s += pts.reduce((x, p) => x + runSeconds(p, profile), 0) * runs;
    if (opts.perf === true && slot.variant.benchmarks === 'compare') s += pts.filter((p) => p.workload.kind === 'fio').length * (profile.runtimeSec + perfReportSec);
    if (slot.variant.tests && slot.boot === 0 && slot.arm !== 'stock-aa') s += suiteBudgetSec;
  }
  return s;
}

function firstPoints(points: Point[]): Point[] {
  const seen = new Set<string>();
  return points.filter((p) => (seen.has(p.workload.id) ? false : (seen.add(p.workload.id), true)));
}

// ---- progress -------------------------------------------------------------------------

class Progress {
  private readonly start = Date.now();
  private doneEstimate = 0;
  constructor(private readonly totalEstimate: number) {}
  /** Account for finished work worth `estSec` of the estimate. */
  advance(estSec: number): void {
    this.doneEstimate += estSec;
  }
  line(what: string): string {
    const elapsed = (Date.now() - this.start) / 1000;
    const frac = Math.min(1, this.doneEstimate / Math.max(1, this.totalEstimate));
    // Scale the static estimate by how fast this machine has actually been.
    const speed = this.doneEstimate > 30 ? elapsed / this.doneEstimate : 1;
    const left = Math.max(0, (this.totalEstimate - this.doneEstimate) * speed);
    return `${what} — ${(frac * 100).toFixed(0)}% — ETA ${fmtDuration(left)}`;
  }
}

export function fmtDuration(sec: number): string {
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

// ---- guest-side pieces ----------------------------------------------------------------

const guestRoot = '/root/uringlet-bench';
const mountPoint = '/mnt/uringlet-data';
const knob = '/proc/sys/kernel/io_uring_uringlet_force';

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Busy jiffies from the first line of /proc/stat (USER_HZ = 100). */
export function cpuBusyJiffies(statLine: string): number {
  const f = statLine.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
}

interface BootContext {
  run: RunDir;
  slot: BootSlot;
  profile: Profile;
  points: Point[];
  programs: Record<string, string>;
  guest: Guest;
  progress: Progress;
  /** Profile each fio point once more under perf record. */
  perf: boolean;
  /** Every guest command, for commands.txt. */
  record(cmd: string): void;
}

async function sh(ctx: BootContext, cmd: string, timeoutSec = 120): Promise<GuestResult> {
  ctx.record(cmd);
  // Debug kernels (KASAN, lockdep) run everything several times slower.
  return ctx.guest.exec(cmd, { timeoutSec: ctx.slot.variant.name === 'debug' ? timeoutSec * 5 : timeoutSec });
}

async function mustSh(ctx: BootContext, cmd: string, what: string, timeoutSec = 120): Promise<string> {
  const r = await sh(ctx, cmd, timeoutSec);
  if (r.exitCode !== 0) {
    throw new InfraError(`guest: ${what} failed (exit ${r.exitCode})`, { details: [`$ ${cmd}`, ...`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15)] });
  }
  return r.stdout;
}

/** Push programs and job files, check the kernel is the one we think, set the knob. */
async function prepareGuest(ctx: BootContext): Promise<{ facts: Record<string, string>; dataDev: string }> {
  const { guest, slot } = ctx;
  await mustSh(ctx, `mkdir -p ${guestRoot}/bin ${guestRoot}/fio ${mountPoint}`, 'mkdir');
  const put = async (local: string, remote: string) => {
    ctx.record(`# put ${local} -> ${remote}`);
    await guest.put(local, remote);
  };
  for (const [name, path] of Object.entries(ctx.programs)) await put(path, `${guestRoot}/bin/${name}`);
  const jobs = [...new Set(ctx.points.filter((p) => p.workload.kind === 'fio').map((p) => p.workload.job!))];
  for (const j of jobs) await put(join(workloadsDir(), j), `${guestRoot}/fio/${basename(j)}`);
  await mustSh(ctx, `chmod +x ${guestRoot}/bin/*`, 'chmod');

  const facts: Record<string, string> = {};
  const out = await mustSh(ctx, `uname -r; fio --version; nproc; test -e ${knob} && echo knob=yes || echo knob=no`, 'guest facts');
  const [release, fio, nproc, k] = out.trim().split('\n');
  facts['release'] = release ?? '';
  facts['fio'] = fio ?? '';
  facts['nproc'] = nproc ?? '';
  if (!/^fio-/.test(facts['fio'])) throw new InfraError('fio is missing in the guest image', { details: ['the image must contain the Debian package fio', out] });
  if (ctx.perf) {
    const perf = await sh(ctx, 'perf --version');
    if (perf.exitCode !== 0) throw new InfraError('perf is missing in the guest image', { details: ['the image must contain the Debian package linux-perf (vm/image/recipe.json)', perf.stderr.trim()] });
    facts['perf'] = perf.stdout.trim();
  }

  if (slot.kernel === 'uringlet') {
    if (k !== 'knob=yes') {
      throw new UserError(`the uringlet kernel has no ${knob}`, {
        details: ['the comparison selects uringlet with the debug knob (last patch of patches/, not for merge); it is missing from the built kernel'],
      });
    }
    await mustSh(ctx, `echo 1 > ${knob}`, 'setting the uringlet knob');
  } else if (k === 'knob=yes') {
    throw new InfraError(`the ${slot.arm} boot has ${knob}: a uringlet kernel was booted as stock`);
  }
  const mode = (await mustSh(ctx, `${guestRoot}/bin/ring-mode`, 'ring-mode check')).trim();
  const want = slot.kernel === 'uringlet' ? 'uringlet=1' : 'uringlet=0';
  if (mode !== want) {
    throw new KernelFailure('bug', `ring mode is '${mode}', expected '${want}' on ${slot.arm}`, {
      details: [slot.kernel === 'uringlet' ? `${knob}=1 did not make a new ring a uringlet ring (fdinfo has no "Uringlet: 1")` : 'a stock kernel reported a uringlet ring'],
    });
  }
  facts['ringMode'] = mode;

  // The data disk is the virtio disk with exactly the size we made it.
  const want512 = (ctx.profile.vm.dataDiskMiB * 1024 * 1024) / 512;
  const devs = await mustSh(ctx, `for d in /sys/block/vd*; do echo "$(basename $d) $(cat $d/size)"; done`, 'listing disks');
  const dev = devs
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .find(([, size]) => Number(size) === want512)?.[0];
  if (dev === undefined) {
    throw new InfraError(`no ${ctx.profile.vm.dataDiskMiB} MiB data disk in the guest`, { details: ['virtio disks seen (name, 512-byte sectors):', ...devs.trim().split('\n')] });
  }
  return { facts, dataDev: `/dev/${dev}` };
}

async function prepareTarget(ctx: BootContext, target: Target, dataDev: string): Promise<Record<string, string>> {
  if (target === 'null_blk') {
    await mustSh(ctx, 'test -b /dev/nullb0 || modprobe null_blk', 'null_blk (kernel needs CONFIG_BLK_DEV_NULL_BLK)');
    return { DEVICE: '/dev/nullb0', DIR: '/tmp' };
  }
  const mkfs = target === 'xfs' ? `mkfs.xfs -f -q ${dataDev}` : `mkfs.ext4 -F -q ${dataDev}`;
  const r = await sh(ctx, `umount ${mountPoint} 2>/dev/null; command -v mkfs.${target} >/dev/null || exit 127; ${mkfs} && mount ${dataDev} ${mountPoint}`, 300);
  if (r.exitCode === 127) throw new InfraError(`mkfs.${target} is missing in the guest image`, { details: [`the image needs the Debian package ${target === 'xfs' ? 'xfsprogs' : 'e2fsprogs'}`] });
  if (r.exitCode !== 0) throw new InfraError(`making ${target} on ${dataDev} failed`, { details: `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-10) });
  return { DEVICE: dataDev, DIR: mountPoint };
}

const dropCaches = 'sync; echo 3 > /proc/sys/vm/drop_caches; ';

function fileKey(p: Point, rep: number): string {
  return `${p.key.replace(/[^A-Za-z0-9@=._-]/g, '_')}-r${rep}`;
}

/** What a fio job or a program sees: the point's variables and the runner's (workloads.runnerVars), one set for both kinds. */
function jobVars(p: Point, env: Record<string, string>, runtimeSec: number, rampSec: number): Record<string, string> {
  return { ...p.vars, ...env, RUNTIME: String(runtimeSec), RAMP: String(rampSec) };
}

function fioCommand(p: Point, env: Record<string, string>, runtimeSec: number, rampSec: number, args: string[]): string {
  const vars = jobVars(p, env, runtimeSec, rampSec);
  const assignments = Object.entries(vars)
    .sort()
    .map(([k, v]) => `${k}=${shq(v)}`)
    .join(' ');
  return `env ${assignments} fio ${args.join(' ')} ${guestRoot}/fio/${basename(p.workload.job!)}`;
}

async function runFio(ctx: BootContext, p: Point, rep: number, env: Record<string, string>, runtimeSec: number, rampSec: number): Promise<RunRecord> {
  const base: RunRecord = { arm: ctx.slot.arm, variant: ctx.slot.variant.name, boot: ctx.slot.boot, rep, point: p.key, metrics: {} };
  // /proc/stat before/after goes to stderr so stdout is fio's alone.
  const cmd =
    `${p.workload.dropCaches ? dropCaches : ''}` +
    `S0=$(head -1 /proc/stat); ${guestSchedCommand('@@sched0')}; ` +
    `${fioCommand(p, env, runtimeSec, rampSec, ['--output-format=json+', '--lat_percentiles=1'])}; rc=$?; ` +
    `S1=$(head -1 /proc/stat); ${guestSchedCommand('@@sched1')}; ` +
    `echo "@@stat0 $S0" >&2; echo "@@stat1 $S1" >&2; exit $rc`;
  const host0 = ctx.guest.vcpuSched?.() ?? null;
  const r = await sh(ctx, cmd, runtimeSec + rampSec + 180);
  const host1 = ctx.guest.vcpuSched?.() ?? null;
  const raw = join('raw', `${ctx.slot.variant.name}-${ctx.slot.arm}-${ctx.slot.boot}`, `${fileKey(p, rep)}.fio.json`);
  ctx.run.write(raw, r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''));
  base.raw = raw;
  let run;
  try {
    run = parseFioOutput(r.stdout);
  } catch (e) {
    if (e instanceof FioParseError) return { ...base, error: `fio exit ${r.exitCode}: ${e.message}${e.excerpt.length ? ` — ${e.excerpt.slice(-2).join(' | ')}` : ''}` };
    throw e;
  }
  const problems = fioProblems(run);
  if (problems.length > 0 || r.exitCode !== 0) return { ...base, error: problems.join('; ') || `fio exited ${r.exitCode}` };
  const s = sampleOf(run);
  const [p50, p99] = histogramPercentiles(s.clat, [50, 99]);
  const metrics: Record<string, number> = { iops: s.iops, clat_p50_us: p50! / 1000, clat_p99_us: p99! / 1000, cpu_us_per_io: s.cpuUsPerIo };
  const hists: Record<string, Record<string, number>> = { clat: histogramToJson(s.clat) };
  if (s.lat.size > 0) {
    const [l50, l99] = histogramPercentiles(s.lat, [50, 99]);
    metrics['lat_p50_us'] = l50! / 1000;
    metrics['lat_p99_us'] = l99! / 1000;
    hists['lat'] = histogramToJson(s.lat);
  }
  if (s.syncLat.size > 0) {
    metrics['fsync_p99_us'] = histogramPercentiles(s.syncLat, [99])[0]! / 1000;
    hists['fsync'] = histogramToJson(s.syncLat);
  }
  const st0 = /@@stat0 (.*)/.exec(r.stderr)?.[1];
  const st1 = /@@stat1 (.*)/.exec(r.stderr)?.[1];
  if (st0 !== undefined && st1 !== undefined && s.ios > 0) {
    // Includes ramp time and fio start-up: an upper bound, the same on both kernels.
    metrics['guest_cpu_us_per_io'] = ((cpuBusyJiffies(st1) - cpuBusyJiffies(st0)) * 10_000) / s.ios;
  }
  // Like the guest's CPU time, over ramp time and fio start-up too: the same on both kernels.
  const sc0 = parseGuestSched(r.stderr, '@@sched0');
  const sc1 = parseGuestSched(r.stderr, '@@sched1');
  const perIo = sc0 && sc1 ? guestSchedPerIo(sc0, sc1, s.ios) : null;
  if (perIo) Object.assign(metrics, { guest_ctxsw_per_io: perIo.ctxsw_per_io, guest_ipi_per_io: perIo.ipi_per_io });
  // Like the guest's CPU time, this includes ramp time and fio start-up.
  const vcpuWait = host0 && host1 ? vcpuWaitPercent(host0, host1) : null;
  if (vcpuWait !== null) metrics['host_vcpu_wait_pct'] = vcpuWait;
  return { ...base, metrics, hists };
}

interface ProbeOutput {
  probe: string;
  uringlet: boolean;
  metrics: Record<string, { value: number; unit: string; better: 'higher' | 'lower' }>;
  errors: number;
  first_error: string;
}

async function runProgram(ctx: BootContext, p: Point, rep: number, env: Record<string, string>, runtimeSec: number, rampSec: number): Promise<RunRecord> {
  const base: RunRecord = { arm: ctx.slot.arm, variant: ctx.slot.variant.name, boot: ctx.slot.boot, rep, point: p.key, metrics: {} };
  const vars = jobVars(p, env, runtimeSec, rampSec);
  const args = (p.workload.args ?? []).map((a) => shq(substitute(a, vars, p.key))).join(' ');
  const cmd = `${p.workload.dropCaches ? dropCaches : ''}${guestRoot}/bin/${p.workload.program} ${args}`;
  const r = await sh(ctx, cmd, (takesRuntime(p.workload) ? runtimeSec : 0) + (p.workload.estimateSec ?? 10) * 6 + 120);
  const raw = join('raw', `${ctx.slot.variant.name}-${ctx.slot.arm}-${ctx.slot.boot}`, `${fileKey(p, rep)}.probe.json`);
  ctx.run.write(raw, r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''));
  base.raw = raw;
  let out: ProbeOutput;
  try {
    out = JSON.parse(r.stdout) as ProbeOutput;
  } catch {
    return { ...base, error: `${p.workload.program} exit ${r.exitCode}, no JSON: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}` };
  }
  if (out.errors > 0 || r.exitCode !== 0) return { ...base, error: `${p.workload.program}: ${out.errors} failed requests (first: ${out.first_error || 'n/a'}), exit ${r.exitCode}` };
  const wantUringlet = ctx.slot.kernel === 'uringlet';
  if (out.uringlet !== wantUringlet) {
    return { ...base, error: `${p.workload.program} ran ${out.uringlet ? 'in' : 'without'} uringlet mode on ${ctx.slot.arm}` };
  }
  const defs: MetricDef[] = Object.entries(out.metrics).map(([id, m]) => ({ id, label: id, unit: m.unit, better: m.better }));
  return { ...base, metrics: Object.fromEntries(Object.entries(out.metrics).map(([k, m]) => [k, m.value])), defs, uringletActive: out.uringlet };
}

const targetOrder: Target[] = ['xfs', 'ext4', 'null_blk'];

async function runBenchmarks(ctx: BootContext, dataDev: string): Promise<RunRecord[]> {
  const { slot, profile } = ctx;
  const mode = slot.variant.benchmarks;
  if (mode === 'none') return [];
  const points = mode === 'smoke' ? firstPoints(ctx.points) : ctx.points;
  const runs = mode === 'smoke' ? 1 : profile.runsPerBoot;
  const runtime = mode === 'smoke' ? Math.min(profile.runtimeSec, 5) : profile.runtimeSec;
  const ramp = mode === 'smoke' ? 0 : profile.rampSec;
  const records: RunRecord[] = [];
  for (const target of targetOrder) {
    const pts = points.filter((p) => p.workload.target === target);
    if (pts.length === 0) continue;
    const env = await prepareTarget(ctx, target, dataDev);
    const setUp = new Set<string>();
    for (const p of pts) {
      const wenv = { ...env, DIR: env['DIR'] === mountPoint ? `${mountPoint}/${p.workload.id}` : env['DIR']! };
      if (!setUp.has(p.workload.id)) {
        setUp.add(p.workload.id);
        await mustSh(ctx, `mkdir -p ${shq(wenv['DIR']!)}`, `mkdir for ${p.workload.id}`);
        // Lay out fio's files before measuring, so no run pays for it and a
        // "cold cache" run does not read what the layout just wrote.
        if (p.workload.kind === 'fio') await mustSh(ctx, fioCommand(p, wenv, 1, 0, ['--create_only=1']), `${p.workload.id} file layout`, 900);
        if (p.workload.setup !== undefined) {
          const args = p.workload.setup.map((a) => shq(substitute(a, { ...p.vars, ...wenv }, `${p.key} setup`))).join(' ');
          await mustSh(ctx, `${guestRoot}/bin/${p.workload.program} ${args}`, `${p.workload.id} setup`, 900);
        }
      }
      for (let rep = 0; rep < runs; rep++) {
        log.info(ctx.progress.line(`[${slot.variant.name}/${slot.arm} boot ${slot.boot + 1}] ${p.key} run ${rep + 1}/${runs}`));
        const rec = p.workload.kind === 'fio' ? await runFio(ctx, p, rep, wenv, runtime, ramp) : await runProgram(ctx, p, rep, wenv, runtime, ramp);
        if (rec.error !== undefined) log.warn(`${p.key} on ${slot.arm}: ${rec.error}`);
        records.push(rec);
        ctx.progress.advance(runSeconds(p, profile));
      }
      if (ctx.perf && p.workload.kind === 'fio') {
        log.info(ctx.progress.line(`[${slot.variant.name}/${slot.arm} boot ${slot.boot + 1}] ${p.key} under perf record (not measured)`));
        // no ramp: fio counts no I/O during it, perf would still sample it
        await runFioPerf(ctx, p, wenv, runtime);
        ctx.progress.advance(runtime + perfReportSec);
      }
    }
  }
  return records;
}

/**
 * One more run of a fio point under perf record, after the measured ones;
 * writes raw/<boot>/<point>.perf.{txt,json}. A failure here is reported and
 * costs only the profile.
 */
async function runFioPerf(ctx: BootContext, p: Point, env: Record<string, string>, runtimeSec: number): Promise<void> {
  const { slot } = ctx;
  const data = '/tmp/uringlet-perf.data';
  const fio = fioCommand(p, env, runtimeSec, 0, ['--output-format=json']);
  const cmd = `${p.workload.dropCaches ? dropCaches : ''}${perfRecordCommand(fio, data)}; rc=$?; ${perfReportCommand(data)} > ${data}.txt; rm -f ${data}; exit $rc`;
  const r = await sh(ctx, cmd, runtimeSec + 300);
  const rel = join('raw', `${slot.variant.name}-${slot.arm}-${slot.boot}`, `${fileKey(p, 0).replace(/-r0$/, '')}.perf`);
  const report = await sh(ctx, `cat ${data}.txt; rm -f ${data}.txt`, 120);
  ctx.run.write(`${rel}.txt`, report.stdout);
  ctx.run.write(`${rel}-fio.out`, r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''));
  try {
    if (r.exitCode !== 0) throw new Error(`fio under perf exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const s = sampleOf(parseFioOutput(r.stdout));
    const run: PerfRun = { point: p.key, arm: slot.arm, variant: slot.variant.name, boot: slot.boot, ios: s.ios, runtimeSec, profile: parsePerfReport(report.stdout) };
    ctx.run.writeJson(`${rel}.json`, run);
  } catch (e) {
    // fio's or perf's output did not parse: the profile is lost, the run goes on
    if (!(e instanceof Error)) throw e;
    log.warn(`perf profile of ${p.key} on ${slot.arm}: ${e.message} (see ${rel}.txt)`);
  }
}

async function runSuites(ctx: BootContext, platform: Platform): Promise<TestSuiteResult[]> {
  const out: TestSuiteResult[] = [];
  for (const [suite, runner] of Object.entries(platform.suites)) {
    const base = { suite, arm: ctx.slot.arm, variant: ctx.slot.variant.name };
    if (typeof runner !== 'function') {
      log.warn(`NOT RUN: ${suite} suite on ${ctx.slot.arm}: ${runner.missing}`);
      out.push({ ...base, state: 'not-run', reason: runner.missing, tests: [] });
      continue;
    }
    log.info(ctx.progress.line(`[${ctx.slot.variant.name}/${ctx.slot.arm}] ${suite} test suite`));
    const logFile = ctx.run.path('tests', `${ctx.slot.variant.name}-${ctx.slot.arm}-${suite}.log`);
    mkdirSync(ctx.run.path('tests'), { recursive: true });
    const res = await runner(ctx.guest, {
      arm: ctx.slot.arm,
      kernel: ctx.slot.kernel,
      variant: ctx.slot.variant.name,
      outDir: ctx.run.path('tests'),
      log: (line) => appendFileSync(logFile, line.endsWith('\n') ? line : `${line}\n`),
    });
    out.push(res);
    ctx.progress.advance(suiteBudgetSec / Object.keys(platform.suites).length);
  }
  return out;
}

// ---- the run --------------------------------------------------------------------------

export interface CompareOutcome {
  summary: Summary;
  dir: string;
  exitCode: number;
}

export async function runCompare(opts: CompareOptions, platform: Platform): Promise<CompareOutcome> {
  const root = opts.resultsRoot ?? paths.results();
  let run: RunDir;
  let plan: SavedPlan;
  if (opts.resume !== undefined) {
    if (opts.uringletKernel !== undefined) throw new UserError('--resume boots the kernel the run started with: drop --uringlet-kernel');
    run = RunDir.resume(root, opts.resume);
    const saved = run.readJson<SavedPlan>('plan.json');
    if (saved === undefined) throw new UserError(`run '${opts.resume}' has no plan.json; it cannot be resumed`);
    plan = saved;
    log.info(`resuming ${run.id}: ${run.boots().length} boots already done`);
    if (plan.uringletKernel !== undefined) {
      const { path, sha256 } = plan.uringletKernel;
      if (!existsSync(path) || sha256File(path) !== sha256) {
        throw new UserError(`run '${opts.resume}' was started with --uringlet-kernel ${path}, which is gone or changed since`, { details: [`sha256 then: ${sha256}`, 'start a new run instead'] });
      }
    }
  } else {
    const matrix0 = loadMatrix();
    const overrides: SavedPlan['overrides'] = {
      ...(opts.boots !== undefined ? { boots: opts.boots } : {}),
      ...(opts.runs !== undefined ? { runs: opts.runs } : {}),
      ...(opts.runtimeSec !== undefined ? { runtimeSec: opts.runtimeSec } : {}),
      ...(opts.rampSec !== undefined ? { rampSec: opts.rampSec } : {}),
      ...(opts.tests === false ? { tests: false } : {}),
      ...(opts.perf === true ? { perf: true } : {}),
    };
    const profile0 = applyOverrides(loadProfile(opts.profile, matrix0), overrides); // validate before creating anything
    let uringletKernel: SavedPlan['uringletKernel'];
    if (opts.uringletKernel !== undefined) {
      const path = resolve(opts.uringletKernel);
      if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`--uringlet-kernel ${opts.uringletKernel}: no such file`, { details: ['give the bzImage of a build of the uringlet tree (arch/x86/boot/bzImage)'] });
      const problem = kernelOverrideProblem(profile0);
      if (problem !== null) throw new UserError(problem);
      uringletKernel = { path, sha256: sha256File(path) };
    }
    run = RunDir.create(root, newRunId(opts.profile));
    plan = {
      profile: opts.profile,
      ...(opts.workloads !== undefined ? { workloads: opts.workloads } : {}),
      overrides,
      ...(uringletKernel !== undefined ? { uringletKernel } : {}),
      command: opts.command,
      startedAt: new Date().toISOString(),
    };
    run.writeJson('plan.json', plan);
    log.info(`run ${run.id} in ${run.dir} (interrupt any time; continue with: uringlet compare --resume ${run.id})`);
  }
  appendFileSync(run.path('commands.txt'), `# ${new Date().toISOString()} host: ${opts.command}\n`);

  const matrix: Matrix = loadMatrix();
  const profile = applyOverrides(loadProfile(plan.profile, matrix), plan.overrides);
  const points = planPoints(matrix, profile, plan.workloads);
  const slots = bootSlots(profile);
  const variants = [...new Set(slots.map((s) => s.variant.name))];

  const host: HostInfo = await hostInfo();
  const { kernels } = await log.step(`kernels (${variants.join(', ')}) and guest image`, () => platform.prepare(variants, plan.uringletKernel !== undefined ? { uringletKernel: plan.uringletKernel.path } : {}));
  const programs = await log.step('benchmark programs', () => buildBenchPrograms());
  host.accelerator = await platform.accelerator();
  host.vcpus = profile.vm.vcpus;
  host.guestMemoryMiB = profile.vm.memoryMiB;
  if (profile.vm.cmdline !== undefined) host.guestCmdline = profile.vm.cmdline;
  if (host.accelerator !== 'kvm') log.warn(`no KVM: guests run under ${host.accelerator} emulation; absolute numbers are far below hardware, ratios still compare the kernels`);
  run.writeJson('host.json', host);
  const kernelMeta: KernelMeta[] = [];
  for (const v of variants) {
    for (const k of ['stock', 'uringlet'] as const) {
      const b = kernels[k][v];
      if (b === undefined) throw new InfraError(`platform did not build the ${k} kernel (${v})`);
      const build = k === 'uringlet' && plan.uringletKernel !== undefined ? { given: true, sha256: plan.uringletKernel.sha256 } : b.build;
      kernelMeta.push({ arm: k, kernel: k, variant: v, bzImage: b.bzImage, ...(build !== undefined ? { build } : {}) });
    }
  }

  // Boot private copies: a rebuild during the run (iterate in another terminal) must not
  // swap a kernel between boots, and --resume must boot the kernels the run started with.
  // Not under paths.runs(): vm.ts cleans that directory of anything without a live owner.
  const bootImages = new Map<string, string>();
  const removeBootImages = (): void => bootImages.forEach((p) => rmSync(p, { force: true }));
  const hashes: Record<string, string> = {};
  for (const v of variants) {
    for (const k of ['stock', 'uringlet'] as const) {
      const key = `${k}/${v}`;
      const copy = join(cacheRoot(), 'compare', `${run.id}-${k}-${v}.bzImage`);
      mkdirSync(dirname(copy), { recursive: true });
      copyFileSync(kernels[k][v]!.bzImage, copy);
      bootImages.set(key, copy);
      hashes[key] = sha256File(copy);
    }
  }
  if (plan.kernelSha256 === undefined) {
    plan = { ...plan, kernelSha256: hashes };
    run.writeJson('plan.json', plan);
  } else {
    const was = plan.kernelSha256;
    const changed = Object.keys(hashes).filter((k) => was[k] !== undefined && was[k] !== hashes[k]);
    if (changed.length > 0) {
      removeBootImages();
      throw new UserError(`run '${run.id}' cannot be resumed: the ${changed.join(', ')} kernel changed since it started (patches/ or the managed tree was edited)`, {
        details: changed.map((k) => `${k}: sha256 then ${was[k]}, now ${hashes[k]}`).concat('its boots would mix two kernels: start a new run instead'),
      });
    }
  }
  run.writeJson('build.json', kernelMeta);

  const dataDisk = join(cacheRoot(), 'compare', `${run.id}-data.raw`);
  await platform.makeDataDisk(dataDisk, profile.vm.dataDiskMiB);

  const total = estimateSeconds(profile, points, { perf: plan.overrides.perf === true });
  log.info(`plan: ${points.length} points x ${profile.runsPerBoot} runs x ${profile.bootsPerKernel} boots per kernel (${slots.length} boots), estimated ${fmtDuration(total)}`);
  const progress = new Progress(total);
  let crashed = false;
  for (const slot of slots) {
    const runsHere = slot.variant.benchmarks === 'compare' ? profile.runsPerBoot : slot.variant.benchmarks === 'smoke' ? 1 : 0;
    const bootEst = bootOverheadSec + (slot.variant.benchmarks === 'smoke' ? firstPoints(points) : points).reduce((x, p) => x + runSeconds(p, profile), 0) * runsHere;
    if (run.hasBoot(slot.arm, slot.variant.name, slot.boot)) {
      progress.advance(bootEst + (slot.variant.tests && slot.boot === 0 && slot.arm !== 'stock-aa' ? suiteBudgetSec : 0));
      continue;
    }
    if (crashed) break;
    run.clearUnfinishedBoot(slot.arm, slot.variant.name, slot.boot);
    const k = kernels[slot.kernel][slot.variant.name]!;
    const consoleRel = join('logs', `${slot.variant.name}-${slot.arm}-${slot.boot}.console.log`);
    const spec: BootSpec = {
      arm: slot.arm,
      boot: slot.boot,
      kernel: slot.kernel,
      variant: slot.variant.name,
      bzImage: bootImages.get(`${slot.kernel}/${slot.variant.name}`) ?? k.bzImage,
      vcpus: profile.vm.vcpus,
      memoryMiB: profile.vm.memoryMiB,
      dataDisk,
      dataDiskMiB: profile.vm.dataDiskMiB,
      ...(profile.vm.cmdline !== undefined ? { cmdline: profile.vm.cmdline } : {}),
      consoleLog: run.path(consoleRel),
    };
    const started = Date.now();
    const boot: BootRecord = { arm: slot.arm, variant: slot.variant.name, boot: slot.boot, status: 'ok', startedAt: new Date().toISOString(), durationSec: 0, records: [], tests: [] };
    log.info(progress.line(`[${slot.variant.name}/${slot.arm} boot ${slot.boot + 1}] booting ${k.bzImage}`));
    try {
      await platform.withGuest(spec, async (guest) => {
        const ctx: BootContext = {
          run,
          slot,
          profile,
          points,
          programs,
          guest,
          progress,
          perf: plan.overrides.perf === true && slot.variant.benchmarks === 'compare',
          record: (cmd) => appendFileSync(run.path('commands.txt'), `[${slot.variant.name}/${slot.arm}#${slot.boot}] ${cmd}\n`),
        };
        const { facts, dataDev } = await prepareGuest(ctx);
        boot.facts = facts;
        boot.release = facts['release'];
        progress.advance(bootOverheadSec);
        boot.records = await runBenchmarks(ctx, dataDev);
        if (slot.variant.tests && slot.boot === 0 && slot.arm !== 'stock-aa') boot.tests = await runSuites(ctx, platform);
      });
    } catch (e) {
      if (!(e instanceof KernelFailure)) {
        // --resume makes a new one: don't leave a GiB behind in the cache
        rmSync(dataDisk, { force: true });
        removeBootImages();
        throw e;
      }
      // A leak or a warning, found after the boot's work: report it and go on with the other boots.
      crashed = !kernelGoesOn(e.type);
      boot.status = 'crashed';
      boot.failure = { arm: slot.arm, variant: slot.variant.name, boot: slot.boot, type: e.type, title: e.title, details: e.details, log: consoleRel };
      log.warn(`kernel failure on ${slot.arm} boot ${slot.boot + 1}: ${e.message}; ${crashed ? 'stopping the benchmark loop and writing the report' : 'going on with the next boot'}`);
    }
    boot.durationSec = Math.round((Date.now() - started) / 1000);
    run.saveBoot(boot);
  }

  const boots = run.boots();
  const allDone = slots.every((s) => run.hasBoot(s.arm, s.variant.name, s.boot));
  for (const m of kernelMeta) {
    const b = boots.find((x) => x.arm === m.arm && x.variant === m.variant && x.release !== undefined);
    if (b?.release !== undefined) m.release = b.release;
  }
  const fio = boots.find((b) => b.facts?.['fio'])?.facts?.['fio'];
  if (fio !== undefined) host.guestFio = fio;
  const summary = buildSummary({
    runId: run.id,
    profile,
    matrix,
    points,
    boots,
    host,
    kernels: kernelMeta,
    startedAt: plan.startedAt,
    finishedAt: new Date().toISOString(),
    command: plan.command,
    // a crash ends the run early on purpose: the run is complete, its verdict is the crash
    complete: allDone || boots.some((b) => b.status === 'crashed'),
  });
  writeReports(run, summary);
  const dir = run.finish();
  rmSync(dataDisk, { force: true });
  removeBootImages();
  process.stdout.write(renderTerminal(summary, join(dir, 'report.md')));
  return { summary, dir, exitCode: summary.exitCode };
}

function writeReports(run: RunDir, summary: Summary): void {
  const profiles = loadPerfRuns(run.dir);
  if (profiles.length > 0) {
    run.write('perf.md', renderPerfMarkdown(profiles, { runId: run.id }));
    summary.perfReport = 'perf.md';
  }
  run.writeJson('summary.json', summary);
  run.write('report.md', renderMarkdown(summary));
  run.write('report.html', renderHtml(summary));
}

/**
 * `--reanalyze`: build summary.json and the reports of a finished run again
 * from its recorded boots, with today's analysis (after a change to the
 * statistics or the report). Measures nothing; the summary it replaces is
 * kept once as summary.before-reanalysis.json.
 */
export function reanalyzeRun(id: string, resultsRoot?: string, opts: { print?: boolean } = {}): CompareOutcome {
  const run = RunDir.complete(resultsRoot ?? paths.results(), id);
  const plan = run.readJson<SavedPlan>('plan.json')!;
  const old = run.readJson<Summary>('summary.json');
  if (old === undefined) throw new UserError(`run '${id}' has no summary.json: it cannot be analyzed again`);
  const matrix: Matrix = loadMatrix();
  const profile = applyOverrides(loadProfile(plan.profile, matrix), plan.overrides);
  const points = planPoints(matrix, profile, plan.workloads);
  const boots = run.boots();
  const summary = buildSummary({
    runId: run.id,
    profile,
    matrix,
    points,
    boots,
    // as the run left them: host.json and build.json lack what the boots told (fio, releases)
    host: old.host,
    kernels: old.kernels,
    startedAt: old.startedAt,
    finishedAt: old.finishedAt,
    command: plan.command,
    complete: old.complete,
  });
  if (!existsSync(run.path('summary.before-reanalysis.json'))) run.writeJson('summary.before-reanalysis.json', old);
  writeReports(run, summary);
  appendFileSync(run.path('commands.txt'), `# ${new Date().toISOString()} host: analyzed again (uringlet compare --reanalyze ${id})\n`);
  if (opts.print !== false) process.stdout.write(renderTerminal(summary, run.path('report.md')));
  return { summary, dir: run.dir, exitCode: summary.exitCode };
}

/** For `--list`: runs in the results directory. */
export function listRuns(root = paths.results()): string[] {
  return RunDir.list(root).map((r) => {
    if (!r.complete) return `${r.id}  INTERRUPTED (resume with --resume ${r.id})`;
    const s = join(root, r.id, 'summary.json');
    if (!existsSync(s)) return `${r.id}  (no summary)`;
    const sum = JSON.parse(readFileSync(s, 'utf8')) as Summary;
    return `${r.id}  exit ${sum.exitCode}  ${sum.exitReasons[0] ?? 'nothing wrong'}`;
  });
}

