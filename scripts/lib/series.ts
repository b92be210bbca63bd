// The patch series in patches/: which files, in which order, their subjects,
// and putting them on a branch off the base with `git am`.
//
// The managed uringlet tree is also where a maintainer iterates (commits on
// top, uncommitted edits). applySeries therefore only rewrites the branch when
// patches/ changed since it was last applied, never when the tree already
// holds exactly the series (same patch-ids), never over uncommitted changes,
// and it saves commits it would drop under a backup branch first.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InfraError, UserError } from './errors.ts';
import { LogFile, log } from './log.ts';
import { run, runOk } from './proc.ts';
import { writeJsonAtomic } from './atomic.ts';
import { BASE_TAG, gitIdentityEnv } from './kernel-source.ts';

export interface SeriesPatch {
  file: string;
  path: string;
  subject: string;
}

export interface Series {
  dir: string;
  patches: SeriesPatch[];
  /** sha256 over the patch files in order (names and contents). */
  hash: string;
}

/** Decode RFC 2047 encoded words (format-patch writes non-ASCII subjects as =?UTF-8?q?...?=). */
export function decodeMimeWords(s: string): string {
  return s
    .replace(/(\?=)\s+(=\?)/g, '$1$2') // whitespace between encoded words is not part of the text
    .replace(/=\?([^?]+)\?([qQbB])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) => {
      const cs = charset.toLowerCase() === 'utf-8' ? 'utf8' : 'latin1';
      if (enc.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString(cs);
      const bytes = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString(cs);
    });
}

/** Subject of a format-patch file: header unfolded and decoded, without the [PATCH n/m] prefix. */
export function patchSubject(text: string): string {
  const lines = text.split('\n');
  const header = lines.slice(0, Math.max(0, lines.findIndex((l) => l === '')) || lines.length);
  const i = header.findIndex((l) => /^Subject: /i.test(l));
  if (i < 0) return '(no subject)';
  let s = (header[i] ?? '').slice('Subject: '.length);
  for (let j = i + 1; j < header.length && /^[ \t]/.test(header[j] ?? ''); j++) s += ' ' + (header[j] ?? '').trim();
  return decodeMimeWords(s).replace(/^(\[[^\]]*\]\s*)+/, '').trim();
}

const coverLetter = /^(v\d+-)?0000-cover-letter\.patch$/;

/**
 * Pure: order of the patch files given the directory listing and an optional
 * `series` file (quilt style: one file per line, # comments, options after the
 * name ignored). Without it: *.patch sorted, cover letter excluded.
 */
export function seriesOrder(files: string[], seriesFile: string | undefined): string[] {
  if (seriesFile !== undefined) {
    const listed = seriesFile
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
      .filter((l) => l !== '');
    const missing = listed.filter((f) => !files.includes(f));
    if (missing.length > 0) throw new UserError(`patches/series names files that do not exist: ${missing.join(', ')}`);
    const dup = listed.filter((f, i) => listed.indexOf(f) !== i);
    if (dup.length > 0) throw new UserError(`patches/series lists a file twice: ${[...new Set(dup)].join(', ')}`);
    return listed;
  }
  return files.filter((f) => f.endsWith('.patch') && !coverLetter.test(f)).sort();
}

export function readSeries(dir: string): Series {
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const seriesPath = join(dir, 'series');
  const order = seriesOrder(files, existsSync(seriesPath) ? readFileSync(seriesPath, 'utf8') : undefined);
  const h = createHash('sha256');
  const patches = order.map((file) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    h.update(file + '\0' + text + '\0');
    return { file, path, subject: patchSubject(text) };
  });
  return { dir, patches, hash: h.digest('hex') };
}

export interface ApplyFailure {
  /** File of the kernel tree the patch failed on. */
  file: string | null;
  /** Line of the failing hunk in that file (as the patch expects it). */
  line: number | null;
  /** Lines worth showing: the error lines and the context git could not find. */
  lines: string[];
}

