// metadata.json of a kernel build, in the spirit of tuxmake's: what was built
// from what, how, how long it took, what it warned about and how to do it
// again. Pure functions over build logs and stats live here so they can be
// tested against fixtures; kbuild.ts gathers the inputs.
import { readFileSync } from 'node:fs';

export interface SourceIdentity {
  id: string;
  kind: 'debian' | 'git' | 'tree';
  description: string;
  packageVersion?: string;
  path?: string;
  contentHash?: string;
  baseCommit: string;
  /** git tree id of the base (content identity, independent of who imported it). */
  baseTree?: string;
  headCommit: string;
  /** Tracked files with uncommitted changes in the tree at build time. */
  dirtyFiles: string[];
  /** Untracked files that were part of the build input. */
  untrackedFiles: string[];
}

export interface BuildMetadata {
  schema: 2;
  status: 'pass' | 'fail';
  kernel: 'stock' | 'uringlet';
  variant: string;
  source: SourceIdentity;
  series: { hash: string; patches: { file: string; subject: string }[]; state: 'applied' | 'unchanged' | 'adopted' } | null;
  config: { fragments: string[]; fragmentsHash: string; configHash: string };
  toolchain: { compiler: string; ccache: string; make: string };
  build: { kind: 'full' | 'incremental'; compiledFiles: number; jobs: number; durationSec: number };
  /** Seconds for the whole build-kernel step (source, series, config, make, headers). */
  durationSec: number;
  warnings: { count: number; list: string[]; newOverStock: string[] | null };
  errors: string[];
  ccache: { hits: number; misses: number; hitRate: number | null };
  artifacts: { bzImage: string; vmlinux: string; headers: string; config: string; log: string };
  reproducer: string;
  /** The steps underneath the reproducer, run in the tree with makeEnv. */
  makeCommands: string[];
  makeEnv: Record<string, string>;
  builtAt: string;
}

