// The peer suite's pure parts: the spec file, exit-code classification, the
// stock-vs-uringlet verdict and the TAP it writes.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { UserError } from '../../scripts/lib/errors.ts';
import { classify, flakyOverrideRuns, parseSuiteSpec, peerVerdict, specFile, tallyRuns, testTimeoutSec, toTap, type PeerStatus, type PeerTestResult, type SuiteSpec } from '../../scripts/lib/liburing-suite.ts';

const r = (name: string, status: PeerStatus): PeerTestResult => ({ name, status, exitCode: status === 'pass' ? 0 : status === 'hang' ? null : 1, seconds: 0.5, tail: [`${name} said ${status}`] });
const spec = (known: Record<string, string> = {}): SuiteSpec => ({ timeoutSec: 60, uringletKnob: 2, notRun: {}, knownFailures: known, slowTests: {}, flakyTests: {}, quick: [] });

test('the checked-in spec parses, and every known failure has a reason', (t) => {
  const s = parseSuiteSpec(readFileSync(specFile(), 'utf8'));
  t.true(s.timeoutSec >= 10);
  t.true(s.uringletKnob === 1 || s.uringletKnob === 2);
  for (const why of Object.values(s.knownFailures)) t.true(why.length >= 10);
});

test('spec errors are user errors naming the field', (t) => {
  t.throws(() => parseSuiteSpec('{'), { instanceOf: UserError, message: /not valid JSON/ });
  t.throws(() => parseSuiteSpec('{"timeoutSec": -1}'), { instanceOf: UserError, message: /timeoutSec/ });
  t.throws(() => parseSuiteSpec('{"uringletKnob": 3}'), { instanceOf: UserError, message: /uringletKnob/ });
  t.throws(() => parseSuiteSpec('{"knownFailures": {"accept.t": "x"}}'), { instanceOf: UserError, message: /needs a reason/ });
  t.throws(() => parseSuiteSpec('{"knownFailures": {"accept": "fails on stock too because"}}'), { instanceOf: UserError, message: /not a liburing test name/ });
});

test('classify: liburing exit codes, timeout(1) and a host-side hang', (t) => {
  t.is(classify(0, false), 'pass');
  t.is(classify(77, false), 'skip');
  t.is(classify(1, false), 'fail');
  t.is(classify(124, false), 'timeout');
  t.is(classify(137, false), 'timeout');
  t.is(classify(null, true), 'hang');
  t.is(classify(0, true), 'hang');
});

test('verdict: passing on stock and failing on uringlet is a regression; both failing is not', (t) => {
  const stock = [r('a.t', 'pass'), r('b.t', 'fail'), r('c.t', 'fail'), r('d.t', 'pass'), r('e.t', 'skip'), r('f.t', 'pass')];
  const uring = [r('a.t', 'hang'), r('b.t', 'fail'), r('c.t', 'timeout'), r('d.t', 'pass'), r('e.t', 'pass'), r('f.t', 'not-run')];
  const v = peerVerdict(stock, uring, spec({ 'b.t': 'fails on stock 6.1 too, for a reason' }));
  t.deepEqual(v.regressions, ['a.t']);
  t.deepEqual(v.known.map((k) => k.name), ['b.t']);
  t.deepEqual(v.unlistedStockFailures, ['c.t']);
  t.deepEqual(v.skipMismatch, ['e.t']);
  t.is(v.passedBoth, 1);
  t.deepEqual(v.staleKnown, []);
});

test('verdict: a known failure that passes on stock is stale (the list may hold only stock failures)', (t) => {
  const v = peerVerdict([r('a.t', 'pass')], [r('a.t', 'pass')], spec({ 'a.t': 'was said to fail on stock as well' }));
  t.deepEqual(v.staleKnown, ['a.t']);
  t.deepEqual(v.regressions, []);
});

