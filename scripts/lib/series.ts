// The patch series in patches/: which files, in which order, and applying
// them with `git am` onto the base in the managed uringlet worktree.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors.ts';
import { LogFile } from './log.ts';
import { run, runOk } from './proc.ts';
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

/** Subject of a format-patch file, unfolded, without the [PATCH n/m] prefix. */
export function patchSubject(text: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith('Subject: '));
  if (i < 0) return '(no subject)';
  let s = (lines[i] ?? '').slice('Subject: '.length);
  for (let j = i + 1; j < lines.length && /^[ \t]/.test(lines[j] ?? ''); j++) s += ' ' + (lines[j] ?? '').trim();
  return s.replace(/^\[[^\]]*\]\s*/, '').trim();
}

/** Pure: order of the patch files given the directory listing and an optional `series` file. */
export function seriesOrder(files: string[], seriesFile: string | undefined): string[] {
  if (seriesFile !== undefined) {
    const listed = seriesFile
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => l !== '');
    const missing = listed.filter((f) => !files.includes(f));
    if (missing.length > 0) throw new UserError(`patches/series names files that do not exist: ${missing.join(', ')}`);
    return listed;
  }
  return files.filter((f) => f.endsWith('.patch') && !/^0000-cover-letter\.patch$/.test(f) && !/^v\d+-0000-cover-letter\.patch$/.test(f)).sort();
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

/** Pure: the file/hunk lines worth showing from a failed `git am` / `git apply`. */
export function failedHunk(output: string): string[] {
  const keep = output
    .split('\n')
    .filter((l) => /^error: |^Checking patch|^Hunk #|while searching for|^Patch failed at/.test(l) || /^\t/.test(l));
  return keep.slice(0, 25);
}

function stampPath(gitDir: string): string {
  return join(gitDir, 'uringlet-series-hash');
}

/**
 * Put `series` on branch `uringlet` of `tree`, starting from the base.
 * Does nothing when the same series is already applied. On failure the tree
 * is reset to the base, clean, and a UserError names the patch and hunk.
 */
export async function applySeries(tree: string, series: Series, logFile: LogFile): Promise<'applied' | 'unchanged'> {
  const gitDir = (await runOk('git', ['-C', tree, 'rev-parse', '--absolute-git-dir'])).stdout.trim();
  const stamp = stampPath(gitDir);
  const head = (await runOk('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
  if (existsSync(stamp)) {
    const [hash, commit] = readFileSync(stamp, 'utf8').trim().split(' ');
    if (hash === series.hash && commit === head) return 'unchanged';
  }
  const g = (args: string[]) => run('git', ['-C', tree, ...args], { env: gitIdentityEnv, log: logFile });
  await runOk('git', ['-C', tree, 'checkout', '-q', '-f', '-B', 'uringlet', BASE_TAG], { env: gitIdentityEnv, log: logFile });
  await g(['clean', '-q', '-fd']);
  for (const p of series.patches) {
    const r = await g(['am', '-q', '--no-3way', p.path]);
    if (r.exitCode !== 0) {
      const check = await run('git', ['-C', tree, 'apply', '--check', '-v', p.path]);
      await g(['am', '--abort']);
      await runOk('git', ['-C', tree, 'checkout', '-q', '-f', '-B', 'uringlet', BASE_TAG], { env: gitIdentityEnv, log: logFile });
      await g(['clean', '-q', '-fd']);
      throw new UserError(`patch ${p.file} ("${p.subject}") does not apply to ${BASE_TAG}`, {
        details: failedHunk(`${r.stdout}\n${r.stderr}\n${check.stdout}\n${check.stderr}`),
        logPath: logFile.path,
      });
    }
  }
  const newHead = (await runOk('git', ['-C', tree, 'rev-parse', 'HEAD'])).stdout.trim();
  writeFileSync(stamp, `${series.hash} ${newHead}\n`);
  return 'applied';
}
