// Text renderers of a Summary: report.md (LKP-style tables) and the short
// terminal summary. Every loss of uringlet against stock is listed, flagged
// or not; "not run" test suites are said loudly.
import { dirname, join } from 'node:path';
import type { MetricComparison, Verdict } from './compare.ts';
import type { RfcRow, Summary, TestSuiteResult } from './results.ts';

export function ciText(r: RfcRow): string {
  return r.ourRatioCi === undefined ? '—' : `${r.ourRatioCi[0].toFixed(2)}–${r.ourRatioCi[1].toFixed(2)} (${r.ourRatioCiBy ?? 'boots'})`;
}

/** Our ratio against the RFC's: decided only when the boot-level CI is on one side. */
export function rfcStanding(r: RfcRow): string {
  if (r.ourRatio === undefined) return '—';
  if (r.ourRatioCi === undefined) return r.ourRatio > r.rfcRatio ? 'above (no CI)' : 'below (no CI)';
  if (r.ourRatioCi[0] > r.rfcRatio) return 'above';
  if (r.ourRatioCi[1] < r.rfcRatio) return 'below';
  return 'undecided';
}

export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toString();
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export function fmtPct(x: number, signed = true): string {
  if (!Number.isFinite(x)) return 'n/a';
  return `${signed && x > 0 ? '+' : ''}${x.toFixed(1)}%`;
}

function pm(mean: number, covPct: number, n: number): string {
  if (n === 0) return '—';
  return `${fmtNum(mean)} ±${Number.isFinite(covPct) ? covPct.toFixed(1) : '?'}%`;
}

const mark: Record<Verdict, string> = {
  improvement: '▲ better',
  regression: '▼ WORSE',
  'no-change': '~ no sig. change',
  insufficient: '? no verdict',
  failed: '✗ FAILED',
};

export function verdictText(c: MetricComparison): string {
  if (c.verdict === 'regression' && c.knownLoss !== undefined) return '▼ WORSE (known loss)';
  return mark[c.verdict];
}

function changeCell(c: MetricComparison): string {
  const s = fmtPct(c.changePct);
  return c.verdict === 'improvement' || c.verdict === 'regression' ? `**${s}**` : s;
}

function pCell(c: MetricComparison): string {
  return Number.isFinite(c.pAdj) ? c.pAdj.toPrecision(2) : '—';
}

/** Losses: every comparison where uringlet's mean is worse, flagged or not. Primary metrics first. */
export function losses(s: Summary): MetricComparison[] {
  return s.analysis.comparisons
    .filter((c) => c.gainPct < 0 && c.stock.n > 0 && c.uringlet.n > 0)
    .sort((a, b) => Number(b.primary) - Number(a.primary) || a.gainPct - b.gainPct);
}

