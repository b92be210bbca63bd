// Benchmark (not a test): how long build-kernel takes here for the
// maintainer's common cases. Writes results/bench/build-kernel-<time>.json.
//   no-op:     nothing changed, both kernels
//   one-line:  a comment line added to io_uring/uringlet.c in the uringlet tree
// Run: npx tsx scripts/bench/build-kernel.ts [--reps N]
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { buildAll, buildKernel } from '../lib/kbuild.ts';
import { writeJsonAtomic } from '../lib/atomic.ts';
import { paths } from '../lib/paths.ts';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await fn();
  return (Date.now() - t) / 1000;
}

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] || 3);
const { uringlet } = await buildAll();
if (uringlet === null) throw new Error('patches/ is empty');
const noop: number[] = [];
const oneLine: number[] = [];
const file = join(uringlet.tree, 'io_uring/uringlet.c');
const original = readFileSync(file, 'utf8');
try {
  for (let i = 0; i < reps; i++) {
    noop.push(await timed(() => buildAll()));
    appendFileSync(file, `/* bench ${Date.now()} */\n`);
    oneLine.push(await timed(() => buildKernel({ kernel: 'uringlet' })));
    writeFileSync(file, original);
  }
} finally {
  writeFileSync(file, original);
  await buildKernel({ kernel: 'uringlet' });
}
const out = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, reps, noopSec: noop, oneLineIoUringSec: oneLine };
const path = join(paths.results(), 'bench', `build-kernel-${out.date.replace(/[:.]/g, '-')}.json`);
writeJsonAtomic(path, out);
process.stdout.write(`${JSON.stringify(out, null, 2)}\nwritten to ${path}\n`);
