// formatTapRuns (scripts/lib/tap-print.ts): the exact text guest-test ('raw')
// and iterate ('summary') print for guest test runs, and their failure counts.
import test from 'ava';
import { parseTap } from '../../scripts/lib/tap.ts';
import { formatTapRuns } from '../../scripts/lib/tap-print.ts';
import type { GuestTestRun } from '../../scripts/lib/guest-tests.ts';

const run = (program: string, output: string, exitCode: number | null): GuestTestRun => ({ program, tap: parseTap(output), output, exitCode });

// One passing, one failing, one skipped test.
const mixedOut = 'TAP version 13\n# kernel mode: uringlet\nok 1 setup\nnot ok 2 links # got -22\nok 3 fork # SKIP no uringlet\n1..3\n';
const mixed = run('basic', mixedOut, 1);
// A program that died before its plan.
const crashed = run('cancel', 'TAP version 13\nok 1 cancel one\nSegmentation fault\n', null);

test('summary: one line per test, failing tests counted', (t) => {
  const p = formatTapRuns([mixed], { style: 'summary' });
  t.is(p.text, 'ok   setup\nFAIL links # got -22\nskip fork # SKIP no uringlet');
  t.is(p.failed, 1);
});

test('summary: a program without a plan is a failure, shown with the group and the output tail', (t) => {
  const p = formatTapRuns([crashed], { style: 'summary', only: 'cancel' });
  t.is(p.text, 'ok   cancel one\nFAIL cancel cancel: no TAP plan (exit signal), output:\nTAP version 13\nok 1 cancel one\nSegmentation fault\n');
  t.is(p.failed, 1);
  t.is(formatTapRuns([], { style: 'summary' }).text, '');
});

test('raw: outputs verbatim, a run whose TAP is not ok counts on top of its failing tests', (t) => {
  const p = formatTapRuns([mixed, crashed], { style: 'raw' });
  t.is(p.text, mixedOut + crashed.output);
  t.is(p.failed, 3);
  t.is(formatTapRuns([run('ok', 'ok 1 a\n1..1\n', 0)], { style: 'raw' }).failed, 0);
});

test('summary: a program that planned more results than it printed is a failure', (t) => {
  const short = run('mix', 'TAP version 13\n1..3\nok 1 mix one\n', 0);
  const p = formatTapRuns([short], { style: 'summary' });
  t.is(p.text, 'ok   mix one\nFAIL mix: 1 of 3 planned results (exit 0)');
  t.is(p.failed, 1);
  t.is(formatTapRuns([short], { style: 'raw' }).failed, 1);
});