/** Per test name across arms: fail:runs. */
export function testMatrix(tests: readonly TestSuiteResult[], variant?: string): {
  suite: string;
  name: string;
  cells: Record<string, { fails: number; runs: number } | undefined>;
}[] {
  const rows = new Map<string, { suite: string; name: string; cells: Record<string, { fails: number; runs: number } | undefined> }>();
  for (const s of tests) {
    if (s.state !== 'ran' || (variant !== undefined && s.variant !== variant)) continue;
    for (const t of s.tests) {
      if (t.status === 'skip' && t.fails === 0) continue;
      const key = `${s.suite}\u0000${t.name}`;
      const row = rows.get(key) ?? { suite: s.suite, name: t.name, cells: {} };
      const col = `${s.variant}/${s.arm}`;
      const c = row.cells[col] ?? { fails: 0, runs: 0 };
      c.fails += t.fails;
      c.runs += t.runs;
      row.cells[col] = c;
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

function testColumns(s: Summary): string[] {
  return [...new Set(s.tests.filter((t) => t.state === 'ran').map((t) => `${t.variant}/${t.arm}`))].sort();
}

export const perBootHeader = ['point', 'metric', 'stock boots', 'max/min', 'uringlet boots', 'max/min'];

/** Rows of the per-boot table: primary metrics measured in more than two boots in all. */
export function perBootRows(s: Summary): string[][] {
  const spread = (xs: number[]): string => (xs.length > 1 && Math.min(...xs) > 0 ? (Math.max(...xs) / Math.min(...xs)).toFixed(2) : '—');
  return s.analysis.comparisons
    .filter((c) => c.primary && c.bootMeans !== undefined && c.bootMeans.stock.length + c.bootMeans.uringlet.length > 2)
    .map((c) => {
      const b = c.bootMeans!;
      return [c.point, c.label, b.stock.map(fmtNum).join(', ') || '—', spread(b.stock), b.uringlet.map(fmtNum).join(', ') || '—', spread(b.uringlet)];
    });
}

export function renderMarkdown(s: Summary): string {
  const a = s.analysis;
  const out: string[] = [];
  const w = (line = '') => out.push(line);

  w(`# uringlet vs stock — run ${s.runId}`);
  w();
  w(`**Exit code ${s.exitCode}**${s.complete ? '' : ' (INCOMPLETE RUN)'}: ${s.exitReasons.join('; ') || 'nothing wrong'}`);
  w();
  w(
    `Profile \`${s.profile}\`, ${s.boots.length} boots, started ${s.startedAt}, took ${(s.durationSec / 60).toFixed(1)} min. ` +
      `Host: ${s.host.cpuModel} (${s.host.cpus} CPUs, ${s.host.memoryGiB} GiB), ${s.host.os}, ${s.host.qemu}, ` +
      `accelerator **${s.host.accelerator ?? 'unknown'}**, guest ${s.host.vcpus ?? '?'} vCPUs / ${s.host.guestMemoryMiB ?? '?'} MiB, guest fio ${s.host.guestFio ?? '?'}` +
      (s.host.guestCmdline?.length ? `, guest kernel arguments added by the profile: \`${s.host.guestCmdline.join(' ')}\`` : '') +
      '.',
  );
  w();
  for (const k of s.kernels) {
    const given = k.build?.['given'] === true ? ' (given with --uringlet-kernel, not built from patches/)' : '';
    w(`- kernel **${k.arm}** (${k.variant}): ${k.release ?? 'release unknown'}${k.bzImage ? ` — \`${k.bzImage}\`` : ''}${given}`);
  }
  w();

  // --- functional tests -------------------------------------------------------
  w('## Functional tests');
  w();
  const notRun = s.tests.filter((t) => t.state === 'not-run');
  for (const t of notRun) w(`> **NOT RUN: ${t.suite} on ${t.variant}/${t.arm}** — ${t.reason ?? 'no reason given'}`);
  if (notRun.length > 0) w();
  const cols = testColumns(s);
  const matrix = testMatrix(s.tests);
  if (matrix.length === 0) {
    w('No functional test results.');
  } else {
    const failing = matrix.filter((r) => Object.values(r.cells).some((c) => (c?.fails ?? 0) > 0));
    const total = matrix.length;
    w(`${total} tests, ${failing.length} with failures. Cells are \`fail:runs\`.`);
    w();
    w(`| suite | test | ${cols.join(' | ')} |`);
    w(`|---|---|${cols.map(() => '---').join('|')}|`);
    for (const r of failing) {
      w(`| ${r.suite} | ${r.name} | ${cols.map((c) => (r.cells[c] ? `${r.cells[c]!.fails}:${r.cells[c]!.runs}` : '—')).join(' | ')} |`);
    }
    const suites = [...new Set(s.tests.filter((t) => t.state === 'ran').map((t) => t.suite))];
    for (const suite of suites) {
      const rows = matrix.filter((r) => r.suite === suite);
      const sums = cols.map((c) => {
        const f = rows.reduce((x, r) => x + (r.cells[c]?.fails ?? 0), 0);
        const n = rows.reduce((x, r) => x + (r.cells[c]?.runs ?? 0), 0);
        return `${f}:${n}`;
      });
      w(`| ${suite} | *all ${rows.length} tests* | ${sums.join(' | ')} |`);
    }
  }
  w();

  // --- kernel failures -----------------------------------------------------------
  if (s.kernelFailures.length > 0) {
    w('## Kernel failures');
    w();
    for (const f of s.kernelFailures) {
      w(`- **${f.variant}/${f.arm} boot ${f.boot}: ${f.type}: ${f.title}**${f.log ? ` (console: \`${f.log}\`)` : ''}`);
      for (const d of f.details.slice(0, 8)) w(`  - \`${d}\``);
    }
    w();
  }

  // --- benchmarks -------------------------------------------------------------------
  w('## Benchmarks');
  w();
  w(
    `Mean of each kernel's runs ±%stddev (coefficient of variation); %change = uringlet vs stock. ` +
      `A change is marked (**bold**, ▲/▼) only if Mann-Whitney p, adjusted (${a.settings.correction === 'bh' ? 'Benjamini-Hochberg' : a.settings.correction}) over the primary metrics (★) and separately over the others, is < ${a.settings.alpha}, ` +
      `|%change| ≥ ${a.settings.practicalThresholdPct}% and |%change| > the A/A noise floor (stock vs stock, ${a.settings.aa === 'split' ? 'odd vs even stock boots' : 'a separately booted stock arm'}).`,
  );
  if (s.perfReport !== undefined) {
    w();
    w(`Where the guest's CPU time goes, per I/O, by thread and symbol on both kernels (one extra run per point and boot under perf record, not in these numbers): [${s.perfReport}](${s.perfReport}).`);
  }
  if (a.minAttainableP !== undefined && a.minAttainableP >= a.settings.alpha / 5) {
    w();
    w(
      `> Power: with these sample sizes the smallest reachable p is ${a.minAttainableP.toPrecision(2)}; after correcting for ${a.comparisons.filter((c) => c.primary).length} primary comparisons few or no changes can be marked. Use more boots/runs (nightly profile) for verdicts.`,
    );
  }
  w();
  const ls = losses(s);
  const lossesPrimary = ls.filter((c) => c.primary);
  w(`### Where uringlet is slower (${lossesPrimary.length} of ${a.comparisons.filter((c) => c.primary).length} points on the primary metric)`);
  w();
  if (ls.length === 0) w('Uringlet is not worse than stock on any measured metric.');
  else {
    w('| point | metric | stock | uringlet | %change | verdict |');
    w('|---|---|---|---|---|---|');
    for (const c of ls) {
      w(`| ${c.point} | ${c.label}${c.primary ? ' (primary)' : ''} | ${fmtNum(c.stock.mean)} | ${fmtNum(c.uringlet.mean)} | ${changeCell(c)} | ${verdictText(c)} |`);
    }
  }
  w();

  const workloads = [...new Set(s.points.map((p) => p.workload))];
  for (const wid of workloads) {
    const pts = s.points.filter((p) => p.workload === wid);
    const first = pts[0]!;
    w(`### ${wid} — ${first.title}`);
    w();
    if (first.knownLoss) {
      w(`Known loss: ${first.knownLoss}`);
      w();
    }
    w(`| ${first.axisName ?? 'point'} | stock ±%stddev | %change | uringlet ±%stddev | metric | p(adj) | A/A floor | verdict |`);
    w('|---|---|---|---|---|---|---|---|');
    for (const p of pts) {
      const rows = a.comparisons.filter((c) => c.point === p.key).sort((x, y) => Number(y.primary) - Number(x.primary));
      for (const c of rows) {
        w(
          `| ${p.axisValue ?? '—'} | ${pm(c.stock.mean, c.stock.covPct, c.stock.n)} | ${changeCell(c)} | ${pm(c.uringlet.mean, c.uringlet.covPct, c.uringlet.n)} | ` +
            `${c.label} (${c.unit})${c.primary ? ' ★' : ''} | ${pCell(c)} | ${c.noiseFloorPct === undefined ? '—' : fmtPct(c.noiseFloorPct, false)} | ${verdictText(c)} |`,
        );
      }
    }
    const lat = s.analysis.latency.filter((l) => pts.some((p) => p.key === l.point) && l.arm !== 'stock-aa');
    if (lat.length > 0) {
      w();
      w('Latency percentiles from histograms merged over all runs (µs):');
      w();
      w('| point | kind | kernel | I/Os | p50 | p90 | p99 | p99.9 |');
      w('|---|---|---|---|---|---|---|---|');
      for (const l of lat) {
        w(`| ${l.point.split('@')[1] ?? '—'} | ${l.hist} | ${l.arm} | ${l.n} | ${fmtNum(l.us['50']!)} | ${fmtNum(l.us['90']!)} | ${fmtNum(l.us['99']!)} | ${fmtNum(l.us['99.9']!)} |`);
      }
    }
    w();
  }

  // --- RFC -------------------------------------------------------------------------------
  w('## Against the 2022 RFC');
  w();
  w(`${s.rfc.source}. Ratio = uringlet IOPS / stock IOPS on \`${s.rfc.workload}\`.`);
  w();
  w('| iodepth | RFC stock | RFC uringlet | RFC ratio | our stock | our uringlet | our ratio | 95 % CI | vs the RFC ratio |');
  w('|---|---|---|---|---|---|---|---|---|');
  for (const r of s.rfc.rows) {
    w(
      `| ${r.depth} | ${fmtNum(r.rfcStockIops)} | ${fmtNum(r.rfcUringletIops)} | ${r.rfcRatio.toFixed(2)} | ${r.ourStockIops === undefined ? 'not measured' : fmtNum(r.ourStockIops)} | ` +
        `${r.ourUringletIops === undefined ? '—' : fmtNum(r.ourUringletIops)} | ${r.ourRatio === undefined ? '—' : r.ourRatio.toFixed(2)} | ` +
        `${ciText(r)} | ${rfcStanding(r)} |`,
    );
  }
  w();
  w('The RFC measured 180 s runs on 4 vCPUs; absolute IOPS are not comparable across machines, ratios are.');
  w('The CI is a bootstrap that resamples whole boots, runs within a boot not being independent: by boot pairs (each stock boot with the uringlet boot after it, so that host drift over the run cancels), or by boots when they cannot be paired. "above"/"below" only when the whole interval is on that side of the RFC ratio.');
  w();

  // --- per boot ---------------------------------------------------------------------------
  const perBoot = perBootRows(s);
  if (perBoot.length > 0) {
    w('## Per boot (primary metrics)');
    w();
    w('Mean of each boot\'s runs, in boot order, and the largest boot mean over the smallest. A spread between boots far above the ±%stddev within them is a state of the boot (where the scheduler put the tasks, the host at that time), not of the kernel: the CIs above resample whole boots for that reason.');
    w();
    w(`| ${perBootHeader.join(' | ')} |`);
    w(`|${perBootHeader.map(() => '---|').join('')}`);
    for (const r of perBoot) w(`| ${r.join(' | ')} |`);
    w();
  }

  // --- noise ------------------------------------------------------------------------------
  w('## Noise floor (A/A: stock against stock)');
  w();
  const fp = a.aaFalsePositives;
  w(
    `${a.aa.length} A/A comparisons; ${fp.significant} of ${fp.total} came out "significant" at p < ${a.settings.alpha} before correction` +
      `${fp.total > 0 && fp.significant / fp.total > 2 * a.settings.alpha ? ' — **more than chance: boot-to-boot variance dominates; trust only changes well above the floor**' : ''}.`,
  );
  w();
  const primaryOf = new Map(s.points.map((p) => [p.key, p.primary]));
  const aaPrimary = a.aa.filter((x) => primaryOf.get(x.point) === x.metric);
  if (aaPrimary.length > 0) {
    w('Primary metrics (all metrics are in `summary.json`):');
    w();
    w('| point | metric | A/A %change | p | n |');
    w('|---|---|---|---|---|');
    for (const x of aaPrimary) w(`| ${x.point} | ${x.metric} | ${fmtPct(x.changePct)} | ${Number.isFinite(x.p) ? x.p.toPrecision(2) : '—'} | ${x.n[0]}+${x.n[1]} |`);
    w();
  }

  if (a.failures.length > 0 || s.smoke.some((x) => !x.ok)) {
    w('## Failed runs');
    w();
    for (const f of a.failures) w(`- ${f.point} on ${f.arm} (boot ${f.boot}, run ${f.rep}): ${f.error}`);
    for (const x of s.smoke.filter((y) => !y.ok)) w(`- smoke ${x.point} on ${x.variant}/${x.arm}: ${x.error ?? 'failed'}`);
    w();
  }
  if (s.smoke.length > 0) {
    w(`Smoke runs (not compared): ${s.smoke.filter((x) => x.ok).length} of ${s.smoke.length} ok.`);
    w();
  }
  w('Raw fio JSON, probe output, console logs, TAP and the exact commands are in this directory (`raw/`, `logs/`, `tests/`, `commands.txt`); all numbers above are in `summary.json`.');
  return out.join('\n') + '\n';
}

/** A few lines for the terminal. */
export function renderTerminal(s: Summary, reportPath: string): string {
  const a = s.analysis;
  const out: string[] = [];
  out.push(`uringlet compare ${s.runId}: exit ${s.exitCode} — ${s.exitReasons.join('; ') || 'nothing wrong'}`);
  for (const c of a.comparisons.filter((x) => x.primary)) {
    out.push(`  ${c.point.padEnd(38)} ${c.label.padEnd(10)} ${fmtNum(c.stock.mean).padStart(9)} -> ${fmtNum(c.uringlet.mean).padStart(9)} ${fmtPct(c.changePct).padStart(8)}  ${verdictText(c)}`);
  }
  const suites = s.tests;
  const ran = suites.filter((t) => t.state === 'ran');
  const fails = ran.reduce((x, t) => x + t.tests.reduce((y, z) => y + z.fails, 0), 0);
  out.push(`  tests: ${ran.length} suite runs, ${fails} failures${suites.some((t) => t.state === 'not-run') ? `; NOT RUN: ${suites.filter((t) => t.state === 'not-run').map((t) => `${t.suite}@${t.arm}`).join(', ')}` : ''}`);
  if (s.kernelFailures.length > 0) out.push(`  KERNEL FAILURES: ${s.kernelFailures.map((f) => `${f.arm}#${f.boot} ${f.type}`).join(', ')}`);
  out.push(`  report: ${reportPath}`);
  if (s.perfReport !== undefined) out.push(`  guest CPU profiles: ${join(dirname(reportPath), s.perfReport)}`);
  return out.join('\n') + '\n';
}
