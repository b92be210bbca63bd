// metadata.json and the build-log parsing behind it, against real Kbuild
// logs of this machine (tests/fixtures/kernel/capture-build-logs.ts made them:
// the uringlet kernel plus a patch that adds a warning, then one that breaks).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assembleMetadata,
  ccacheSummary,
  compiledCount,
  firstErrors,
  mergeWarnings,
  newWarnings,
  normalisePath,
  parseCcacheStatsLog,
  parseWarnings,
  rebuiltFiles,
  reproducer,
  toolchainProblem,
  type BuildMetadata,
} from '../../scripts/lib/metadata.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';

const fx = (f: string): string => readFileSync(join(repoRoot, 'tests/fixtures/kernel', f), 'utf8');
const warnLog = fx('build-warning.log');
const errLog = fx('build-error.log');

test('warnings of a real build log: tree-relative file, message, deduplicated', (t) => {
  t.deepEqual(parseWarnings(warnLog), ["io_uring/uringlet.c: unused variable 'uringlet_fixture_unused' [-Wunused-variable]"]);
  t.deepEqual(parseWarnings('vmlinux.o: warning: objtool: foo+0x1: call without frame pointer save/setup\n'), [
    'vmlinux.o: objtool: foo+0x1: call without frame pointer save/setup',
  ]);
  t.deepEqual(parseWarnings('  CC      io_uring/io_uring.o\n'), []);
  t.is(normalisePath('../../io_uring/x.c'), 'io_uring/x.c');
});

test('files rebuilt and compile steps of an incremental build', (t) => {
  const rebuilt = rebuiltFiles(warnLog);
  t.true(rebuilt.has('io_uring/uringlet.o'));
  t.true(rebuilt.has('io_uring/uringlet.c'), 'an object maps to its source');
  t.false(rebuilt.has('mm/slab_common.c'), 'an untouched file is not rebuilt');
  const n = compiledCount(warnLog);
  t.true(n > 0 && n < 200, `an incremental build compiles a few files, not the kernel (${n})`);
});

test('the first compiler error with its context, not the make noise after it', (t) => {
  const e = firstErrors(errLog);
  t.regex(e.find((l) => l.includes('error:')) ?? '', /uringlet\.c:\d+:\d+: error: implicit declaration of function 'uringlet_fixture_undeclared'/);
  t.true(e.length <= 12);
  t.regex(e[0] ?? '', /CC|In function/, 'starts just before the error');
  t.deepEqual(firstErrors('a\nb\nmake: *** [Makefile:1: all] Error 2\n', 5), ['a', 'b', 'make: *** [Makefile:1: all] Error 2']);
});

test('a missing tool is told apart from a compile error', (t) => {
  t.is(toolchainProblem(errLog), null);
  t.regex(toolchainProblem('/bin/sh: 1: ccache: not found\nmake[2]: *** [x] Error 127\n') ?? '', /ccache: not found/);
  t.regex(toolchainProblem('make: flex: No such file or directory\n') ?? '', /flex/);
});

test('incremental warnings: kept for files not rebuilt, re-decided for rebuilt or changed ones', (t) => {
  const prev = ['fs/a.c: w1', 'io_uring/uringlet.c: old', 'include/linux/x.h: hdr'];
  const now = ['io_uring/uringlet.c: new'];
  t.deepEqual(mergeWarnings(prev, now, new Set(['io_uring/uringlet.c', 'io_uring/uringlet.o']), new Set()), [
    'fs/a.c: w1', 'include/linux/x.h: hdr', 'io_uring/uringlet.c: new',
  ]);
  t.deepEqual(mergeWarnings(prev, [], new Set(), new Set(['include/linux/x.h'])), ['fs/a.c: w1', 'io_uring/uringlet.c: old'], 'a fixed header drops its warning');
});

test('warnings the patched build adds over stock', (t) => {
  t.deepEqual(newWarnings(['a: x', 'b: y'], ['a: x']), ['b: y']);
  t.deepEqual(newWarnings(['a: x'], ['a: x', 'c: z']), []);
});

test('ccache hit rate of one build from its stats log (a real one)', (t) => {
  const c = parseCcacheStatsLog(fx('build-warning.ccache-stats.log'));
  t.true(c.hits + c.misses > 0);
  t.deepEqual(parseCcacheStatsLog('# a.c\ncache_miss\ndirect_cache_miss\n# b.c\ndirect_cache_hit\n# c.c\npreprocessed_cache_hit\n'), { hits: 2, misses: 1 });
  t.deepEqual(ccacheSummary({ hits: 2, misses: 1 }), { hits: 2, misses: 1, hitRate: 0.667 });
  t.deepEqual(ccacheSummary({ hits: 0, misses: 0 }), { hits: 0, misses: 0, hitRate: null });
});

test('the reproducer is a command line that can be pasted', (t) => {
  t.is(reproducer({ kernel: 'stock', variant: 'default' }), 'npm run build-kernel -- --kernel stock --variant default');
  t.is(
    reproducer({ kernel: 'uringlet', variant: 'debug', kernelSrc: "/src/my tree's", kernelRef: 'v6.1.5', jobs: 4 }),
    "npm run build-kernel -- --kernel uringlet --variant debug --kernel-src '/src/my tree'\\''s' --kernel-ref v6.1.5 -j 4",
  );
});

test('metadata of the real builds: everything tuxmake-like is there', (t) => {
  for (const f of ['build-warning.metadata.json', 'build-error.metadata.json']) {
    const m = JSON.parse(fx(f)) as BuildMetadata;
    t.is(m.schema, 2);
    t.is(m.kernel, 'uringlet');
    t.regex(m.source.baseCommit, /^[0-9a-f]{40}$/);
    t.is(m.series?.patches.at(-1)?.file.startsWith('9999-'), true, 'the series with the fixture patch');
    t.regex(m.series?.hash ?? '', /^[0-9a-f]{64}$/);
    t.regex(m.config.configHash, /^[0-9a-f]{16}$/);
    t.regex(m.toolchain.compiler, /^gcc /);
    t.true(m.durationSec > 0);
    t.is(m.warnings.count, m.warnings.list.length);
    t.true(m.makeCommands.some((c) => c.includes('merge_config.sh -m')));
    t.true(m.makeCommands.some((c) => c.includes('headers_install')));
    t.regex(m.reproducer, /^npm run build-kernel -- --kernel uringlet/);
  }
  const ok = JSON.parse(fx('build-warning.metadata.json')) as BuildMetadata;
  t.is(ok.status, 'pass');
  t.deepEqual(ok.errors, []);
  t.true(ok.warnings.list.some((w) => w.includes('uringlet_fixture_unused')));
  const bad = JSON.parse(fx('build-error.metadata.json')) as BuildMetadata;
  t.is(bad.status, 'fail');
  t.true(bad.errors.some((l) => l.includes('uringlet_fixture_undeclared')));
});

test('assembleMetadata: fixed key order, status first, counts derived', (t) => {
  const parts = JSON.parse(fx('build-warning.metadata.json')) as BuildMetadata;
  const m = assembleMetadata({ ...parts, warnings: ['a: x', 'b: y'], newOverStock: ['b: y'] });
  t.deepEqual(Object.keys(m).slice(0, 4), ['schema', 'status', 'kernel', 'variant']);
  t.deepEqual(m.warnings, { count: 2, list: ['a: x', 'b: y'], newOverStock: ['b: y'] });
});
