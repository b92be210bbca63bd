// Series hygiene for the maintainer: `patches refresh` (the managed uringlet
// tree back into patches/), `patches check` (each patch applies, builds on its
// own, is checkpatch-clean, adds no warning) and `patches export` (a numbered
// vN ready for git send-email / b4, with a range-diff against v(N-1)).
//
// The pure parts (checkpatch output, warning diffs, file names, cover letter
// surgery, the table) come first and are unit tested; the git and make work
// follows. Nothing here writes to the managed stock/uringlet worktrees:
// refresh only reads the uringlet tree, check applies the series in its own
// scratch worktree (trees/<source-id>/check), export builds commits through a
// private index.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from './atomic.ts';
import { InfraError, UserError } from './errors.ts';
import { buildEnv } from './kbuild.ts';
import { configure, fragmentFiles, fragmentsHash } from './kconfig.ts';
import { BASE_TAG, gitIdentityEnv, kernelSource, treeDir, type KernelSource, type SourceOptions } from './kernel-source.ts';
import { withFileLock } from './lifecycle.ts';
import { LogFile, log } from './log.ts';
import { firstErrors, mergeWarnings, newWarnings, normalisePath, parseWarnings, rebuiltFiles } from './metadata.ts';
import { paths, repoRoot } from './paths.ts';
import { run, runOk } from './proc.ts';
import { parseApplyFailure, patchIds, patchSubject, readSeries, type Series } from './series.ts';
import { bootCommit, bootVerdict, type BootResult } from './series-boot.ts';
import { buildGuestTests } from './guest-tests.ts';

// ---------------------------------------------------------------------------
// Pure: checkpatch

export type CheckpatchLevel = 'ERROR' | 'WARNING' | 'CHECK';

export interface CheckpatchMessage {
  level: CheckpatchLevel;
  /** checkpatch's type name (LONG_LINE, ...), when it printed one. */
  type: string | null;
  message: string;
  /** "file:line" from the "#N: FILE: ..." line under it, when there is one. */
  where: string | null;
}

export interface CheckpatchResult {
  errors: number;
  warnings: number;
  checks: number;
  messages: CheckpatchMessage[];
  /** The "total: ..." line was found (checkpatch ran to the end). */
  complete: boolean;
}

/** Pure: messages and counts of `checkpatch.pl` output (the "total:" line wins over counting). */
export function parseCheckpatch(output: string): CheckpatchResult {
  const lines = output.split('\n');
  const messages: CheckpatchMessage[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(ERROR|WARNING|CHECK):(?:([A-Z0-9_]+):)? ?(.*)$/.exec(lines[i] ?? '');
    if (m === null) continue;
    const next = /^#\d+: FILE: (\S+?):?$/.exec(lines[i + 1] ?? '');
    messages.push({ level: m[1] as CheckpatchLevel, type: m[2] ?? null, message: (m[3] ?? '').trim(), where: next?.[1] ?? null });
  }
  const count = (l: CheckpatchLevel): number => messages.filter((x) => x.level === l).length;
  const total = lines.map((l) => /^total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?\d+ lines? checked/.exec(l)).find((m) => m !== null);
  if (total != null) {
    return { errors: Number(total[1]), warnings: Number(total[2]), checks: Number(total[3] ?? count('CHECK')), messages, complete: true };
  }
  return { errors: count('ERROR'), warnings: count('WARNING'), checks: count('CHECK'), messages, complete: false };
}

// ---------------------------------------------------------------------------
// Pure: what a patch touches, what to build for it

/** Pure: tree paths a patch changes (post-image names; deleted files by their old name). */
export function touchedFiles(patchText: string): string[] {
  const out = new Set<string>();
  for (const m of patchText.matchAll(/^diff --git a\/(\S+) b\/(\S+)$/gm)) {
    const b = m[2] ?? '';
    out.add(b === '/dev/null' ? (m[1] ?? '') : b);
  }
  return [...out].filter((f) => f !== '').sort();
}

// Paths that hold no compiled code, or only code that io_uring/ and the dirs themselves compile.
const notBuiltAlone = /^(include|Documentation|tools|scripts|samples|usr|LICENSES)\//;

/**
 * Pure: the `make <dir>/` targets that compile what `files` change.
 * io_uring/ always (it is what the series is about); other source files by
 * their directory, walked up to one that has a Makefile/Kbuild (`hasMakefile`).
 * Headers under include/ are compiled through their users, top-level files
 * (MAINTAINERS) are not compiled.
 */
export function buildDirs(files: string[], hasMakefile: (dir: string) => boolean): string[] {
  const dirs = new Set<string>(['io_uring/']);
  for (const f of files) {
    if (!f.includes('/') || notBuiltAlone.test(f)) continue;
    let d = dirname(f);
    while (d !== '.' && d !== '' && !hasMakefile(d)) d = dirname(d);
    if (d === '.' || d === '') continue;
    const target = `${d}/`;
    if (target.startsWith('io_uring/')) continue;
    dirs.add(target);
  }
  // A directory inside another target is built by it.
  const all = [...dirs].sort();
  return all.filter((d) => !all.some((o) => o !== d && d.startsWith(o)));
}

// ---------------------------------------------------------------------------
// Pure: warnings across incremental builds

export interface WarningStep {
  /** Warnings of everything built so far, after this build. */
  all: string[];
  /** Warnings this build added over the previous state. */
  added: string[];
  /** Warnings this build made disappear. */
  removed: string[];
}

/**
 * Pure: the warning state after an incremental build whose log is `logText`.
 * A warning of `previous` stays unless its file was rebuilt now or changed
 * (then the new log decides). Warnings are "file: message" (no line numbers,
 * so a patch that moves code does not "add" the warnings it moved).
 */
export function nextWarnings(previous: string[], logText: string, changed: string[]): WarningStep {
  const now = parseWarnings(logText);
  const all = mergeWarnings(previous, now, rebuiltFiles(logText), new Set(changed.map(normalisePath)));
  return { all, added: newWarnings(all, previous), removed: newWarnings(previous, all) };
}

// ---------------------------------------------------------------------------
// Pure: cover letters

