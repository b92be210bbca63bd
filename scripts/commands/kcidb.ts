// `uringlet kcidb`: a results directory as KernelCI KCIDB JSON (schema 4.4),
// ready for `kcidb-submit`. Reads summary.json (and the builds' metadata it
// carries); optionally copies the build logs and configs into the results
// directory so the report can link to them.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { loadRun } from '../lib/trend.ts';
import { originPattern, patchsetHash, toKcidb, validateKcidb, type KcidbOptions } from '../lib/kcidb.ts';
import type { BuildMetadata } from '../lib/metadata.ts';
import type { Summary } from '../lib/results.ts';
import { readSeries } from '../lib/series.ts';
import { paths } from '../lib/paths.ts';

const help = `usage: uringlet kcidb <results-dir> [options]

  --origin NAME      KCIDB origin, [a-z0-9_]+ (default uringlet); ids are "<origin>:<run-id>/..."
  -o, --output FILE  write the JSON here (atomically) instead of stdout
  --url-base URL     prefix for log/config URLs (where the results directory is published);
                     without it they are paths relative to the results directory
  --collect          copy the build logs and .config files named in the builds' metadata into
                     <results-dir>/builds/ so the report can link to them
  --patches DIR      patch directory for the KCIDB patchset hash (default: patches/ of this checkout;
                     used only when it is the series that was built)

exit codes: 0 written; 2 bad input (missing or unreadable summary.json, bad origin)`;

function metaOf(b: unknown): Partial<BuildMetadata> | undefined {
  return typeof b === 'object' && b !== null ? (b as Partial<BuildMetadata>) : undefined;
}

/** Run-relative paths of build logs/configs: already in the directory, or copied there with --collect. */
function buildFiles(dir: string, s: Summary, collect: boolean): NonNullable<KcidbOptions['buildFiles']> {
  const out: NonNullable<KcidbOptions['buildFiles']> = {};
  for (const k of s.kernels) {
    const key = `${k.kernel}-${k.variant}`;
    const m = metaOf(k.build);
    const entry: { log?: string; config?: string } = {};
    for (const [what, rel, src] of [
      ['log', join('builds', `${key}.log`), m?.artifacts?.log],
      ['config', join('builds', `${key}.config`), m?.artifacts?.config],
    ] as const) {
      const dest = join(dir, rel);
      if (!existsSync(dest) && collect && src !== undefined && existsSync(src)) {
        mkdirSync(join(dir, 'builds'), { recursive: true });
        writeFileAtomic(dest, readFileSync(src));
      }
      if (existsSync(dest)) entry[what] = rel;
    }
    out[key] = entry;
  }
  return out;
}

const command: Command = {
  summary: 'export a results directory as KernelCI KCIDB JSON (schema 4.4) for kcidb-submit',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          origin: { type: 'string', default: 'uringlet' },
          output: { type: 'string', short: 'o' },
          'url-base': { type: 'string' },
          collect: { type: 'boolean', default: false },
          patches: { type: 'string' },
          help: { type: 'boolean', short: 'h', default: false },
        },
        allowPositionals: true,
        strict: true,
      },
      help,
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UserError('give exactly one results directory', { details: help.split('\n') });
    if (!originPattern.test(values.origin)) throw new UserError(`--origin '${values.origin}': KCIDB origins are lowercase letters, digits and _`);
    const base = values['url-base'];
    if (base !== undefined && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(base)) throw new UserError(`--url-base '${base}' is not an absolute URL`);

    const run = loadRun(positionals[0]!);
    const s = run.summary;

    // The KCIDB patchset hash, when patches/ is the series the uringlet kernel was built from.
    let psHash: string | undefined;
    const built = s.kernels.map((k) => metaOf(k.build)?.series?.hash).find((h): h is string => typeof h === 'string');
    const pdir = values.patches ?? paths.patches();
    if (built !== undefined && existsSync(pdir)) {
      const series = readSeries(pdir);
      if (series.hash === built) psHash = patchsetHash(series.patches.map((p) => readFileSync(p.path)));
    }

    const report = toKcidb(s, {
      origin: values.origin,
      ...(base !== undefined ? { urlBase: base } : {}),
      buildFiles: buildFiles(run.dir, s, values.collect),
      ...(psHash !== undefined ? { patchsetHash: psHash } : {}),
    });
    const problems = validateKcidb(report);
    if (problems.length > 0) throw new Error(`generated KCIDB data does not validate (a bug in kcidb.ts):\n${problems.slice(0, 20).join('\n')}`);
    const text = JSON.stringify(report, null, 2) + '\n';
    if (values.output === undefined) process.stdout.write(text);
    else {
      writeFileAtomic(values.output, text);
      process.stderr.write(`uringlet kcidb: ${report.checkouts.length} checkouts, ${report.builds.length} builds, ${report.tests.length} tests -> ${values.output}\n`);
    }
    return 0;
  },
};

export default command;
