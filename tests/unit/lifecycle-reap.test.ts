// Every VM boot reaps stale run directories, and two boots may do so at the
// same time (the integration tests boot two VMs at once): a directory the
// other reaper removed first must not fail the boot.
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

test('concurrent reapers: stale runs lose their disks, at most 50 stay, no reaper fails on one another removed', async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'reap-'));
  const runs = join(cache, 'runs');
  const old = new Date(Date.now() - 10 * 86400_000);
  for (let i = 0; i < 300; i++) {
    const d = join(runs, `stale-${i}`);
    mkdirSync(d, { recursive: true });
    // pid 0 is never a live owner
    writeFileSync(join(d, 'owner.json'), JSON.stringify({ pid: 0, startTime: null, startedAt: old.toISOString(), argv: [] }));
    writeFileSync(join(d, 'data.raw'), '');
    utimesSync(d, old, old);
  }
  const script = "import { reapStaleRuns } from './scripts/lib/lifecycle.ts'; reapStaleRuns();";
  const reapers = await Promise.all(
    Array.from({ length: 6 }, () => execa('node', ['--import=tsx', '--input-type=module', '-e', script], { env: { URINGLET_CACHE: cache }, reject: false })),
  );
  for (const r of reapers) t.is(r.exitCode, 0, r.stderr);
  // the newest 50 stay for their logs, without their disks
  const left = readdirSync(runs);
  t.true(left.length <= 50, `${left.length} left`);
  t.deepEqual(left.filter((d) => readdirSync(join(runs, d)).includes('data.raw')), []);
});
