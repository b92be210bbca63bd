// `uringlet trend`: tonight's comparison run against last night's (or a
// series over many runs). Writes trend.json and trend.md into the current run.
import { join } from 'node:path';
import { type Command, parseCommandArgs } from './types.ts';
import { UserError } from '../lib/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../lib/atomic.ts';
import {
  computeTrend,
  defaultSettings,
  historySeries,
  listHistory,
  loadRun,
  previousOf,
  renderHistory,
  renderTrendMarkdown,
  renderTrendTerminal,
  type TrendSettings,
} from '../lib/trend.ts';

const help = `usage: uringlet trend --previous DIR --current DIR [options]
       uringlet trend --history DIR --current DIR [options]   (previous = newest earlier run in DIR)
       uringlet trend --history DIR [--last N]                 (per-metric series, nothing written)

  --previous DIR     last night's results/<run-id> (or its summary.json)
  --current DIR      tonight's results/<run-id>; trend.json and trend.md are written here
  --history DIR      a directory of many results/<run-id> directories
  --threshold PCT    smallest change (in %) that can be a regression (default ${defaultSettings.thresholdPct})
  --alpha A          significance level after Benjamini-Hochberg adjustment (default ${defaultSettings.alpha})
  --last N           runs in the history table (default 10)
  --all-metrics      history: secondary metrics too (default: primary only)
  --metric TEXT      history: only point/metric keys containing TEXT
  --json             history: print JSON instead of a table

exit codes: 0 no significant regression and no newly failing test (or no earlier run);
            1 a significant regression or a test that passed before and fails now;
            2 bad input (missing or incompatible summary.json)`;

function num(v: string | undefined, name: string, dflt: number, check: (n: number) => boolean): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UserError(`--${name}: bad value '${v}'`, { details: help.split('\n') });
  return n;
}

const command: Command = {
  summary: 'compare tonight\'s run with last night\'s (per metric, with spread); history of many runs',
  async run(argv) {
    const parsed = parseCommandArgs(
      {
        args: argv,
        options: {
          previous: { type: 'string' },
          current: { type: 'string' },
          history: { type: 'string' },
          threshold: { type: 'string' },
          alpha: { type: 'string' },
          last: { type: 'string' },
          'all-metrics': { type: 'boolean', default: false },
          metric: { type: 'string' },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h', default: false },
        },
        strict: true,
      },
      help,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const settings: TrendSettings = {
      ...defaultSettings,
      thresholdPct: num(values.threshold, 'threshold', defaultSettings.thresholdPct, (n) => n >= 0),
      alpha: num(values.alpha, 'alpha', defaultSettings.alpha, (n) => n > 0 && n < 1),
    };
    const last = num(values.last, 'last', 10, (n) => Number.isInteger(n) && n > 0);

    if (values.current === undefined) {
      if (values.history === undefined) throw new UserError('give --previous and --current, or --history', { details: help.split('\n') });
      const notes: string[] = [];
      const h = historySeries(listHistory(values.history, notes), { last, allMetrics: values['all-metrics'], ...(values.metric !== undefined ? { filter: values.metric } : {}) });
      if (h.runs.length === 0) throw new UserError(`no finished runs (directories with summary.json) in ${values.history}`);
      process.stdout.write(values.json ? JSON.stringify(h, null, 2) + '\n' : renderHistory(h));
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      return 0;
    }

    const cur = loadRun(values.current);
    let prev;
    if (values.previous !== undefined) prev = loadRun(values.previous);
    else if (values.history !== undefined) {
      const notes: string[] = [];
      const hist = listHistory(values.history, notes);
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      prev = previousOf(hist, cur);
      if (prev === undefined) {
        process.stdout.write(`uringlet trend: no earlier ${cur.summary.profile} run on ${cur.summary.host.accelerator ?? 'this accelerator'} in ${values.history}: nothing to compare ${cur.summary.runId} with (first night)\n`);
        return 0;
      }
      const h = historySeries([...hist.filter((x) => x.summary.startedAt < cur.summary.startedAt && x.summary.runId !== cur.summary.runId), cur], { last, ...(values.metric !== undefined ? { filter: values.metric } : {}) });
      writeFileAtomic(join(cur.dir, 'trend-history.md'), renderHistory(h));
    } else {
      throw new UserError('--current needs --previous DIR or --history DIR', { details: help.split('\n') });
    }
    if (prev.summary.runId === cur.summary.runId) throw new UserError(`--previous and --current are the same run (${cur.summary.runId})`);

    const report = computeTrend(prev, cur, settings);
    const md = join(cur.dir, 'trend.md');
    writeJsonAtomic(join(cur.dir, 'trend.json'), report);
    writeFileAtomic(md, renderTrendMarkdown(report));
    process.stdout.write(renderTrendTerminal(report, md));
    return report.exitCode;
  },
};

export default command;
