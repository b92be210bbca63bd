// The guest's context switch and IPI counters around a run: the shell line,
// its parser (from a guest's /proc/interrupts) and the per-I/O deltas.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { guestSchedCommand, guestSchedPerIo, parseGuestSched } from '../../scripts/lib/guestsched.ts';

// Lines as guestSchedCommand() prints them in this project's 2-vCPU guest
// (6.1, TCG): the first with a freshly booted guest's counters, the second
// made up for "after the run"; other stderr lines around them.
const stderr = [
  'fio: some warning',
  '@@sched0 ctxt 4142  RES: 17 20 Rescheduling interrupts CAL: 837 818 Function call interrupts TLB: 0 0 TLB shootdowns ',
  '@@sched1 ctxt 190311  RES: 1517 2020 Rescheduling interrupts CAL: 2837 1818 Function call interrupts TLB: 3 4 TLB shootdowns ',
  '@@stat0 cpu  104 0 148 257 12 0 11 0 0 0',
].join('\n');

test('parseGuestSched sums each IPI row over the CPUs', (t) => {
  t.deepEqual(parseGuestSched(stderr, '@@sched0'), { ctxt: 4142, ipis: { RES: 37, CAL: 1655, TLB: 0 } });
  t.deepEqual(parseGuestSched(stderr, '@@sched1'), { ctxt: 190311, ipis: { RES: 3537, CAL: 4655, TLB: 7 } });
});

test('parseGuestSched: a missing or cut line is null, not zero', (t) => {
  t.is(parseGuestSched('fio: nothing else', '@@sched0'), null);
  t.is(parseGuestSched('@@sched0 ctxt 12 RES: 1 2 Rescheduling interrupts', '@@sched0'), null, 'no CAL row');
  t.is(parseGuestSched('@@sched0 RES: 1 CAL: 2 TLB: 3', '@@sched0'), null, 'no ctxt');
  t.is(parseGuestSched('x@@sched0 ctxt 1 RES: 1 CAL: 2 TLB: 3', '@@sched0'), null, 'tag not at the start');
});

test('guestSchedPerIo: switches and all IPIs per I/O; null without I/Os or across boots', (t) => {
  const a = parseGuestSched(stderr, '@@sched0')!;
  const b = parseGuestSched(stderr, '@@sched1')!;
  const d = guestSchedPerIo(a, b, 100_000)!;
  t.is(d.ctxsw_per_io, (190311 - 4142) / 100_000);
  t.is(d.ipi_per_io, (3537 - 37 + 4655 - 1655 + 7) / 100_000);
  t.is(guestSchedPerIo(a, b, 0), null);
  t.is(guestSchedPerIo(b, a, 100), null, 'counters went backwards');
});

test('guestSchedCommand runs in sh and its line parses (this host has the same /proc files as the guest)', (t) => {
  const out = execFileSync('sh', ['-c', `{ ${guestSchedCommand('@@sched1')}; } 2>&1`], { encoding: 'utf8' });
  const s = parseGuestSched(out, '@@sched1');
  t.truthy(s, out);
  t.true(s!.ctxt > 0);
  t.true(s!.ipis['CAL']! >= 0);
});
