// `uringlet patches refresh|check|export`: series hygiene for the maintainer.
// Thin over lib/patches.ts.
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from './types.ts';
import { ExitCode, UserError } from '../lib/errors.ts';
import { fastGuestTests } from '../lib/guest-tests.ts';
import { log } from '../lib/log.ts';
import { checkPatches, exportPatches, refreshPatches, renderChanges, renderCheckTable } from '../lib/patches.ts';
import { paths, repoRoot } from '../lib/paths.ts';

const help = `usage: uringlet patches refresh [--patches DIR] [--dry-run] [--kernel-src DIR [--kernel-ref REF]]
       uringlet patches check   [--patches DIR] [--json PATH] [--no-build] [-j N] [--boot [--boot-tests G,...|all]] [--kernel-src DIR [--kernel-ref REF]]
       uringlet patches export  -v N [--patches DIR] [-o DIR] [--previous REV|DIR] [--to ADDR]... [--cc ADDR]... [--force] [--no-tag]

  refresh  turns uringlet-base..HEAD of the managed uringlet tree back into
           patches/ (git format-patch, "RFC PATCH", numbered, --base); the
           cover letter keeps its subject and hand-written body, its shortlog
           and diffstat are regenerated; unchanged subjects keep their file
           names. Refuses when the tree has uncommitted changes. Prints what
           changed and the range-diff summary.
  check    applies patches/ with git am onto the base in a scratch worktree
           (never the managed trees), runs checkpatch.pl --strict --no-tree on
           each patch and builds each commit incrementally (io_uring/ with W=1
           and the directories the series touches). Prints a table, writes it
           as JSON (default results/patches-check.json); exit 1 if a patch fails.
           --boot then builds each commit's bzImage, boots it (TCG or KVM)
           and runs guest test groups on it (default: ${fastGuestTests.join(',')};
           'all': the whole suite), as ktest.pl does; the commits before the
           one that enables the flag must keep stock io_uring working. Exit 3
           if a commit's kernel crashed, hung or lost SSH.
  export   writes version N to outgoing/vN/ (cover letter from patches/,
           subject prefix "RFC PATCH vN", base-commit trailer, a range-diff
           against v(N-1): the tag uringlet-v(N-1), outgoing/v(N-1)/ or
           --previous) and tags the version uringlet-vN in the kernel source
           repository. Ready for git send-email or b4.`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        patches: { type: 'string' },
        'kernel-src': { type: 'string' },
        'kernel-ref': { type: 'string' },
        'dry-run': { type: 'boolean' },
        json: { type: 'string' },
        'no-build': { type: 'boolean' },
        boot: { type: 'boolean' },
        'boot-tests': { type: 'string' },
        jobs: { type: 'string', short: 'j' },
        version: { type: 'string', short: 'v' },
        output: { type: 'string', short: 'o' },
        previous: { type: 'string' },
        to: { type: 'string', multiple: true },
        cc: { type: 'string', multiple: true },
        force: { type: 'boolean' },
        'no-tag': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UserError((e as Error).message, { details: help.split('\n') });
  }
}

const show = (p: string): string => {
  const r = relative(repoRoot, p);
  return r.startsWith('..') ? p : r;
};