export interface CoverLetter {
  /** Header lines (folded continuation lines kept), without the mbox "From <sha>" line. */
  headers: string[];
  /** The "From <sha> Mon Sep 17 00:00:00 2001" line, or null. */
  fromLine: string | null;
  /** Subject header text after the [PREFIX n/m] tag, continuation lines kept ("\n " joined). */
  subject: string;
  /** Hand-written text between the headers and the shortlog. */
  body: string;
  /** Shortlog, diffstat, range-diff, base-commit and signature: what git generates. */
  tail: string;
}

const SUBJECT_MARK = '*** SUBJECT HERE ***';
const BLURB_MARK = '*** BLURB HERE ***';

/** Pure: split a format-patch cover letter into headers, subject, hand-written body and generated tail. */
export function splitCoverLetter(text: string): CoverLetter {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let i = 0;
  let fromLine: string | null = null;
  if (/^From [0-9a-f]{7,40} /.test(lines[0] ?? '')) {
    fromLine = lines[0] ?? null;
    i = 1;
  }
  const headers: string[] = [];
  for (; i < lines.length && lines[i] !== ''; i++) headers.push(lines[i] ?? '');
  const rest = lines.slice(i + 1);
  // Subject, unfolded into its raw lines.
  let subject = '';
  const si = headers.findIndex((h) => /^Subject: /i.test(h));
  if (si >= 0) {
    const parts = [(headers[si] ?? '').replace(/^Subject: /i, '')];
    for (let j = si + 1; j < headers.length && /^[ \t]/.test(headers[j] ?? ''); j++) parts.push(headers[j] ?? '');
    subject = parts.join('\n').replace(/^(\[[^\]]*\]\s*)+/, '');
  }
  // The shortlog: "Author (N):" after a blank line, indented subjects under it,
  // and a diffstat summary (or base-commit/signature) further down.
  let t = -1;
  const blurb = rest.indexOf(BLURB_MARK);
  if (blurb >= 0) {
    t = blurb + 1;
    while (t < rest.length && rest[t] === '') t++;
  } else {
    for (let k = 0; k < rest.length; k++) {
      if (!/^\S.*\(\d+\):$/.test(rest[k] ?? '')) continue;
      if (k > 0 && rest[k - 1] !== '') continue;
      if (!/^  \S/.test(rest[k + 1] ?? '')) continue;
      if (!rest.slice(k + 1).some((l) => /^ \d+ files? changed|^base-commit: |^-- $/.test(l))) continue;
      t = k;
      break;
    }
    if (t < 0) {
      // No shortlog (hand-made): the tail is base-commit and the signature, if any.
      const b = rest.findIndex((l) => /^base-commit: |^-- $/.test(l));
      t = b < 0 ? rest.length : b;
    }
  }
  const bodyLines = rest.slice(0, blurb >= 0 ? blurb : t);
  while (bodyLines.length > 0 && bodyLines[bodyLines.length - 1] === '') bodyLines.pop();
  return { headers, fromLine, subject, body: bodyLines.join('\n'), tail: rest.slice(t).join('\n') };
}

/**
 * Pure: the cover letter git just generated (placeholders, new shortlog,
 * diffstat, range-diff, base-commit) with the subject and hand-written body of
 * the existing one. Headers the maintainer added (To:, Cc:, ...) are kept.
 */
export function mergeCoverLetter(existing: string, generated: string): string {
  const old = splitCoverLetter(existing);
  const gen = splitCoverLetter(generated);
  const genHeaders: string[] = [];
  for (let i = 0; i < gen.headers.length; i++) {
    const h = gen.headers[i] ?? '';
    if (/^Subject: /i.test(h)) {
      const prefix = /^Subject: ((?:\[[^\]]*\]\s*)*)/i.exec(h)?.[1] ?? '';
      while (/^[ \t]/.test(gen.headers[i + 1] ?? '')) i++;
      const subject = old.subject.trim() === '' || old.subject.includes(SUBJECT_MARK) ? gen.subject : old.subject;
      genHeaders.push(`Subject: ${prefix}${subject}`);
    } else {
      genHeaders.push(h);
    }
  }
  const name = (h: string): string => (/^([\w-]+):/.exec(h)?.[1] ?? '').toLowerCase();
  const have = new Set(genHeaders.map(name).filter((n) => n !== ''));
  const extra: string[] = [];
  for (let i = 0; i < old.headers.length; i++) {
    const h = old.headers[i] ?? '';
    if (/^[ \t]/.test(h)) continue;
    const n = name(h);
    if (n === '' || have.has(n)) continue;
    extra.push(h);
    for (let j = i + 1; j < old.headers.length && /^[ \t]/.test(old.headers[j] ?? ''); j++) extra.push(old.headers[j] ?? '');
  }
  const body = old.body.trim() === '' ? BLURB_MARK : old.body;
  return [...(gen.fromLine !== null ? [gen.fromLine] : []), ...genHeaders, ...extra, '', body, '', gen.tail].join('\n');
}

/** Pure: text for "nothing changed" comparisons: the mbox From line and the Date header are not content. */
export function comparableText(text: string): string {
  return text.replace(/^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$/m, 'From').replace(/^Date: .*$/m, 'Date:');
}

/** Pure: the base-commit trailer of a cover letter, or null. */
export function baseCommitOf(text: string): string | null {
  return /^base-commit: ([0-9a-f]{40})$/m.exec(text)?.[1] ?? null;
}

// ---------------------------------------------------------------------------
// Pure: file names and what changed

export interface PatchInfo {
  file: string;
  subject: string;
  /** `git patch-id --stable` of the diff (the code), or '' when it has none. */
  patchId: string;
  /** Commit message body (between the headers and "---"). */
  message: string;
}

/** Pure: the commit message of a format-patch file (body up to the "---" line). */
export function patchMessage(text: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf('');
  const end = lines.findIndex((l, i) => i > start && (l === '---' || l.startsWith('diff --git ')));
  return lines.slice(start + 1, end < 0 ? lines.length : end).join('\n').trim();
}

/**
 * Pure: the names the new patches get. A patch keeps its old file name when
 * its subject is unchanged and it stays at the same position (the number in
 * the name is its position); otherwise it gets git's name. With a `series`
 * file the order lives there, so an unchanged subject always keeps its name.
 */