test('spec: a flaky entry needs a reason, known variants, and cannot also be a known failure', (t) => {
  const s = parseSuiteSpec('{"flakyTests": {"a.t": {"reason": "timed out 2 of 15 times on stock", "variants": ["debug"]}}}');
  t.deepEqual(s.flakyTests, { 'a.t': { reason: 'timed out 2 of 15 times on stock', variants: ['debug'] } });
  t.throws(() => parseSuiteSpec('{"flakyTests": {"a.t": {"reason": "x"}}}'), { instanceOf: UserError, message: /flakyTests: 'a.t' needs a reason/ });
  t.throws(() => parseSuiteSpec('{"flakyTests": {"a.t": {"reason": "timed out on stock too", "variants": ["kasan"]}}}'), { instanceOf: UserError, message: /variants/ });
  t.throws(() => parseSuiteSpec('{"flakyTests": {"a": {"reason": "timed out on stock too"}}}'), { instanceOf: UserError, message: /not a liburing test name/ });
  t.throws(
    () => parseSuiteSpec('{"knownFailures": {"a.t": "fails on stock too, always"}, "flakyTests": {"a.t": {"reason": "timed out on stock too"}}}'),
    { instanceOf: UserError, message: /both knownFailures and flakyTests/ },
  );
});

test('verdict: a listed flaky test failing on uringlet alone is reported, not a regression, on its variants only', (t) => {
  const s: SuiteSpec = { ...spec(), flakyTests: { 'a.t': { reason: 'timed out 2 of 15 times on stock/debug', variants: ['debug'] } } };
  const stock = [r('a.t', 'pass'), r('b.t', 'pass')];
  const uring = [r('a.t', 'timeout'), r('b.t', 'pass')];
  const debug = peerVerdict(stock, uring, s, 'debug');
  t.deepEqual(debug.regressions, []);
  t.deepEqual(debug.flakyListed, [{ name: 'a.t', reason: 'timed out 2 of 15 times on stock/debug', stock: { failed: 0, runs: 1 }, uringlet: { failed: 1, runs: 1 } }]);
  t.is(debug.passedBoth, 1);
  // Not listed for the default variant: there it counts.
  const def = peerVerdict(stock, uring, s, 'default');
  t.deepEqual(def.regressions, ['a.t']);
  t.deepEqual(def.flakyListed, []);
  // Failing on both kernels: still the flaky entry, not an unlisted stock failure.
  const both = peerVerdict([r('a.t', 'fail')], [r('a.t', 'fail')], s, 'debug');
  t.deepEqual(both.unlistedStockFailures, []);
  t.is(both.flakyListed.length, 1);
});

test('verdict: a listed flaky test that fails every one of several runs on uringlet is a regression after all', (t) => {
  const s: SuiteSpec = { ...spec(), flakyTests: { 'a.t': { reason: 'timed out 2 of 15 times on stock' } } };
  const runs = (status: PeerStatus, n: number): PeerTestResult[] => Array.from({ length: n }, (_, i) => ({ ...r('a.t', status), run: { index: i + 1, of: n } }));
  const always = peerVerdict(runs('pass', flakyOverrideRuns), runs('timeout', flakyOverrideRuns), s);
  t.deepEqual(always.regressions, ['a.t']);
  t.deepEqual(always.flakyListed, []);
  const sometimes = peerVerdict(runs('pass', flakyOverrideRuns), [...runs('timeout', flakyOverrideRuns - 1), r('a.t', 'pass')], s);
  t.deepEqual(sometimes.regressions, []);
  t.is(sometimes.flakyListed[0]?.uringlet.failed, flakyOverrideRuns - 1);
  // Below the threshold one failing run is not "always".
  t.deepEqual(peerVerdict([r('a.t', 'pass')], [r('a.t', 'timeout')], s).regressions, []);
});

