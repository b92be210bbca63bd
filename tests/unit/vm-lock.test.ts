// The file lock that keeps parallel runs from building the same image twice.
import test from 'ava';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFileLock } from '../../scripts/lib/lifecycle.ts';

test('holders run one at a time', async (t) => {
  const lock = join(mkdtempSync(join(tmpdir(), 'lock-')), '.lock');
  const events: string[] = [];
  const holder = (name: string, ms: number) =>
    withFileLock(lock, async () => {
      events.push(`${name} in`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`${name} out`);
    });
  await Promise.all([holder('a', 300), holder('b', 10)]);
  t.deepEqual(events, ['a in', 'a out', 'b in', 'b out']);
  t.false(existsSync(lock), 'released');
});

test('a lock left by a dead process is taken over; a failing holder releases it', async (t) => {
  const lock = join(mkdtempSync(join(tmpdir(), 'lock-')), '.lock');
  writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, startTime: 1 }));
  const t0 = Date.now();
  t.is(await withFileLock(lock, async () => 42, { timeoutMs: 5000 }), 42);
  t.true(Date.now() - t0 < 2000);
  await t.throwsAsync(withFileLock(lock, async () => Promise.reject(new Error('boom'))), { message: 'boom' });
  t.false(existsSync(lock));
});