export function decideFileNames(old: { file: string; subject: string }[], generated: { file: string; subject: string }[], hasSeriesFile: boolean): string[] {
  const used = new Set<string>();
  const names = generated.map((g, i) => {
    const pos = String(i + 1).padStart(4, '0');
    const match = old.find((o) => o.subject === g.subject && !used.has(o.file) && (hasSeriesFile || o.file.startsWith(`${pos}-`)));
    const name = match?.file ?? g.file;
    used.add(name);
    return name;
  });
  // Git's name for a new patch may collide with a kept one (series file case): number it apart.
  return names.map((n, i) => (names.indexOf(n) === i ? n : n.replace(/\.patch$/, `-${i + 1}.patch`)));
}

export interface SeriesChanges {
  added: string[];
  removed: string[];
  /** Same subject, changed: what changed and the file names. */
  modified: { subject: string; from: string; to: string; code: boolean; message: boolean }[];
  /** Same subject and content, other position or name. */
  moved: { subject: string; from: string; to: string }[];
  unchanged: number;
}

/** Pure: what a refresh changed, patches matched by subject. */
export function diffSeries(old: PatchInfo[], now: PatchInfo[]): SeriesChanges {
  const r: SeriesChanges = { added: [], removed: [], modified: [], moved: [], unchanged: 0 };
  const used = new Set<number>();
  for (const n of now) {
    const i = old.findIndex((o, k) => !used.has(k) && o.subject === n.subject);
    const o = old[i];
    if (o === undefined) {
      r.added.push(n.subject);
      continue;
    }
    used.add(i);
    const code = o.patchId !== n.patchId;
    const message = o.message !== n.message;
    if (code || message) r.modified.push({ subject: n.subject, from: o.file, to: n.file, code, message });
    else if (o.file !== n.file || i !== now.indexOf(n)) r.moved.push({ subject: n.subject, from: o.file, to: n.file });
    else r.unchanged++;
  }
  old.forEach((o, k) => {
    if (!used.has(k)) r.removed.push(o.subject);
  });
  return r;
}

/** Pure: the change report of a refresh, one line per change. */
export function renderChanges(c: SeriesChanges): string[] {
  const out: string[] = [];
  for (const s of c.added) out.push(`  added     ${s}`);
  for (const s of c.removed) out.push(`  removed   ${s}`);
  for (const m of c.modified) {
    const what = [m.code ? 'code' : '', m.message ? 'message' : ''].filter((x) => x !== '').join(' and ');
    out.push(`  modified  ${m.subject} (${what}${m.from !== m.to ? `; ${m.from} -> ${m.to}` : ''})`);
  }
  for (const m of c.moved) out.push(`  moved     ${m.subject} (${m.from} -> ${m.to})`);
  out.push(`  ${c.unchanged} unchanged`);
  return out;
}

/** Pure: the subject prefix of version N ("RFC PATCH" for v1, as git send-email and b4 expect; "RFC PATCH vN" after). */
export function subjectPrefix(version: number, base = 'RFC PATCH'): string {
  return version <= 1 ? base : `${base} v${version}`;
}

// ---------------------------------------------------------------------------
// Pure: the check table

export interface CheckRow {
  index: number;
  file: string;
  subject: string;
  /** null: not tried (an earlier patch did not apply). */
  applies: boolean | null;
  /** Where it did not apply (file and hunk line, from git apply -v), when it did not. */
  applyFailure?: { file: string | null; line: number | null };
  /** null: not tried (did not apply, or --no-build). */
  builds: boolean | null;
  buildSec: number | null;
  buildErrors: string[];
  checkpatch: CheckpatchResult;
  /** Warnings this patch adds (W=1 on io_uring/); null when not built. */
  newWarnings: string[] | null;
  /** The commit git am made of it in the scratch tree; null when not applied. */
  commit: string | null;
  /** --boot: its bzImage booted and the guest tests run on it; null when not booted. */
  boot: BootResult | null;
  ok: boolean;
  reasons: string[];
}

/** Pure: why a patch fails the check (empty: it passes). CHECKs count: the series claims --strict clean. */
export function patchVerdict(r: Omit<CheckRow, 'ok' | 'reasons'>): string[] {
  const out: string[] = [];
  if (r.applies === false) {
    const f = r.applyFailure;
    out.push(`does not apply${f?.file != null ? `: ${f.file}${f.line !== null ? `, hunk at line ${f.line}` : ''}` : ''}`);
  }
  if (r.applies === null) out.push('not applied (an earlier patch did not apply)');
  if (r.builds === false) out.push('does not build');
  if (!r.checkpatch.complete) out.push('checkpatch did not finish');
  const c = r.checkpatch;
  if (c.errors + c.warnings + c.checks > 0) out.push(`checkpatch: ${c.errors} errors, ${c.warnings} warnings, ${c.checks} checks`);
  if (r.newWarnings !== null && r.newWarnings.length > 0) out.push(`${r.newWarnings.length} new build warnings`);
  if (r.boot !== null) out.push(...bootVerdict(r.boot));
  return out;
}

const yesNo = (v: boolean | null): string => (v === null ? '-' : v ? 'yes' : 'NO');

/** Pure: the boot column's cell: tests passed/failed, or what went wrong first. */
function bootCell(b: BootResult | null): string {
  if (b === null) return '-';
  if (!b.builds) return 'NO BUILD';
  if (b.kernelFailure !== null) return b.kernelFailure.type.toUpperCase();
  return b.failed === 0 ? `ok ${b.passed}` : `${b.failed} FAIL`;
}

