// TAP parsing of the guest test suite's output (scripts/lib/tap.ts). The
// kernel pipeline's unit tests are in doctor, series, kconfig and
// metadata.test.ts.
import test from 'ava';
import { parseTap } from '../../scripts/lib/tap.ts';

test('TAP: results, skips, plan, diagnostics', (t) => {
  const r = parseTap('TAP version 13\n# kernel mode: uringlet\nok 1 setup # ret 0\nnot ok 2 worker cap # max 3\nok 3 fork # SKIP no uringlet\n1..3\n');
  t.is(r.tests.length, 3);
  t.is(r.failed, 1);
  t.is(r.skipped, 1);
  t.is(r.passed, 1);
  t.false(r.ok);
  t.deepEqual(r.diagnostics, ['kernel mode: uringlet']);
  t.is(r.tests[1]?.comment, 'max 3');
  t.false(parseTap('ok 1 a\n').ok, 'no plan: not ok');
  t.false(parseTap('ok 1 a\n1..2\n').ok, 'plan mismatch: not ok');
});