const command: Command = {
  summary: 'series hygiene: refresh patches/ from the uringlet tree, check each patch, export vN for mailing',
  async run(argv) {
    const { values, positionals } = parse(argv);
    const sub = positionals[0];
    if (values.help === true || sub === undefined || sub === 'help') {
      process.stdout.write(help + '\n');
      return sub === undefined && values.help !== true ? 2 : 0;
    }
    if (positionals.length > 1) throw new UserError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
    const source = {
      ...(values['kernel-src'] !== undefined ? { kernelSrc: values['kernel-src'] } : {}),
      ...(values['kernel-ref'] !== undefined ? { kernelRef: values['kernel-ref'] } : {}),
    };
    const patchesDir = values.patches !== undefined ? resolve(values.patches) : paths.patches();

    if (sub === 'refresh') {
      const r = await log.step('refreshing patches/ from the uringlet tree', () => refreshPatches({ ...source, patchesDir, dryRun: values['dry-run'] === true }));
      const out = [
        `${r.tree}: ${r.files.length} commits on uringlet-base (${r.base.slice(0, 12)}..${r.head.slice(0, 12)})`,
        ...renderChanges(r.changes),
        `  cover letter: ${r.coverChanged ? 'shortlog/diffstat/base regenerated, subject and body kept' : 'unchanged'}`,
      ];
      if (r.rangeDiff.length > 0) out.push('range-diff (old patches/ vs new):', ...r.rangeDiff.map((l) => `  ${l}`));
      if (r.rangeDiffLog !== null) out.push(`  full range-diff: ${r.rangeDiffLog}`);
      out.push(
        r.written
          ? `${show(r.patchesDir)}/ rewritten (${r.files.length} patches + cover letter)`
          : values['dry-run'] === true
            ? 'dry run: nothing written'
            : `${show(r.patchesDir)}/ already matches the tree: nothing written`,
      );
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    }

    if (sub === 'check') {
      const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new UserError(`-j needs a positive integer, not ${values.jobs}`);
      const jsonPath = values.json !== undefined ? resolve(values.json) : undefined;
      if (values['boot-tests'] !== undefined && values.boot !== true) throw new UserError('--boot-tests needs --boot');
      const bootTests = values['boot-tests'] === undefined ? fastGuestTests : values['boot-tests'].split(',').map((g) => g.trim()).filter((g) => g !== '');
      if (bootTests.length === 0) throw new UserError('--boot-tests needs at least one test group (or all)');
      const r = await checkPatches({
        ...source,
        patchesDir,
        build: values['no-build'] !== true,
        ...(jobs !== undefined ? { jobs } : {}),
        ...(jsonPath !== undefined ? { jsonPath } : {}),
        ...(values.boot === true ? { boot: bootTests.includes('all') ? [undefined] : bootTests } : {}),
      });
      const out = [renderCheckTable(r.rows), ''];
      if (r.seriesNewWarnings !== null) {
        out.push(`warnings the series adds over the base (${r.buildTargets.join(' ')}, W=1 on io_uring/): ${r.seriesNewWarnings.length}`);
        for (const w of r.seriesNewWarnings.slice(0, 20)) out.push(`  ${w}`);
      } else {
        out.push('not built (--no-build)');
      }
      out.push(`report: ${jsonPath ?? resolve(paths.results(), 'patches-check.json')}`, `log: ${r.log}`);
      out.push(r.ok ? `all ${r.rows.length} patches pass${values.boot === true ? ' (each booted and tested)' : ''}` : `${r.rows.filter((x) => !x.ok).length} of ${r.rows.length} patches FAIL`);
      process.stdout.write(out.join('\n') + '\n');
      if (r.rows.some((x) => (x.boot?.kernelFailure ?? null) !== null)) return ExitCode.kernelFailure;
      return r.ok ? 0 : 1;
    }

    if (sub === 'export') {
      if (values.version === undefined) throw new UserError('patches export needs -v N (the version of the series)', { details: help.split('\n') });
      const version = Number(values.version.replace(/^v/, ''));
      if (!Number.isInteger(version) || version < 1) throw new UserError(`-v needs a version number >= 1, not ${values.version}`);
      const r = await exportPatches({
        ...source,
        version,
        patchesDir,
        ...(values.output !== undefined ? { outDir: resolve(values.output) } : {}),
        ...(values.previous !== undefined ? { previous: values.previous } : {}),
        ...(values.to !== undefined ? { to: values.to } : {}),
        ...(values.cc !== undefined ? { cc: values.cc } : {}),
        force: values.force === true,
        tag: values['no-tag'] !== true,
      });
      const out = [
        `${show(r.outDir)}/: ${r.files.length} files (cover letter + ${r.files.length - 1} patches), base-commit ${r.base.slice(0, 12)}`,
        r.previous !== null ? `range-diff against ${r.previous} in the cover letter` : 'no range-diff (no previous version)',
        ...(r.tag !== null ? [`tagged ${r.tag} = ${r.tip.slice(0, 12)} in the kernel source repository`] : []),
        `send: git send-email --to <list> ${show(r.outDir)}/*.patch   (or b4 send)`,
      ];
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    }
    throw new UserError(`unknown patches subcommand '${sub}' (refresh, check or export)`, { details: help.split('\n') });
  },
};
export default command;
