// A synthetic but realistic comparison for report and verdict tests: the
// numbers mimic a TCG run (RFC workload at three depths, a known-loss
// null_blk point, a probe), with latency histograms from real fio output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arm, RunRecord } from '../../scripts/lib/compare.ts';
import { parseFioOutput, sampleOf, histogramToJson } from '../../scripts/lib/fio.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';
import { buildSummary, type BootRecord, type Summary, type TestSuiteResult } from '../../scripts/lib/results.ts';
import { loadMatrix, loadProfile, planPoints, type Profile } from '../../scripts/lib/workloads.ts';

const fioDir = join(repoRoot, 'tests', 'fixtures', 'fio');
const hist = (f: string) => histogramToJson(sampleOf(parseFioOutput(readFileSync(join(fioDir, f), 'utf8'))).clat);
export const histA = hist('host-randwrite-qd8-run1.json');
export const histB = hist('host-randwrite-qd8-run2.json');

/** Deterministic jitter in [-1, 1]. */
function jitter(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

/** Mean IOPS per point and kernel; uringlet loses at depth 1 and on null_blk, wins at 8 and 32. */
const iops: Record<string, Record<'stock' | 'uringlet', number>> = {
  'rfc-xfs-randwrite@iodepth=1': { stock: 30000, uringlet: 18000 },
  'rfc-xfs-randwrite@iodepth=8': { stock: 40000, uringlet: 52000 },
  'rfc-xfs-randwrite@iodepth=32': { stock: 42000, uringlet: 43000 },
  'nullblk-dio-randread@iodepth=1': { stock: 60000, uringlet: 35000 },
};

export function fixtureProfile(): Profile {
  const m = loadMatrix();
  const q = loadProfile('quick', m);
  return {
    ...q,
    bootsPerKernel: 3,
    runsPerBoot: 2,
    workloads: {
      'rfc-xfs-randwrite': { values: [1, 8, 32] },
      'nullblk-dio-randread': { values: [1] },
      'submit-latency': {},
    },
  };
}

export function fixtureBoots(opts: { uringletTestFail?: boolean; crash?: boolean } = {}): BootRecord[] {
  const profile = fixtureProfile();
  const points = planPoints(loadMatrix(), profile);
  const boots: BootRecord[] = [];
  let seed = 1;
  for (let boot = 0; boot < profile.bootsPerKernel; boot++) {
    for (const arm of ['stock', 'uringlet'] as Arm[]) {
      const records: RunRecord[] = [];
      for (const p of points) {
        for (let rep = 0; rep < profile.runsPerBoot; rep++) {
          const j = jitter(seed++);
          if (p.workload.kind === 'fio') {
            const base = iops[p.key]![arm === 'uringlet' ? 'uringlet' : 'stock'];
            const v = base * (1 + 0.02 * j);
            records.push({
              arm,
              variant: 'default',
              boot,
              rep,
              point: p.key,
              metrics: { iops: v, clat_p50_us: 1e6 / v, clat_p99_us: 4e6 / v, cpu_us_per_io: 20 + j, guest_cpu_us_per_io: 40 + j },
              hists: { clat: arm === 'stock' ? histA : histB },
              raw: `raw/default-${arm}-${boot}/${p.key}-${rep}.json`,
            });
          } else {
            const enter = arm === 'stock' ? 200_100 + 50 * j : 12 + j;
            records.push({
              arm,
              variant: 'default',
              boot,
              rep,
              point: p.key,
              metrics: { iovec_fault_enter_us_p50: enter, nop_enter_us_p50: arm === 'stock' ? 1.1 + 0.01 * j : 2.5 + 0.02 * j },
              defs: [
                { id: 'iovec_fault_enter_us_p50', label: 'iovec_fault_enter_us_p50', unit: 'us', better: 'lower' },
                { id: 'nop_enter_us_p50', label: 'nop_enter_us_p50', unit: 'us', better: 'lower' },
              ],
              uringletActive: arm === 'uringlet',
            });
          }
        }
      }
      const tests: TestSuiteResult[] =
        boot === 0
          ? [
              {
                suite: 'guest',
                arm,
                variant: 'default',
                state: 'ran',
                tests: [
                  { name: 'setup-flags', status: 'pass', runs: 1, fails: 0 },
                  { name: 'submitter-never-blocks', status: arm === 'uringlet' && opts.uringletTestFail ? 'fail' : 'pass', runs: 1, fails: arm === 'uringlet' && opts.uringletTestFail ? 1 : 0 },
                ],
              },
              { suite: 'liburing', arm, variant: 'default', state: 'not-run', tests: [], reason: 'scripts/lib/liburing-suite.ts is not present in this checkout' },
            ]
          : [];
      const crashed = opts.crash === true && arm === 'uringlet' && boot === 2;
      boots.push({
        arm,
        variant: 'default',
        boot,
        status: crashed ? 'crashed' : 'ok',
        startedAt: '2026-11-24T10:00:00Z',
        durationSec: 120,
        release: arm === 'stock' ? '6.1.192' : '6.1.192-uringlet',
        records,
        tests,
        ...(crashed
          ? { failure: { arm, variant: 'default', boot, type: 'oops' as const, title: 'BUG: kernel NULL pointer dereference in io_wq_worker_sleeping', details: ['RIP: io_wq_worker_sleeping+0x1c/0x60'], log: 'logs/default-uringlet-2.console.log' } }
          : {}),
      });
    }
  }
  return boots;
}

export function fixtureSummary(opts: { uringletTestFail?: boolean; crash?: boolean } = {}): Summary {
  const matrix = loadMatrix();
  const profile = fixtureProfile();
  return buildSummary({
    runId: '2026-11-24T10-00-00Z-quick-beef',
    profile,
    matrix,
    points: planPoints(matrix, profile),
    boots: fixtureBoots(opts),
    host: { hostname: 'h', cpuModel: 'Test CPU', cpus: 2, memoryGiB: 24, os: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.18', qemu: 'QEMU emulator version 7.2.15', gcc: 'gcc 12', node: 'v20', accelerator: 'tcg', vcpus: 2, guestMemoryMiB: 2048, guestFio: 'fio-3.33' },
    kernels: [
      { arm: 'stock', kernel: 'stock', variant: 'default', release: '6.1.192' },
      { arm: 'uringlet', kernel: 'uringlet', variant: 'default', release: '6.1.192-uringlet' },
    ],
    startedAt: '2026-11-24T10:00:00Z',
    finishedAt: '2026-11-24T10:15:00Z',
    command: 'uringlet compare --profile quick',
    complete: true,
  });
}