/** Source path as Kbuild prints it from an O= subdirectory ("../io_uring/x.c") made tree-relative. */
export function normalisePath(p: string): string {
  return p.replace(/^(\.\.\/)+/, '').replace(/^\.\//, '');
}

/** Pure: compiler, assembler and objtool warnings of a build log, as "file: message", deduplicated, sorted. */
export function parseWarnings(logText: string): string[] {
  const out = new Set<string>();
  for (const m of logText.matchAll(/^([^\s:]+?):(?:\d+:(?:\d+:)?)? warning: (.*)$/gm)) {
    out.add(`${normalisePath(m[1] ?? '')}: ${(m[2] ?? '').trim()}`);
  }
  return [...out].sort();
}

/** Pure: tree-relative sources and objects (re)built in this log, from Kbuild's "  CC      io_uring/x.o" lines. */
export function rebuiltFiles(logText: string): Set<string> {
  const out = new Set<string>();
  for (const m of logText.matchAll(/^\s+(CC|AS|LD|AR|HOSTCC|OBJTOOL)\s+(\S+)$/gm)) {
    const obj = normalisePath(m[2] ?? '');
    out.add(obj);
    if (obj.endsWith('.o')) {
      out.add(obj.replace(/\.o$/, '.c'));
      out.add(obj.replace(/\.o$/, '.S'));
    }
  }
  return out;
}

/** Pure: number of compile steps in a log (the progress counter uses the same pattern). */
export function compiledCount(logText: string): number {
  return [...logText.matchAll(/^\s+(CC|AS)\s+\S+$/gm)].length;
}

/**
 * Pure: the warnings of the whole kernel after an incremental build. A
 * warning of the previous build stays unless its file was rebuilt now or
 * changed since (then the new log says whether it is still there).
 */
export function mergeWarnings(previous: string[], now: string[], rebuilt: Set<string>, changed: Set<string>): string[] {
  const fileOf = (w: string): string => w.slice(0, w.indexOf(': '));
  const kept = previous.filter((w) => !rebuilt.has(fileOf(w)) && !changed.has(fileOf(w)));
  return [...new Set([...kept, ...now])].sort();
}

/** Pure: warnings of the patched build that the stock build does not have. */
export function newWarnings(patched: string[], stock: string[]): string[] {
  const s = new Set(stock);
  return patched.filter((w) => !s.has(w));
}

/** Pure: the first compiler errors of a build log with a little context, for the failure message. */
export function firstErrors(logText: string, max = 12): string[] {
  const lines = logText.split('\n');
  const i = lines.findIndex((l) => /: (fatal )?error: |undefined reference to|^ld: |\*\*\* No rule to make target/.test(l));
  if (i < 0) {
    const j = lines.findIndex((l) => /Error \d+$/.test(l));
    return j < 0 ? lines.filter((l) => l.trim() !== '').slice(-max) : lines.slice(Math.max(0, j - max + 1), j + 1);
  }
  return lines.slice(Math.max(0, i - 2), i + max - 2).filter((l, k, a) => k < a.length - 1 || l.trim() !== '');
}

/** Pure: a tool the build could not run (the host's problem, not the patch's), or null. */
export function toolchainProblem(logText: string): string | null {
  for (const l of logText.split('\n')) {
    if (/^ccache: error: /.test(l)) return l;
    if (/error:/.test(l)) continue; // compiler diagnostics ("fatal error: x.h: No such file") are not ours
    if (/(?:^|: )[\w.+/-]+: (?:command )?not found$/.test(l)) return l;
    if (/^make(?:\[\d+\])?: [\w.+/-]+: No such file or directory$/.test(l)) return l;
  }
  return null;
}

export interface CcacheCounters {
  hits: number;
  misses: number;
}

/**
 * Pure: hits and misses of one build from ccache's stats log (CCACHE_STATSLOG:
 * "# <source>" then one counter name per line for each call). Per build, unlike
 * the global counters, which other builds on the host move at the same time.
 */
export function parseCcacheStatsLog(text: string): CcacheCounters {
  let hits = 0;
  let misses = 0;
  for (const l of text.split('\n')) {
    if (l === 'direct_cache_hit' || l === 'preprocessed_cache_hit') hits++;
    else if (l === 'cache_miss') misses++;
  }
  return { hits, misses };
}

/** Pure: the metadata block, hit rate rounded to 0.1 % (null when nothing was compiled). */
export function ccacheSummary(c: CcacheCounters): BuildMetadata['ccache'] {
  const { hits, misses } = c;
  return { hits, misses, hitRate: hits + misses > 0 ? Math.round((1000 * hits) / (hits + misses)) / 1000 : null };
}

/** Pure: the command line that rebuilds this kernel the same way. */
export function reproducer(o: { kernel: string; variant: string; kernelSrc?: string; kernelRef?: string; jobs?: number; patchesDir?: string }): string {
  const q = (s: string): string => (/^[\w./=@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const args = ['--kernel', o.kernel, '--variant', o.variant];
  if (o.kernelSrc !== undefined) args.push('--kernel-src', q(o.kernelSrc));
  if (o.kernelRef !== undefined) args.push('--kernel-ref', q(o.kernelRef));
  if (o.patchesDir !== undefined) args.push('--patches', q(o.patchesDir));
  if (o.jobs !== undefined) args.push('-j', String(o.jobs));
  return `npm run build-kernel -- ${args.join(' ')}`;
}

export type MetadataParts = Omit<BuildMetadata, 'schema' | 'warnings'> & { warnings: string[]; newOverStock: string[] | null };

/** Pure: metadata.json in a fixed key order (status first), counts derived from the lists. */
export function assembleMetadata(p: MetadataParts): BuildMetadata {
  return {
    schema: 2,
    status: p.status,
    kernel: p.kernel,
    variant: p.variant,
    source: p.source,
    series: p.series,
    config: p.config,
    toolchain: p.toolchain,
    build: p.build,
    durationSec: p.durationSec,
    warnings: { count: p.warnings.length, list: p.warnings, newOverStock: p.newOverStock },
    errors: p.errors,
    ccache: p.ccache,
    artifacts: p.artifacts,
    reproducer: p.reproducer,
    makeCommands: p.makeCommands,
    makeEnv: p.makeEnv,
    builtAt: p.builtAt,
  };
}

export function readMetadataFile(path: string): BuildMetadata {
  return JSON.parse(readFileSync(path, 'utf8')) as BuildMetadata;
}
