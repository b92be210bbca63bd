// Benchmark (not a test): how long build-kernel takes here. Runs in a scratch
// cache (scratch-cache.ts), so the managed trees, where a maintainer may be
// working, are never edited. Records:
//   fresh trees:  stock + uringlet built in new trees (shared ccache: the
//                 "second kernel" case; with --cold an empty ccache and a fresh
//                 import of Debian's linux-source-6.1: a new machine, apt aside)
//   no-op:        build-kernel (both kernels) with nothing changed
//   one-line:     one line of code changed in io_uring/ of the uringlet tree
// Writes results/bench/build-kernel-<time>.json.
// Run: nice npx tsx scripts/bench/build-kernel.ts [--reps N] [--cold]
import { appendFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildAll, buildKernel, readMetadata, type KernelBuild } from '../lib/kbuild.ts';
import { writeJsonAtomic } from '../lib/atomic.ts';
import { paths } from '../lib/paths.ts';
import { withScratchCache } from './scratch-cache.ts';
import { kernelSource } from '../lib/kernel-source.ts';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, cold: { type: 'boolean', default: false } } });
const reps = Number(values.reps);

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = Date.now();
  const r = await fn();
  return [Math.round((Date.now() - t) / 100) / 10, r];
}

function summary(b: KernelBuild): { compiledFiles: number; ccacheHitRate: number | null; makeSec: number } {
  const m = readMetadata(b);
  return { compiledFiles: m.build.compiledFiles, ccacheHitRate: m.ccache.hitRate, makeSec: m.build.durationSec };
}

const load = { before: loadavg()[0] };
const result = await withScratchCache({ shareCcache: !values.cold }, async (scratch) => {
  // Cold: import Debian's linux-source-6.1 afresh too, as on a new machine; warm: clone the managed base.
  const kernelSrc = values.cold ? undefined : scratch.kernelSrc;
  const src = kernelSrc === undefined ? {} : { kernelSrc };
  const [sourceSec] = await timed(() => kernelSource(src));
  const [stockSec, stock] = await timed(() => buildKernel({ kernel: 'stock', ...src }));
  const stockSummary = summary(stock);
  const [uringletSec, uringlet] = await timed(() => buildKernel({ kernel: 'uringlet', ...src }));
  const uringletSummary = summary(uringlet);
  const noop: number[] = [];
  const oneLine: { sec: number; compiledFiles: number }[] = [];
  const file = join(uringlet.tree, 'io_uring', 'uringlet.c');
  for (let i = 0; i < reps; i++) {
    noop.push((await timed(() => buildAll(src)))[0]);
    // A real code change (a new global), not a comment: ccache must miss on it.
    appendFileSync(file, `int uringlet_bench_${process.pid}_${i};\n`);
    const [sec, b] = await timed(() => buildKernel({ kernel: 'uringlet', ...src }));
    oneLine.push({ sec, compiledFiles: summary(b).compiledFiles });
  }
  return {
    freshTrees: {
      ccache: values.cold ? 'empty' : 'shared (warm)',
      source: values.cold ? 'Debian linux-source-6.1 imported afresh' : 'clone of the managed base repository',
      sourceSec,
      stockSec,
      uringletSec,
      totalSec: Math.round((sourceSec + stockSec + uringletSec) * 10) / 10,
      stock: stockSummary,
      uringlet: uringletSummary,
    },
    noopSec: noop,
    oneLineIoUring: oneLine,
    oneLineFile: 'io_uring/uringlet.c',
  };
});
const out = {
  date: new Date().toISOString(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  loadavg1: { before: load.before, after: loadavg()[0] },
  reps,
  ...result,
};
const path = join(paths.results(), 'bench', `build-kernel-${out.date.replace(/[:.]/g, '-')}.json`);
writeJsonAtomic(path, out);
process.stdout.write(`${JSON.stringify(out, null, 2)}\nwritten to ${path}\n`);