/** Pure: the per-patch table and the details under it. */
export function renderCheckTable(rows: CheckRow[]): string {
  // The boot column only when --boot ran: without it the table stays as it was.
  const booted = rows.some((r) => r.boot !== null);
  const head = ['#', 'patch', 'applies', 'builds', 'checkpatch E/W/C', 'new warnings', ...(booted ? ['boot+tests'] : []), 'result'];
  const body = rows.map((r) => [
    String(r.index),
    r.file.length > 64 ? `${r.file.slice(0, 63)}…` : r.file,
    yesNo(r.applies),
    yesNo(r.builds),
    `${r.checkpatch.errors}/${r.checkpatch.warnings}/${r.checkpatch.checks}`,
    r.newWarnings === null ? '-' : String(r.newWarnings.length),
    ...(booted ? [bootCell(r.boot)] : []),
    r.ok ? 'ok' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  for (const r of rows.filter((x) => !x.ok)) {
    out.push('', `${r.index} ${r.file}: ${r.reasons.join('; ')}`);
    for (const m of r.checkpatch.messages.slice(0, 15)) out.push(`    ${m.level}${m.type !== null ? `:${m.type}` : ''}: ${m.message}${m.where !== null ? ` (${m.where})` : ''}`);
    for (const w of (r.newWarnings ?? []).slice(0, 15)) out.push(`    warning: ${w}`);
    for (const e of r.buildErrors.slice(0, 12)) out.push(`    | ${e}`);
    for (const f of (r.boot?.failedTests ?? []).slice(0, 15)) out.push(`    test: ${f}`);
    const kf = r.boot?.kernelFailure ?? null;
    if (kf !== null) {
      for (const l of kf.details.slice(-12)) out.push(`    > ${l}`);
      if (kf.log !== null) out.push(`    console: ${kf.log}`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// git helpers

async function git(dir: string, args: string[], opts: { env?: Record<string, string>; log?: LogFile; input?: string } = {}): Promise<string> {
  const r = await runOk('git', ['--no-optional-locks', '-C', dir, ...args], {
    env: { ...gitIdentityEnv, ...opts.env },
    ...(opts.log !== undefined ? { log: opts.log } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return r.stdout.trim();
}

/** Options that make format-patch output independent of the maintainer's git config. */
const formatConfig = ['-c', 'diff.noprefix=false', '-c', 'diff.mnemonicPrefix=false', '-c', 'format.numbered=auto', '-c', 'format.coverFromDescription=message'];

async function patchIdOf(text: string): Promise<string> {
  return patchIds((await runOk('git', ['patch-id', '--stable'], { input: text })).stdout)[0] ?? '';
}

async function patchInfos(files: { file: string; path: string }[]): Promise<PatchInfo[]> {
  const out: PatchInfo[] = [];
  for (const f of files) {
    const text = readFileSync(f.path, 'utf8');
    out.push({ file: f.file, subject: patchSubject(text), patchId: await patchIdOf(text), message: patchMessage(text) });
  }
  return out;
}

/**
 * Commits for a series of patch files on `base`, made through a private index
 * (no worktree is touched; works in bare repositories): the author, date and
 * message of each patch, a fixed committer. Returns the commits in order.
 */
export async function commitsFromPatches(repo: string, base: string, patchFiles: string[]): Promise<string[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'uringlet-commits-'));
  const env = { GIT_INDEX_FILE: join(tmp, 'index') };
  try {
    await git(repo, ['read-tree', base], { env });
    let parent = base;
    const commits: string[] = [];
    for (const [i, file] of patchFiles.entries()) {
      const info = await runOk('git', ['mailinfo', '-u', join(tmp, 'msg'), join(tmp, 'patch')], { cwd: tmp, input: readFileSync(file, 'utf8') });
      const field = (k: string): string => new RegExp(`^${k}: (.*)$`, 'm').exec(info.stdout)?.[1]?.trim() ?? '';
      const apply = await run('git', ['-C', repo, 'apply', '--cached', join(tmp, 'patch')], { env });
      if (apply.exitCode !== 0) {
        throw new UserError(`patch ${i + 1}/${patchFiles.length} ${basename(file)} does not apply onto ${parent.slice(0, 12)}`, {
          details: (apply.stderr || apply.stdout).trim().split('\n').slice(0, 10),
        });
      }
      const tree = await git(repo, ['write-tree'], { env });
      const body = readFileSync(join(tmp, 'msg'), 'utf8').trim();
      const message = `${field('Subject')}${body !== '' ? `\n\n${body}` : ''}\n`;
      const authorEnv: Record<string, string> = {
        ...(field('Author') !== '' ? { GIT_AUTHOR_NAME: field('Author') } : {}),
        ...(field('Email') !== '' ? { GIT_AUTHOR_EMAIL: field('Email') } : {}),
        ...(field('Date') !== '' ? { GIT_AUTHOR_DATE: field('Date') } : {}),
      };
      parent = await git(repo, ['commit-tree', tree, '-p', parent, '-F', '-'], { env: authorEnv, input: message });
      commits.push(parent);
    }
    return commits;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `git range-diff` of two versions on their bases: the one-line-per-patch summary and the full text. */
async function rangeDiff(repo: string, oldRange: string, newRange: string): Promise<{ summary: string[]; full: string }> {
  const [s, f] = await Promise.all([
    run('git', ['-C', repo, 'range-diff', '--no-color', '-s', oldRange, newRange]),
    run('git', ['-C', repo, 'range-diff', '--no-color', oldRange, newRange]),
  ]);
  if (s.exitCode !== 0) return { summary: [`(git range-diff failed: ${s.stderr.trim().split('\n')[0] ?? ''})`], full: '' };
  return { summary: s.stdout.trimEnd().split('\n').filter((l) => l !== ''), full: f.stdout };
}

function listPatchFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.patch')).sort();
}

/** Replace directory `target` with `staged` (same filesystem): two renames, the old one removed after. */
function swapDir(staged: string, target: string): void {
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  try {
    renameSync(staged, target);
  } catch (e) {
    if (existsSync(old)) renameSync(old, target);
    throw e;
  }
  rmSync(old, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// refresh

export interface RefreshOptions extends SourceOptions {
  patchesDir?: string;
  /** The tree to read; default: the managed uringlet tree of the source. */
  tree?: string;
  dryRun?: boolean;
}

export interface RefreshResult {
  tree: string;
  base: string;
  head: string;
  patchesDir: string;
  files: string[];
  changes: SeriesChanges;
  /** Cover letter text changed (shortlog, diffstat or base). */
  coverChanged: boolean;
  written: boolean;
  rangeDiff: string[];
  rangeDiffLog: string | null;
}

export async function refreshPatches(opts: RefreshOptions = {}): Promise<RefreshResult> {
  const patchesDir = resolve(opts.patchesDir ?? paths.patches());
  let tree = opts.tree;
  if (tree === undefined) {
    const source = await kernelSource(opts);
    tree = treeDir(source, 'uringlet');
  }
  if (!existsSync(join(tree, '.git'))) {
    throw new UserError(`there is no uringlet tree at ${tree}`, { details: ['run `uringlet build-kernel --kernel uringlet` once: it creates the tree with patches/ applied'] });
  }
  const dirty = (await git(tree, ['diff', '--name-only', 'HEAD'])).split('\n').filter((l) => l !== '');
  const untracked = (await git(tree, ['ls-files', '--others', '--', '.', ':!/.o-*'])).split('\n').filter((l) => l !== '');
  if (dirty.length > 0 || untracked.length > 0) {
    throw new UserError(`the uringlet tree has uncommitted changes: ${tree}`, {
      details: [
        ...dirty.slice(0, 10).map((f) => `modified:  ${f}`),
        ...untracked.slice(0, 10).map((f) => `untracked: ${f}`),
        'commit them (git commit --amend / git rebase -i uringlet-base) or discard them, then refresh',
      ],
    });
  }
  const base = await git(tree, ['rev-parse', `${BASE_TAG}^{commit}`]);
  const head = await git(tree, ['rev-parse', 'HEAD']);
  const count = Number(await git(tree, ['rev-list', '--count', `${base}..HEAD`]));
  if (count === 0) throw new UserError(`the uringlet tree ${tree} has no commits on top of ${BASE_TAG}: nothing to refresh patches/ from`);
  const merges = await git(tree, ['rev-list', '--merges', `${base}..HEAD`]);
  if (merges !== '') throw new UserError(`${BASE_TAG}..HEAD of ${tree} has merge commits; a patch series is linear`, { details: merges.split('\n').slice(0, 5) });
  const notOnBase = await run('git', ['-C', tree, 'merge-base', '--is-ancestor', base, 'HEAD']);
  if (notOnBase.exitCode !== 0) throw new UserError(`HEAD of ${tree} does not descend from ${BASE_TAG}`);

  const oldSeries: Series = readSeries(patchesDir);
  const coverPath = join(patchesDir, '0000-cover-letter.patch');
  const oldCover = existsSync(coverPath) ? readFileSync(coverPath, 'utf8') : null;
  const hasSeriesFile = existsSync(join(patchesDir, 'series'));

  const gen = mkdtempSync(join(tmpdir(), 'uringlet-refresh-'));
  try {
    await runOk('git', ['-C', tree, ...formatConfig, 'format-patch', '-q', '--cover-letter', '--numbered', '--subject-prefix=RFC PATCH', `--base=${base}`, '-o', gen, `${base}..HEAD`], { env: gitIdentityEnv });
    const genFiles = listPatchFiles(gen).filter((f) => f !== '0000-cover-letter.patch');
    const generated = genFiles.map((f) => ({ file: f, subject: patchSubject(readFileSync(join(gen, f), 'utf8')) }));
    const names = decideFileNames(oldSeries.patches, generated, hasSeriesFile);
    const genCover = readFileSync(join(gen, '0000-cover-letter.patch'), 'utf8');
    // Only read, never locked: a commit made meanwhile (or build-kernel re-applying patches/) means run again.
    if ((await git(tree, ['rev-parse', 'HEAD'])) !== head) throw new InfraError(`${tree} moved while patches/ was being refreshed from it: nothing written, run again`);
    if (oldCover === null) log.warn(`${coverPath} did not exist: the new one has git's placeholders (subject and blurb) to fill in`);
    const cover = oldCover === null ? genCover : mergeCoverLetter(oldCover, genCover);

    // Stage the new directory next to patches/ (same filesystem, so the swap is a rename).
    const staged = join(dirname(patchesDir), `.${basename(patchesDir)}.refresh-${process.pid}`);
    rmSync(staged, { recursive: true, force: true });
    mkdirSync(staged, { recursive: true });
    try {
      if (existsSync(patchesDir)) {
        for (const f of readdirSync(patchesDir)) {
          if (f.endsWith('.patch') || f === 'series' || !statSync(join(patchesDir, f)).isFile()) continue;
          copyFileSync(join(patchesDir, f), join(staged, f)); // README and the like stay
        }
      }
      writeFileSync(join(staged, '0000-cover-letter.patch'), cover);
      genFiles.forEach((f, i) => copyFileSync(join(gen, f), join(staged, names[i] ?? f)));
      if (hasSeriesFile) writeFileSync(join(staged, 'series'), names.join('\n') + '\n');

      const oldInfo = await patchInfos(oldSeries.patches);
      const newInfo = await patchInfos(names.map((file) => ({ file, path: join(staged, file) })));
      const changes = diffSeries(oldInfo, newInfo);
      const sameFiles = (a: string, b: string): boolean =>
        existsSync(a) && existsSync(b) && comparableText(readFileSync(a, 'utf8')) === comparableText(readFileSync(b, 'utf8'));
      const before = existsSync(patchesDir) ? readdirSync(patchesDir).filter((f) => !f.startsWith('.')).sort() : [];
      const after = readdirSync(staged).sort();
      const coverChanged = oldCover === null || comparableText(oldCover) !== comparableText(cover);
      const identical = before.join('\n') === after.join('\n') && after.every((f) => sameFiles(join(patchesDir, f), join(staged, f)));

      // range-diff: the old series as commits on the same base (a private index; no worktree touched).
      let rd: { summary: string[]; full: string } = { summary: [], full: '' };
      let rangeDiffLog: string | null = null;
      if (oldSeries.patches.length > 0 && !identical) {
        try {
          const oldCommits = await commitsFromPatches(tree, base, oldSeries.patches.map((p) => p.path));
          rd = await rangeDiff(tree, `${base}..${oldCommits[oldCommits.length - 1] ?? base}`, `${base}..${head}`);
          rangeDiffLog = join(paths.logs(), `patches-refresh-range-diff-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`);
          writeFileAtomic(rangeDiffLog, rd.full);
        } catch (e) {
          rd = { summary: [`(no range-diff: the old patches/ does not apply to ${BASE_TAG}: ${(e as Error).message})`], full: '' };
        }
      }
      let written = false;
      if (!identical && opts.dryRun !== true) {
        swapDir(staged, patchesDir);
        written = true;
      }
      return { tree, base, head, patchesDir, files: names, changes, coverChanged, written, rangeDiff: rd.summary, rangeDiffLog };
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }
  } finally {
    rmSync(gen, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// export

export interface ExportOptions extends SourceOptions {
  version: number;
  patchesDir?: string;
  outDir?: string;
  /** The previous version: a revision range or tip in the source repo, or a directory of patches. */
  previous?: string;
  to?: string[];
  cc?: string[];
  force?: boolean;
  /** Tag the exported tip as uringlet-vN in the source repository (default true). */
  tag?: boolean;
}

export interface ExportResult {
  outDir: string;
  files: string[];
  base: string;
  tip: string;
  tag: string | null;
  previous: string | null;
}

export const versionTag = (n: number): string => `uringlet-v${n}`;

export function defaultOutDir(version: number): string {
  return join(repoRoot, 'outgoing', `v${version}`);
}

/** The previous version as a revision range, or null when there is none to compare with. */
async function previousRange(repo: string, version: number, base: string, previous: string | undefined): Promise<{ range: string; what: string } | null> {
  const fromDir = async (dir: string): Promise<{ range: string; what: string }> => {
    const files = listPatchFiles(dir);
    const cover = files.find((f) => /(^|-)0000-cover-letter\.patch$/.test(f));
    const patches = files.filter((f) => f !== cover);
    if (patches.length === 0) throw new UserError(`${dir} has no patches`);
    let b = cover !== undefined ? baseCommitOf(readFileSync(join(dir, cover), 'utf8')) : null;
    if (b !== null && (await run('git', ['-C', repo, 'cat-file', '-e', `${b}^{commit}`])).exitCode !== 0) b = null;
    const commits = await commitsFromPatches(repo, b ?? base, patches.map((f) => join(dir, f)));
    return { range: `${b ?? base}..${commits[commits.length - 1] ?? base}`, what: dir };
  };
  if (previous !== undefined) {
    if (existsSync(previous) && statSync(previous).isDirectory()) return fromDir(resolve(previous));
    const ok = await run('git', ['-C', repo, 'rev-parse', '-q', '--verify', `${previous.split('..').pop() ?? previous}^{commit}`]);
    if (ok.exitCode !== 0) throw new UserError(`--previous ${previous} is neither a directory nor a revision of ${repo}`);
    return { range: previous.includes('..') ? previous : `${base}..${previous}`, what: previous };
  }
  if (version <= 1) return null;
  const tag = versionTag(version - 1);
  if ((await run('git', ['-C', repo, 'rev-parse', '-q', '--verify', `refs/tags/${tag}^{commit}`])).exitCode === 0) {
    const tagBase = await run('git', ['-C', repo, 'merge-base', base, tag]);
    return { range: `${tagBase.exitCode === 0 ? tagBase.stdout.trim() : base}..${tag}`, what: `tag ${tag}` };
  }
  const dir = defaultOutDir(version - 1);
  if (existsSync(dir)) return fromDir(dir);
  return null;
}

export async function exportPatches(opts: ExportOptions): Promise<ExportResult> {
  if (!Number.isInteger(opts.version) || opts.version < 1) throw new UserError(`-v needs a version number >= 1, not ${opts.version}`);
  const patchesDir = resolve(opts.patchesDir ?? paths.patches());
  const series = readSeries(patchesDir);
  if (series.patches.length === 0) throw new UserError(`${patchesDir} has no patches to export`);
  const outDir = resolve(opts.outDir ?? defaultOutDir(opts.version));
  if (existsSync(outDir) && opts.force !== true) throw new UserError(`${outDir} exists (v${opts.version} was exported already)`, { details: ['pass --force to export it again, or a higher -v'] });
  const source = await kernelSource(opts);
  const repo = source.repo;
  const base = source.baseCommit;
  const tag = opts.tag === false ? null : versionTag(opts.version);

  const commits = await log.step(`making commits of ${series.patches.length} patches on ${BASE_TAG}`, () => commitsFromPatches(repo, base, series.patches.map((p) => p.path)));
  const tip = commits[commits.length - 1] ?? base;
  if (tag !== null && opts.force !== true) {
    const existing = await run('git', ['-C', repo, 'rev-parse', '-q', '--verify', `refs/tags/${tag}^{commit}`]);
    if (existing.exitCode === 0 && existing.stdout.trim() !== tip) {
      throw new UserError(`tag ${tag} already exists in ${repo} for another series`, { details: ['pass --force to move it (and re-export), or a higher -v'] });
    }
  }
  const prev = await previousRange(repo, opts.version, base, opts.previous);
  if (prev === null && opts.version > 1) log.warn(`no v${opts.version - 1} found (tag ${versionTag(opts.version - 1)} or ${defaultOutDir(opts.version - 1)}): the cover letter has no range-diff (--previous names one)`);

  const staged = join(dirname(outDir), `.${basename(outDir)}.tmp-${process.pid}`);
  rmSync(staged, { recursive: true, force: true });
  mkdirSync(staged, { recursive: true });
  try {
    const args = [
      ...formatConfig, 'format-patch', '-q', '--cover-letter', '--numbered', `--subject-prefix=${subjectPrefix(opts.version)}`, `--base=${base}`,
      ...(prev !== null ? [`--range-diff=${prev.range}`] : []),
      ...(opts.to ?? []).map((a) => `--to=${a}`),
      ...(opts.cc ?? []).map((a) => `--cc=${a}`),
      '-o', staged, `${base}..${tip}`,
    ];
    await runOk('git', ['-C', repo, ...args], { env: gitIdentityEnv });
    const coverPath = join(staged, '0000-cover-letter.patch');
    const ours = join(patchesDir, '0000-cover-letter.patch');
    if (existsSync(ours)) writeFileSync(coverPath, mergeCoverLetter(readFileSync(ours, 'utf8'), readFileSync(coverPath, 'utf8')));
    else log.warn(`${ours} does not exist: the exported cover letter has git's placeholders to fill in`);
    mkdirSync(dirname(outDir), { recursive: true });
    swapDir(staged, outDir);
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }
  if (tag !== null) await git(repo, ['tag', '-f', tag, tip]);
  return { outDir, files: listPatchFiles(outDir), base, tip, tag, previous: prev?.what ?? null };
}

// ---------------------------------------------------------------------------
// check

export interface CheckOptions extends SourceOptions {
  patchesDir?: string;
  /** Where the JSON report goes; default results/patches-check.json. */
  jsonPath?: string;
  build?: boolean;
  jobs?: number;
  /** Boot each commit and run these guest test groups on it ([undefined]: the whole suite); needs the build. */
  boot?: (string | undefined)[];
}

export interface CheckReport {
  schema: 1;
  ok: boolean;
  series: { dir: string; hash: string; patches: number };
  source: { id: string; baseCommit: string };
  tree: string;
  buildDir: string | null;
  buildTargets: string[];
  baseWarnings: string[] | null;
  /** Warnings the whole series adds over the base (null: not built). */
  seriesNewWarnings: string[] | null;
  rows: CheckRow[];
  log: string;
  startedAt: string;
  durationSec: number;
}

export function checkTreeDir(source: KernelSource): string {
  return join(paths.trees(), source.id, 'check');
}

/** The scratch worktree at the base, clean (build directories kept). Never a managed tree. */
async function scratchTree(source: KernelSource, logFile: LogFile): Promise<string> {
  const dir = checkTreeDir(source);
  if (!existsSync(join(dir, '.git'))) {
    await git(source.repo, ['worktree', 'prune']);
    await log.step(`checking out a scratch tree for the check at ${dir} (once)`, () => git(source.repo, ['worktree', 'add', '-q', '--detach', dir, BASE_TAG], { log: logFile }));
  } else {
    await run('git', ['-C', dir, 'am', '--abort'], { log: logFile });
    await git(dir, ['checkout', '-q', '-f', '--detach', BASE_TAG], { log: logFile });
    await git(dir, ['clean', '-q', '-fdx', '-e', '/.o-*'], { log: logFile });
  }
  return dir;
}

/**
 * The build directory's .config: copied from the uringlet (else stock)
 * default build when its config matches the current fragments, else made by
 * build-kernel's configuration step. Kept while its origin is unchanged, so
 * the next check is incremental.
 */
async function checkConfig(source: KernelSource, tree: string, buildDir: string, makeArgs: string[], env: Record<string, string>, logFile: LogFile): Promise<string> {
  const fragments = fragmentFiles('default');
  const fh = fragmentsHash(fragments);
  const stamp = join(buildDir, '.uringlet-check-config');
  const configPath = join(buildDir, '.config');
  mkdirSync(buildDir, { recursive: true });
  for (const k of ['uringlet', 'stock'] as const) {
    const from = join(treeDir(source, k), '.o-default');
    const cfg = join(from, '.config');
    const cfgStamp = join(from, '.uringlet-config-stamp');
    if (!existsSync(cfg) || !existsSync(cfgStamp) || readFileSync(cfgStamp, 'utf8') !== fh) continue;
    const id = `${k} ${createHash('sha256').update(readFileSync(cfg)).digest('hex')}`;
    if (existsSync(configPath) && existsSync(stamp) && readFileSync(stamp, 'utf8') === id) return `kept (from the ${k} build)`;
    copyFileSync(cfg, configPath);
    await runOk('make', [...makeArgs, 'olddefconfig'], { cwd: tree, env, log: logFile });
    writeFileSync(stamp, id);
    return `copied from ${cfg}`;
  }
  const id = `configured ${fh}`;
  if (existsSync(configPath) && existsSync(stamp) && readFileSync(stamp, 'utf8') === id) return 'kept (configured earlier)';
  await log.step('configuring the check build (no default kernel build to copy a .config from)', () => configure(tree, buildDir, fragments, makeArgs, env, logFile));
  writeFileSync(stamp, id);
  return 'configured';
}

export async function checkPatches(opts: CheckOptions = {}): Promise<CheckReport> {
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const patchesDir = resolve(opts.patchesDir ?? paths.patches());
  const series = readSeries(patchesDir);
  if (series.patches.length === 0) throw new UserError(`${patchesDir} has no patches to check`);
  if (opts.boot !== undefined && opts.build === false) throw new UserError('--boot needs the build: drop --no-build');
  const source = await kernelSource(opts);
  const lockDir = join(paths.trees(), source.id);
  mkdirSync(lockDir, { recursive: true });
  return withFileLock(join(lockDir, '.check.lock'), () => checkLocked(opts, source, series, t0, startedAt), { timeoutMs: 2 * 60 * 60_000, what: 'another `patches check`' });
}

async function checkLocked(opts: CheckOptions, source: KernelSource, series: Series, t0: number, startedAt: string): Promise<CheckReport> {
  const logFile = new LogFile(join(paths.logs(), `patches-check-${startedAt.replace(/[:.]/g, '-')}.log`));
  const tree = await scratchTree(source, logFile);
  const doBuild = opts.build !== false;
  const buildDir = join(tree, '.o-check');
  const jobs = opts.jobs ?? cpus().length;
  const env = { ...buildEnv, CCACHE_DIR: paths.ccache(), CCACHE_BASEDIR: paths.trees() };
  const makeArgs = [`O=${buildDir}`, 'ARCH=x86_64', 'CC=ccache gcc'];
  const touched = series.patches.map((p) => touchedFiles(readFileSync(p.path, 'utf8')));
  const hasMakefile = (d: string): boolean => existsSync(join(tree, d, 'Makefile')) || existsSync(join(tree, d, 'Kbuild'));
  const targets = buildDirs(touched.flat(), hasMakefile);

  // One build of every target: io_uring/ with W=1, the others as the kernel builds them.
  const build = async (label: string): Promise<{ ok: boolean; text: string }> => {
    const start = logFile.path;
    const before = existsSync(start) ? readFileSync(start, 'utf8').length : 0;
    let ok = true;
    for (const tgt of targets) {
      const args = [...makeArgs, `-j${jobs}`, ...(tgt === 'io_uring/' ? ['W=1'] : []), tgt];
      logFile.write(`\n# ${label}: make ${args.join(' ')}\n`);
      let compiled = 0;
      let last = Date.now();
      const r = await run('nice', ['-n', '10', 'make', ...args], {
        cwd: tree, env, log: logFile,
        onLine: (l) => {
          const m = /^\s+(CC|AS)\s+(\S+)$/.exec(l);
          if (m === null) return;
          compiled++;
          if (Date.now() - last < 15_000) return;
          last = Date.now();
          log.info(`  ${label}: ${compiled} files compiled, at ${m[2] ?? ''}`);
        },
      });
      if (r.exitCode !== 0) {
        ok = false;
        break;
      }
    }
    return { ok, text: readFileSync(start, 'utf8').slice(before) };
  };

  let state: string[] | null = null;
  let baseWarnings: string[] | null = null;
  if (doBuild) {
    const how = await log.step('configuring the check build', () => checkConfig(source, tree, buildDir, makeArgs, env, logFile));
    log.info(`check build: ${buildDir}, .config ${how}; targets ${targets.join(' ')} (W=1 on io_uring/)`);
    const b = await log.step(`building the base (${targets.join(' ')}; log: ${logFile.path})`, () => build('base'));
    if (!b.ok) {
      throw new InfraError(`the base tree does not build (${targets.join(' ')}): the toolchain or the config is at fault, not the series`, { details: firstErrors(b.text), logPath: logFile.path });
    }
    state = parseWarnings(b.text);
    baseWarnings = state;
  }

  const rows: CheckRow[] = [];
  let stopped = false;
  for (const [i, p] of series.patches.entries()) {
    const n = i + 1;
    const label = `${n}/${series.patches.length} ${p.file}`;
    const cp = await run('perl', [join(tree, 'scripts/checkpatch.pl'), '--strict', '--no-tree', '--show-types', '--color=never', p.path], { cwd: tree });
    logFile.write(`\n# checkpatch ${p.file} (exit ${cp.exitCode})\n${cp.stdout}${cp.stderr}`);
    const checkpatch = parseCheckpatch(cp.stdout);
    let applies: boolean | null = null;
    let builds: boolean | null = null;
    let buildSec: number | null = null;
    let buildErrors: string[] = [];
    let added: string[] | null = null;
    let commit: string | null = null;
    let applyFailure: { file: string | null; line: number | null } | undefined;
    if (!stopped) {
      const am = await run('git', ['-C', tree, 'am', '-q', '--no-3way', '--no-gpg-sign', p.path], { env: gitIdentityEnv, log: logFile });
      applies = am.exitCode === 0;
      if (!applies) {
        // git am says little about the hunk; git apply -v shows the context it could not find.
        const check = await run('git', ['-C', tree, 'apply', '--check', '-v', p.path]);
        const f = parseApplyFailure(`${am.stdout}\n${am.stderr}\n${check.stdout}\n${check.stderr}`);
        applyFailure = { file: f.file, line: f.line };
        logFile.write(`\n# ${p.file} does not apply\n${f.lines.join('\n')}\n`);
        await run('git', ['-C', tree, 'am', '--abort'], { log: logFile });
        stopped = true;
      } else {
        commit = await git(tree, ['rev-parse', 'HEAD']);
      }
      if (applies && doBuild && state !== null) {
        const tb = Date.now();
        const b = await log.step(`building ${label}`, () => build(p.file));
        buildSec = Math.round((Date.now() - tb) / 100) / 10;
        builds = b.ok;
        if (!b.ok) buildErrors = firstErrors(b.text);
        const step = nextWarnings(state, b.text, touched[i] ?? []);
        state = step.all;
        added = step.added;
      }
    }
    const partial = { index: n, file: p.file, subject: p.subject, applies, ...(applyFailure !== undefined ? { applyFailure } : {}), builds, buildSec, buildErrors, checkpatch, newWarnings: added, commit, boot: null };
    const reasons = patchVerdict(partial);
    rows.push({ ...partial, ok: reasons.length === 0, reasons });
    log.info(`${label}: ${reasons.length === 0 ? 'ok' : reasons.join('; ')}`);
  }

  if (opts.boot !== undefined) {
    // The guest tests are built once, against the uapi of the last applied
    // commit: every commit runs the same binaries, even if tests/guest changes meanwhile.
    const usr = join(buildDir, 'usr');
    await log.step('exporting the series\' uapi headers for the guest tests', () => runOk('make', [...makeArgs, 'headers_install', `INSTALL_HDR_PATH=${usr}`], { cwd: tree, env, log: logFile }));
    const bin = await buildGuestTests(join(usr, 'include'));
    const bootOpts = { tree, buildDir, makeArgs, env, jobs, logFile, bin, tests: opts.boot };
    for (const [i, r] of rows.entries()) {
      if (r.commit === null || r.builds !== true) continue;
      const label = `${r.index}/${rows.length} ${r.file}`;
      const boot = await bootCommit(label, r.commit, bootOpts);
      const reasons = patchVerdict({ ...r, boot });
      rows[i] = { ...r, boot, ok: reasons.length === 0, reasons };
      log.info(`${label}: ${boot.builds ? `${boot.passed} passed, ${boot.failed} failed, ${boot.skipped} skipped` : 'bzImage does not build'}${boot.kernelFailure !== null ? `; ${boot.kernelFailure.type}: ${boot.kernelFailure.title}` : ''} (${boot.sec} s)`);
    }
  }
  const report: CheckReport = {
    schema: 1,
    ok: rows.every((r) => r.ok),
    series: { dir: series.dir, hash: series.hash, patches: series.patches.length },
    source: { id: source.id, baseCommit: source.baseCommit },
    tree,
    buildDir: doBuild ? buildDir : null,
    buildTargets: doBuild ? targets : [],
    baseWarnings,
    seriesNewWarnings: baseWarnings !== null && state !== null ? newWarnings(state, baseWarnings) : null,
    rows,
    log: logFile.path,
    startedAt,
    durationSec: Math.round((Date.now() - t0) / 100) / 10,
  };
  writeJsonAtomic(opts.jsonPath ?? join(paths.results(), 'patches-check.json'), report);
  return report;
}
