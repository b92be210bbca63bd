// report.html: one self-contained file (inline CSS and SVG, no scripts, no
// external requests) with the charts a maintainer looks at first: IOPS
// against iodepth per kernel with error bars, merged latency percentiles,
// and the RFC's published ratios beside ours.
import type { MetricComparison } from './compare.ts';
import type { Summary } from './results.ts';
import { ciText, fmtNum, fmtPct, losses, perBootHeader, perBootRows, rfcStanding, testMatrix, verdictText } from './report.ts';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const colors = { stock: '#4e79a7', uringlet: '#e15759', rfc: '#9c755f', aa: '#76b7b2' } as const;

export interface SeriesPoint {
  x: number;
  y: number;
  /** Half-height of the error bar. */
  err?: number;
}
export interface Series {
  name: string;
  color: string;
  points: SeriesPoint[];
  dashed?: boolean;
}

const W = 560;
const H = 300;
const M = { l: 70, r: 20, t: 34, b: 46 };

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Line chart; x on a log2 scale when all x are powers of two (iodepth). */
export function lineChart(opts: { title: string; xLabel: string; yLabel: string; series: Series[]; refY?: number }): string {
  const all = opts.series.flatMap((s) => s.points);
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  if (xs.length === 0) return '';
  const log = xs.every((x) => x > 0 && Number.isInteger(Math.log2(x)));
  const fx = (x: number) => (log ? Math.log2(x) : x);
  const x0 = fx(xs[0]!);
  const x1 = fx(xs[xs.length - 1]!);
  const yMax = niceMax(Math.max(...all.map((p) => p.y + (p.err ?? 0)), opts.refY ?? 0) * 1.05);
  const px = (x: number) => M.l + (x1 === x0 ? (W - M.l - M.r) / 2 : ((fx(x) - x0) / (x1 - x0)) * (W - M.l - M.r));
  const py = (y: number) => H - M.b - (y / yMax) * (H - M.t - M.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(opts.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.l - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${esc(fmtNum(y))}</text>`);
  }
  for (const x of xs) parts.push(`<text x="${px(x)}" y="${H - M.b + 16}" text-anchor="middle" font-size="11">${x}</text>`);
  parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/>`);
  parts.push(`<line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}" stroke="#333"/>`);
  parts.push(`<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(opts.xLabel)}</text>`);
  parts.push(`<text x="14" y="${(M.t + H - M.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">${esc(opts.yLabel)}</text>`);
  if (opts.refY !== undefined) {
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${py(opts.refY)}" y2="${py(opts.refY)}" stroke="#888" stroke-dasharray="2 3"/>`);
  }
  opts.series.forEach((s, si) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const p of pts) {
      if (p.err !== undefined && p.err > 0) {
        const a = py(Math.max(0, p.y - p.err));
        const b = py(p.y + p.err);
        const cx = px(p.x);
        parts.push(`<path d="M${cx} ${a}V${b}M${cx - 4} ${a}h8M${cx - 4} ${b}h8" stroke="${s.color}" class="errbar"/>`);
      }
      parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(`${s.name}: ${fmtNum(p.y)}${p.err ? ` ±${fmtNum(p.err)}` : ''} at ${p.x}`)}</title></circle>`);
    }
    const ly = M.t + 4 + si * 16;
    parts.push(`<rect x="${W - M.r - 150}" y="${ly}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${W - M.r - 132}" y="${ly + 5}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Grouped bars on a log10 scale (latency percentiles span decades). */
export function barChart(opts: { title: string; groups: string[]; series: { name: string; color: string; values: (number | undefined)[] }[]; yLabel: string }): string {
  const vals = opts.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && v > 0);
  if (vals.length === 0) return '';
  const lo = Math.floor(Math.log10(Math.min(...vals)));
  const hi = Math.ceil(Math.log10(Math.max(...vals)) + 1e-9);
  const span = Math.max(1, hi - lo);
  const py = (v: number) => H - M.b - ((Math.log10(v) - lo) / span) * (H - M.t - M.b);
  const gw = (W - M.l - M.r) / opts.groups.length;
  const bw = (gw * 0.7) / opts.series.length;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(opts.title)}</text>`);
  for (let e = lo; e <= hi; e++) {
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${py(10 ** e)}" y2="${py(10 ** e)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.l - 6}" y="${py(10 ** e) + 4}" text-anchor="end" font-size="11">${esc(fmtNum(10 ** e))}</text>`);
  }
  parts.push(`<text x="14" y="${(M.t + H - M.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">${esc(opts.yLabel)}</text>`);
  opts.groups.forEach((g, gi) => {
    const gx = M.l + gi * gw + gw * 0.15;
    opts.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined || !(v > 0)) return;
      const y = py(v);
      parts.push(`<rect x="${(gx + si * bw).toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - M.b - y).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name} ${g}: ${fmtNum(v)}`)}</title></rect>`);
    });
    parts.push(`<text x="${M.l + gi * gw + gw / 2}" y="${H - M.b + 16}" text-anchor="middle" font-size="11">${esc(g)}</text>`);
  });
  parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/>`);
  opts.series.forEach((s, si) => {
    const ly = M.t + 4 + si * 16;
    parts.push(`<rect x="${M.l + 10}" y="${ly}" width="12" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${M.l + 28}" y="${ly + 9}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function verdictClass(c: MetricComparison): string {
  if (c.verdict === 'regression') return 'bad';
  if (c.verdict === 'improvement') return 'good';
  if (c.verdict === 'failed') return 'bad';
  return c.gainPct < 0 ? 'worse' : '';
}

function table(head: string[], rows: string[][], rowClass?: (i: number) => string): string {
  return (
    `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r, i) => `<tr class="${rowClass?.(i) ?? ''}">${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

const css = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
tr.bad td{background:#fde2e2}tr.good td{background:#e1f5e1}tr.worse td{background:#fff6e0}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}.ok{background:#e1f5e1}.fail{background:#fde2e2}
.warn{background:#fff3cd;padding:8px 12px;border-left:4px solid #e0a800;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee}
code{background:#f5f5f5;padding:0 3px}
`;

/** IOPS (or the primary metric) against the axis, one series per kernel with ±stddev bars. */
function primaryChart(s: Summary, workload: string): string {
  const pts = s.points.filter((p) => p.workload === workload && p.axisValue !== undefined);
  if (pts.length < 2) return '';
  const rows = s.analysis.comparisons.filter((c) => c.workload === workload && c.primary && c.axisValue !== undefined);
  if (rows.length === 0) return '';
  const mk = (k: 'stock' | 'uringlet'): SeriesPoint[] =>
    rows
      .filter((c) => c[k].n > 0)
      .map((c) => ({ x: c.axisValue!, y: c[k].mean, ...(Number.isFinite(c[k].stddev) ? { err: c[k].stddev } : {}) }));
  const first = rows[0]!;
  return lineChart({
    title: `${workload}: ${first.label} vs ${pts[0]!.axisName ?? 'axis'}`,
    xLabel: pts[0]!.axisName ?? '',
    yLabel: `${first.label} (${first.unit}), mean ± stddev`,
    series: [
      { name: 'stock', color: colors.stock, points: mk('stock') },
      { name: 'uringlet', color: colors.uringlet, points: mk('uringlet') },
    ],
  });
}

function latencyCharts(s: Summary, workload: string): string[] {
  const out: string[] = [];
  for (const p of s.points.filter((x) => x.workload === workload)) {
    for (const hist of [...new Set(s.analysis.latency.filter((l) => l.point === p.key).map((l) => l.hist))]) {
      const ls = s.analysis.latency.filter((l) => l.point === p.key && l.hist === hist && l.arm !== 'stock-aa');
      if (ls.length === 0) continue;
      const groups = ['50', '90', '99', '99.9'];
      out.push(
        barChart({
          title: `${p.key}: ${hist} latency percentiles`,
          groups: groups.map((g) => `p${g}`),
          yLabel: 'µs (log scale), merged histograms',
          series: ls.map((l) => ({ name: `${l.arm} (${l.n} I/Os)`, color: l.arm === 'stock' ? colors.stock : colors.uringlet, values: groups.map((g) => l.us[g]) })),
        }),
      );
    }
  }
  return out;
}

function rfcChart(s: Summary): string {
  const rows = s.rfc.rows;
  const ours = rows.filter((r) => r.ourRatio !== undefined).map((r) => ({ x: r.depth, y: r.ourRatio! }));
  return lineChart({
    title: 'uringlet/stock IOPS ratio: RFC (2022) vs this run',
    xLabel: 'iodepth',
    yLabel: 'ratio (1.0 = parity)',
    refY: 1,
    series: [
      { name: 'RFC published', color: colors.rfc, points: rows.map((r) => ({ x: r.depth, y: r.rfcRatio })), dashed: true },
      { name: 'this run', color: colors.uringlet, points: ours },
    ],
  });
}

export function renderHtml(s: Summary): string {
  const a = s.analysis;
  const b: string[] = [];
  const ok = s.exitCode === 0;
  b.push(`<h1>uringlet vs stock — ${esc(s.runId)}</h1>`);
  b.push(`<div class="banner ${ok ? 'ok' : 'fail'}">Exit code ${s.exitCode}${s.complete ? '' : ' (INCOMPLETE RUN)'}: ${esc(s.exitReasons.join('; ') || 'nothing wrong')}</div>`);
  b.push(
    `<p>Profile <code>${esc(s.profile)}</code>, ${s.boots.length} boots, ${(s.durationSec / 60).toFixed(1)} min. Host ${esc(s.host.cpuModel)} (${s.host.cpus} CPUs), ${esc(s.host.qemu)}, accelerator <b>${esc(s.host.accelerator ?? 'unknown')}</b>, guest ${s.host.vcpus ?? '?'} vCPUs.</p>`,
  );
  b.push('<ul>' + s.kernels.map((k) => `<li><b>${esc(k.arm)}</b> (${esc(k.variant)}): ${esc(k.release ?? 'release unknown')}</li>`).join('') + '</ul>');

  b.push('<h2>Functional tests</h2>');
  for (const t of s.tests.filter((x) => x.state === 'not-run')) b.push(`<div class="warn">NOT RUN: ${esc(t.suite)} on ${esc(t.variant)}/${esc(t.arm)} — ${esc(t.reason ?? '')}</div>`);
  const cols = [...new Set(s.tests.filter((t) => t.state === 'ran').map((t) => `${t.variant}/${t.arm}`))].sort();
  const tm = testMatrix(s.tests);
  const failing = tm.filter((r) => Object.values(r.cells).some((c) => (c?.fails ?? 0) > 0));
  b.push(`<p>${tm.length} tests, ${failing.length} with failures (cells are fail:runs).</p>`);
  if (failing.length > 0) {
    b.push(
      table(
        ['suite', 'test', ...cols],
        failing.map((r) => [esc(r.suite), esc(r.name), ...cols.map((c) => (r.cells[c] ? `${r.cells[c]!.fails}:${r.cells[c]!.runs}` : '—'))]),
        () => 'bad',
      ),
    );
  }
  if (s.kernelFailures.length > 0) {
    b.push('<h2>Kernel failures</h2><ul>' + s.kernelFailures.map((f) => `<li class="bad"><b>${esc(`${f.variant}/${f.arm} boot ${f.boot}: ${f.type}: ${f.title}`)}</b><pre>${esc(f.details.slice(0, 12).join('\n'))}</pre></li>`).join('') + '</ul>');
  }

  b.push('<h2>Where uringlet is slower</h2>');
  const ls = losses(s);
  if (ls.length === 0) b.push('<p>Uringlet is not worse than stock on any measured metric.</p>');
  else {
    b.push(
      table(
        ['point', 'metric', 'stock', 'uringlet', '%change', 'verdict'],
        ls.map((c) => [esc(c.point), esc(c.label + (c.primary ? ' (primary)' : '')), fmtNum(c.stock.mean), fmtNum(c.uringlet.mean), fmtPct(c.changePct), esc(verdictText(c))]),
        (i) => verdictClass(ls[i]!),
      ),
    );
  }

  b.push('<h2>Against the 2022 RFC</h2>');
  b.push(`<div class="charts">${rfcChart(s)}</div>`);
  b.push(
    table(
      ['iodepth', 'RFC ratio', 'our ratio', '95 % CI', 'vs the RFC ratio', 'our stock IOPS', 'our uringlet IOPS'],
      s.rfc.rows.map((r) => [
        String(r.depth),
        r.rfcRatio.toFixed(2),
        r.ourRatio === undefined ? 'not measured' : r.ourRatio.toFixed(2),
        ciText(r),
        rfcStanding(r),
        r.ourStockIops === undefined ? '—' : fmtNum(r.ourStockIops),
        r.ourUringletIops === undefined ? '—' : fmtNum(r.ourUringletIops),
      ]),
    ),
  );

  const perBoot = perBootRows(s);
  if (perBoot.length > 0) {
    b.push('<h2>Per boot</h2>');
    b.push('<p>Mean of each boot\'s runs of every primary metric, in boot order: a spread between boots far above the one within them is a state of the boot, which is why the CIs resample whole boots.</p>');
    b.push(table(perBootHeader, perBoot.map((r) => r.map(esc))));
  }

  b.push('<h2>Benchmarks</h2>');
  b.push(
    `<p>Mean ±%stddev per kernel; marked only if Mann-Whitney p (${esc(a.settings.correction)}-adjusted) &lt; ${a.settings.alpha}, |%change| ≥ ${a.settings.practicalThresholdPct}% and above the A/A noise floor. ${a.aaFalsePositives.significant} of ${a.aaFalsePositives.total} A/A comparisons were "significant" before correction.</p>`,
  );
  if (a.minAttainableP !== undefined && a.minAttainableP >= a.settings.alpha / 5) {
    b.push(`<div class="warn">Low power: the smallest reachable p with these sample sizes is ${a.minAttainableP.toPrecision(2)}.</div>`);
  }
  for (const wid of [...new Set(s.points.map((p) => p.workload))]) {
    const pts = s.points.filter((p) => p.workload === wid);
    b.push(`<h3>${esc(wid)} — ${esc(pts[0]!.title)}</h3>`);
    if (pts[0]!.knownLoss) b.push(`<p><i>Known loss:</i> ${esc(pts[0]!.knownLoss)}</p>`);
    const charts = [primaryChart(s, wid), ...latencyCharts(s, wid)].filter((x) => x !== '');
    if (charts.length > 0) b.push(`<div class="charts">${charts.join('')}</div>`);
    const rows = a.comparisons.filter((c) => c.workload === wid);
    b.push(
      table(
        [pts[0]!.axisName ?? 'point', 'metric', 'stock ±%stddev', '%change', 'uringlet ±%stddev', 'p(adj)', 'A/A floor', 'verdict'],
        rows.map((c) => [
          c.axisValue === undefined ? '—' : String(c.axisValue),
          esc(`${c.label} (${c.unit})${c.primary ? ' ★' : ''}`),
          `${fmtNum(c.stock.mean)} ±${Number.isFinite(c.stock.covPct) ? c.stock.covPct.toFixed(1) : '?'}%`,
          fmtPct(c.changePct),
          `${fmtNum(c.uringlet.mean)} ±${Number.isFinite(c.uringlet.covPct) ? c.uringlet.covPct.toFixed(1) : '?'}%`,
          Number.isFinite(c.pAdj) ? c.pAdj.toPrecision(2) : '—',
          c.noiseFloorPct === undefined ? '—' : fmtPct(c.noiseFloorPct, false),
          esc(verdictText(c)),
        ]),
        (i) => verdictClass(rows[i]!),
      ),
    );
  }
  b.push('<p>All numbers are in <code>summary.json</code>; raw fio JSON, console logs and TAP are beside this file.</p>');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>uringlet compare ${esc(s.runId)}</title><style>${css}</style></head><body>${b.join('\n')}</body></html>\n`;
}
