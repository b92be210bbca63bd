// How guest test runs become console text and a failure count, for the
// commands that run the guest suite (guest-test, iterate). Pure, so a unit
// test pins the exact text.
import type { GuestTestRun } from './guest-tests.ts';

export type TapPrintOptions =
  /** Each program's output verbatim (guest-test: the full TAP, diagnostics included). */
  | { style: 'raw' }
  /**
   * One line per test, 'ok  ' / 'skip' / 'FAIL' then the name (iterate: short
   * enough to read after every rebuild). `only` is the test group the runs
   * were limited to, named in the line of a program that printed no plan.
   */
  | { style: 'summary'; only?: string };

export interface TapPrint {
  /** 'raw': the outputs concatenated; 'summary': lines joined by '\n', no final newline ('' when none). */
  text: string;
  /** Failed tests, plus one per program whose TAP is incomplete: zero means the command passes. */
  failed: number;
}

/**
 * Pure: why a program's TAP is incomplete (it died part way): no plan, or
 * fewer results than planned. null when it is complete.
 */
export function incompleteRun(r: GuestTestRun): string | null {
  if (r.tap.planned === null) return `no TAP plan (exit ${r.exitCode ?? 'signal'})`;
  if (r.tap.tests.length !== r.tap.planned) return `${r.tap.tests.length} of ${r.tap.planned} planned results (exit ${r.exitCode ?? 'signal'})`;
  return null;
}

export function formatTapRuns(runs: readonly GuestTestRun[], opts: TapPrintOptions): TapPrint {
  if (opts.style === 'raw') {
    // A run counts as failed also when its TAP is not ok (no plan, or fewer
    // results than planned): the program died part way.
    return {
      text: runs.map((r) => r.output).join(''),
      failed: runs.reduce((n, r) => n + r.tap.failed + (r.tap.ok ? 0 : 1), 0),
    };
  }
  const lines: string[] = [];
  let failed = 0;
  for (const r of runs) {
    for (const t of r.tap.tests) {
      lines.push(`${t.ok ? (t.skip ? 'skip' : 'ok  ') : 'FAIL'} ${t.name}${t.comment ? ` # ${t.comment}` : ''}`);
      if (!t.ok) failed++;
    }
    // Without a plan there may be no test lines at all: show the tail of the
    // output so the reason is on screen.
    const incomplete = incompleteRun(r);
    if (incomplete !== null && r.tap.planned === null) {
      lines.push(`FAIL ${r.program}${opts.only !== undefined ? ` ${opts.only}` : ''}: ${incomplete}, output:\n${r.output.split('\n').slice(-15).join('\n')}`);
      failed++;
    } else if (incomplete !== null) {
      // Same rule as 'raw': a program that planned more than it reported died part way.
      lines.push(`FAIL ${r.program}: ${incomplete}`);
      failed++;
    }
  }
  return { text: lines.join('\n'), failed };
}