/** Pure: where a `git am` / `git apply -v` failed (file, hunk line) and the lines worth showing. */
export function parseApplyFailure(output: string): ApplyFailure {
  const all = output.split('\n');
  const failed = all.map((l) => /^error: patch failed: (.+):(\d+)$/.exec(l)).find((m) => m !== null);
  const missingFile = all.map((l) => /^error: (.+): (does not exist in index|No such file or directory|already exists in index)$/.exec(l)).find((m) => m !== null);
  const lines: string[] = [];
  let inContext = false;
  let contextLines = 0;
  for (const l of all) {
    if (/^error: while searching for:/.test(l)) {
      inContext = true;
      contextLines = 0;
      lines.push(l);
      continue;
    }
    if (inContext) {
      if (/^(error|Checking patch|Applying|Patch failed|hint):?/.test(l)) {
        inContext = false;
      } else {
        if (contextLines++ < 10) lines.push(`    ${l}`);
        continue;
      }
    }
    if (/^error: |^Patch failed at |^Hunk #\d+ /.test(l) && !lines.includes(l)) lines.push(l);
  }
  return {
    file: failed?.[1] ?? missingFile?.[1] ?? null,
    line: failed?.[2] !== undefined ? Number(failed[2]) : null,
    lines: lines.slice(0, 30),
  };
}

/** What was applied last, kept in the worktree's own git dir. */
export interface SeriesStamp {
  hash: string;
  commit: string;
  branch: string;
  patches: string[];
}

export interface TreeState {
  stamp: SeriesStamp | null;
  head: string;
  base: string;
  /** Tracked files with uncommitted changes. */
  dirty: string[];
  /** base..HEAD holds exactly the series (same patch-ids, same order). */
  holdsSeries: boolean;
}

export type ApplyDecision =
  | { action: 'unchanged'; moved: boolean }
  | { action: 'adopt' }
  | { action: 'refuse-dirty'; files: string[] }
  | { action: 'apply'; backup: boolean };

/** Pure: what applySeries does with a tree in state `s` for a series with hash `hash`. */
export function decideApply(hash: string, s: TreeState): ApplyDecision {
  if (s.stamp !== null && s.stamp.hash === hash) return { action: 'unchanged', moved: s.head !== s.stamp.commit };
  if (s.holdsSeries) return { action: 'adopt' };
  if (s.dirty.length > 0) return { action: 'refuse-dirty', files: s.dirty };
  const ours = s.head === s.base || (s.stamp !== null && s.head === s.stamp.commit);
  return { action: 'apply', backup: !ours };
}

/** Pure: the patch-ids `git patch-id --stable` printed, in order. */
export function patchIds(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((id) => /^[0-9a-f]{40}$/.test(id));
}

async function seriesPatchIds(series: Series): Promise<string[]> {
  const ids: string[] = [];
  for (const p of series.patches) {
    const r = await runOk('git', ['patch-id', '--stable'], { input: readFileSync(p.path, 'utf8') });
    ids.push(...patchIds(r.stdout));
  }
  return ids;
}

async function treePatchIds(tree: string, base: string): Promise<string[]> {
  const logp = await runOk('git', ['--no-optional-locks', '-C', tree, 'log', '--reverse', '-p', '--no-color', '--format=commit %H', `${base}..HEAD`]);
  if (logp.stdout.trim() === '') return [];
  return patchIds((await runOk('git', ['patch-id', '--stable'], { input: logp.stdout })).stdout);
}

/** Read-only git (no optional index refresh, so a maintainer's git in the same tree never meets our index.lock). */
async function gitOut(tree: string, args: string[]): Promise<string> {
  return (await runOk('git', ['--no-optional-locks', '-C', tree, ...args])).stdout.trim();
}

/** Worktrees (other than `tree`) that have `branch` checked out. */
async function branchUsedElsewhere(tree: string, branch: string): Promise<string[]> {
  const out = await gitOut(tree, ['worktree', 'list', '--porcelain']);
  const me = resolve(tree);
  const users: string[] = [];
  let wt = '';
  for (const l of out.split('\n')) {
    if (l.startsWith('worktree ')) wt = l.slice('worktree '.length);
    if (l === `branch refs/heads/${branch}` && resolve(wt) !== me) users.push(wt);
  }
  return users;
}

async function readState(tree: string, series: Series, stampFile: string, base: string): Promise<TreeState> {
  let stamp: SeriesStamp | null = null;
  if (existsSync(stampFile)) {
    const text = readFileSync(stampFile, 'utf8').trim();
    try {
      stamp = JSON.parse(text) as SeriesStamp;
    } catch {
      // First format: "<hash> <commit>".
      const [hash, commit] = text.split(' ');
      if (hash !== undefined && commit !== undefined) stamp = { hash, commit, branch: '', patches: [] };
    }
  }
  const head = await gitOut(tree, ['rev-parse', 'HEAD']);
  // Staged or not, against HEAD (untracked files are not at risk: checkout and am leave them).
  const dirty = (await gitOut(tree, ['diff', '--name-only', 'HEAD'])).split('\n').filter((l) => l !== '');
  let holdsSeries = false;
  if (stamp?.hash !== series.hash && series.patches.length > 0) {
    const [want, have] = await Promise.all([seriesPatchIds(series), treePatchIds(tree, base)]);
    holdsSeries = want.length === series.patches.length && want.length === have.length && want.every((id, i) => id === have[i]);
  }
  return { stamp, head, base, dirty, holdsSeries };
}

export interface ApplyOptions {
  /** Branch the series goes on; it must not be checked out in another worktree. */
  branch?: string;
}

/**
 * Put `series` on `branch` of `tree`, starting from the base tag. See the
 * header comment for when the tree is left alone. On a patch that does not
 * apply: `git am --abort`, the tree is reset to the base, clean, and a
 * UserError names the patch file, its subject and the failing file/hunk.
 */
export async function applySeries(tree: string, series: Series, logFile: LogFile, opts: ApplyOptions = {}): Promise<'applied' | 'unchanged' | 'adopted'> {
  const branch = opts.branch ?? 'uringlet';
  const gitDir = await gitOut(tree, ['rev-parse', '--absolute-git-dir']);
  const stampFile = join(gitDir, 'uringlet-series-hash');
  const base = await gitOut(tree, ['rev-parse', `${BASE_TAG}^{commit}`]);
  const state = await readState(tree, series, stampFile, base);
  const decision = decideApply(series.hash, state);
  const writeStamp = async (): Promise<void> => {
    const commit = await gitOut(tree, ['rev-parse', 'HEAD']);
    writeJsonAtomic(stampFile, { hash: series.hash, commit, branch, patches: series.patches.map((p) => p.file) } satisfies SeriesStamp);
  };
  switch (decision.action) {
    case 'unchanged':
      if (decision.moved) log.info(`${tree}: has commits or edits beyond patches/ (unchanged since it was applied): left as it is`);
      return 'unchanged';
    case 'adopt':
      await writeStamp();
      log.info(`${tree} already holds the ${series.patches.length} patches of patches/ (same patch-ids): adopted, not re-applied`);
      return 'adopted';
    case 'refuse-dirty':
      throw new UserError(`patches/ changed, but the tree it goes into has uncommitted changes: ${tree}`, {
        details: [
          ...decision.files.slice(0, 10).map((f) => `modified: ${f}`),
          'commit them (and `git format-patch` them into patches/) or discard them; uringlet does not overwrite your work',
        ],
      });
    case 'apply':
      break;
  }
  const elsewhere = await branchUsedElsewhere(tree, branch);
  if (elsewhere.length > 0) {
    throw new InfraError(`branch '${branch}' is checked out in another worktree (${elsewhere.join(', ')}); it is not moved from here`);
  }
  if (decision.backup) {
    const name = `${branch}-backup-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`;
    await runOk('git', ['-C', tree, 'branch', '-f', name, 'HEAD'], { log: logFile });
    log.warn(`${tree}: saved its commits (not from patches/) as branch ${name} before applying patches/`);
  }
  const g = (args: string[]) => run('git', ['-C', tree, ...args], { env: gitIdentityEnv, log: logFile });
  const toBase = async (): Promise<void> => {
    await runOk('git', ['-C', tree, 'checkout', '-q', '-f', '-B', branch, BASE_TAG], { env: gitIdentityEnv, log: logFile });
    // Build directories stay (they are excluded), stray files from a failed apply go.
    await g(['clean', '-q', '-fd', '-e', '/.o-*']);
  };
  rmSync(stampFile, { force: true });
  await toBase();
  for (const [i, p] of series.patches.entries()) {
    const r = await g(['am', '-q', '--no-3way', '--no-gpg-sign', p.path]);
    if (r.exitCode === 0) continue;
    // git am says little about the hunk; git apply -v shows the context it could not find.
    const check = await run('git', ['-C', tree, 'apply', '--check', '-v', p.path]);
    await g(['am', '--abort']);
    await toBase();
    const f = parseApplyFailure(`${r.stdout}\n${r.stderr}\n${check.stdout}\n${check.stderr}`);
    const where = f.file === null ? '' : `: ${f.file}${f.line !== null ? `, hunk at line ${f.line}` : ''}`;
    const onto = i === 0 ? BASE_TAG : `${BASE_TAG} + patches 1-${i}`;
    throw new UserError(`patch ${i + 1}/${series.patches.length} ${p.file} ("${p.subject}") does not apply to ${onto}${where}`, {
      details: [...f.lines, `the tree ${tree} is back at ${BASE_TAG}, clean`],
      logPath: logFile.path,
    });
  }
  await writeStamp();
  return 'applied';
}