test('TAP: plan, skips as SKIP, failures with status and the test output as diagnostics', (t) => {
  const tap = toTap([r('a.t', 'pass'), r('b.t', 'hang'), r('c.t', 'skip')], 'liburing 2.3 on uringlet');
  const lines = tap.trim().split('\n');
  t.is(lines[2], '1..3');
  t.is(lines[3], 'ok 1 - a.t');
  t.regex(lines[4] ?? '', /^not ok 2 - b\.t # hang \(exit none, 0\.5 s\)$/);
  t.is(lines[5], '#   b.t said hang');
  t.is(lines[6], 'ok 3 - c.t # SKIP skip');
});

test('TAP: a kernel report that appeared while a test ran is named under it, pass or not', (t) => {
  const lines = toTap([{ ...r('a.t', 'pass'), console: 'possible deadlock in io_uringlet_work' }], 'x').trim().split('\n');
  t.deepEqual(lines.slice(3), ['ok 1 - a.t', '#   console while it ran: possible deadlock in io_uringlet_work']);
});

test('spec: slowTests give a test its own timeout, with a reason', (t) => {
  const s = parseSuiteSpec('{"timeoutSec": 60, "slowTests": {"slow.t": {"timeoutSec": 180, "reason": "slower in uringlet mode, passes"}}}');
  t.is(testTimeoutSec(s, 'slow.t'), 180);
  t.is(testTimeoutSec(s, 'nop.t'), 60);
  t.throws(() => parseSuiteSpec('{"slowTests": {"slow.t": {"timeoutSec": 0, "reason": "a good long reason"}}}'), { instanceOf: UserError, message: /timeoutSec/ });
  t.throws(() => parseSuiteSpec('{"slowTests": {"slow.t": {"timeoutSec": 90}}}'), { instanceOf: UserError, message: /needs a reason/ });
});

test('verdict: passing on both but at least 2x and 2 s slower on uringlet is reported, slowest ratio first', (t) => {
  const at = (name: string, seconds: number): PeerTestResult => ({ ...r(name, 'pass'), seconds });
  const v = peerVerdict([at('a.t', 10), at('b.t', 0.5), at('c.t', 1), at('d.t', 14)], [at('a.t', 15), at('b.t', 1.9), at('c.t', 10), at('d.t', 50)], spec());
  t.deepEqual(v.slower.map((x) => x.name), ['c.t', 'd.t']);
  t.is(v.passedBoth, 4);
});

test('verdict with repeated runs: a test fails on a kernel if any run failed; mixed runs are flaky, with counts', (t) => {
  const runs = (name: string, ...st: PeerStatus[]): PeerTestResult[] => st.map((s, i) => ({ ...r(name, s), run: { index: i + 1, of: st.length } }));
  const stock = [...runs('a.t', 'pass', 'pass', 'pass'), ...runs('b.t', 'pass', 'fail', 'pass'), ...runs('c.t', 'pass', 'pass', 'pass')];
  const uring = [...runs('a.t', 'pass', 'timeout', 'pass'), ...runs('b.t', 'pass', 'pass', 'pass'), ...runs('c.t', 'pass', 'pass', 'pass')];
  const v = peerVerdict(stock, uring, spec());
  t.deepEqual(v.regressions, ['a.t']);
  t.deepEqual(v.flaky, [
    { name: 'b.t', kernel: 'stock', failed: 1, runs: 3 },
    { name: 'a.t', kernel: 'uringlet', failed: 1, runs: 3 },
  ]);
  t.deepEqual(v.failures['a.t'], { stock: { failed: 0, runs: 3 }, uringlet: { failed: 1, runs: 3 } });
  t.is(v.failures['c.t'], undefined);
  t.is(v.passedBoth, 1);
  // b.t failed once on stock: not a regression of the series, and not "passing on both"
  t.false(v.regressions.includes('b.t'));
});

test('tallyRuns: worst status, mean seconds over the runs that ran', (t) => {
  const m = tallyRuns([{ ...r('a.t', 'pass'), seconds: 1 }, { ...r('a.t', 'fail'), seconds: 3 }, { ...r('a.t', 'pass'), seconds: 2 }, r('b.t', 'skip'), r('c.t', 'not-run')]);
  t.like(m.get('a.t'), { status: 'fail', runs: 3, failed: 1, passed: 2, seconds: 2 });
  t.like(m.get('b.t'), { status: 'skip', runs: 1, failed: 0 });
  t.like(m.get('c.t'), { status: 'not-run', runs: 0 });
});

test('TAP: repeated runs are numbered in the test line', (t) => {
  const lines = toTap([{ ...r('a.t', 'pass'), run: { index: 1, of: 2 } }, { ...r('a.t', 'fail'), run: { index: 2, of: 2 } }], 'x').trim().split('\n');
  t.is(lines[3], 'ok 1 - a.t (run 1/2)');
  t.regex(lines[4] ?? '', /^not ok 2 - a\.t \(run 2\/2\) # fail/);
});
