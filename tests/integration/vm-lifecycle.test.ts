// QEMU never outlives the orchestrator: Ctrl-C during a boot, a SIGKILLed
// orchestrator (PDEATHSIG), and the pidfile reaper for what is left anyway --
// which must never touch a QEMU it did not start.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel } from '../../scripts/lib/kbuild.ts';
import { buildImage } from '../../scripts/lib/image.ts';
import { paths, repoRoot } from '../../scripts/lib/paths.ts';
import { reapStaleRuns, procCmdline } from '../../scripts/lib/lifecycle.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ready = (async () => ({ kernel: (await buildKernel({ kernel: 'stock' })).bzImage, image: await buildImage() }))();

/** Processes whose command line mentions `dir` (any program). */
function processesNaming(dir: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => procCmdline(pid).some((a) => a.includes(dir)));
}

/** Start `uringlet vm` and resolve once its QEMU is booting; returns the run dir. */
async function startCli(kernel: string): Promise<{ child: ChildProcess; runDir: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'cli.ts'), 'vm', '--kernel', kernel, '--', 'sleep 60'], {
    cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? -1 : null))));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const until = Date.now() + 60_000;
  let runDir = '';
  while (Date.now() < until) {
    runDir = /run directory (\S+)/.exec(stderr)?.[1] ?? '';
    if (runDir !== '' && existsSync(join(runDir, 'qemu.pid'))) break;
    await sleep(50);
  }
  if (runDir === '') throw new Error(`the CLI never started QEMU:\n${stderr}`);
  await sleep(1000); // well into the boot
  return { child, runDir, exited };
}

test.serial('Ctrl-C (SIGINT) during a boot: exit 130 and no QEMU left', async (t) => {
  const { kernel } = await ready;
  const { child, runDir, exited } = await startCli(kernel);
  t.true(processesNaming(runDir).length > 0, 'QEMU was running');
  child.kill('SIGINT');
  t.is(await exited, 130);
  await sleep(300);
  t.deepEqual(processesNaming(runDir), []);
});

test.serial('a SIGKILLed orchestrator takes its QEMU along (PDEATHSIG)', async (t) => {
  const { kernel } = await ready;
  const { child, runDir, exited } = await startCli(kernel);
  const qemuPid = Number(readFileSync(join(runDir, 'qemu.pid'), 'utf8'));
  child.kill('SIGKILL');
  await exited;
  const until = Date.now() + 5000;
  while (existsSync(`/proc/${qemuPid}`) && Date.now() < until) await sleep(50);
  t.false(existsSync(`/proc/${qemuPid}`));
});

test.serial('the reaper kills QEMU of a dead orchestrator named by its pidfile, and no other QEMU', async (t) => {
  // run dirs sit directly under paths.runs(), like real ones
  const base = join(paths.runs(), `reaper-test-${process.pid}`);
  const ours = `${base}-ours`;
  const decoy = `${base}-decoy`;
  const elsewhere = `${base}-elsewhere`;
  for (const d of [ours, decoy, elsewhere]) mkdirSync(d, { recursive: true });
  // a QEMU that idles (-S: CPUs stopped) and names its run dir, like ours do
  const idleQemu = (dir: string): ChildProcess =>
    spawn('qemu-system-x86_64', ['-S', '-nodefaults', '-display', 'none', '-machine', 'none', '-pidfile', join(dir, 'qemu.pid')], { stdio: 'ignore', detached: true });
  const q1 = idleQemu(ours);
  const q2 = idleQemu(elsewhere);
  try {
    while (!existsSync(join(ours, 'qemu.pid')) || !existsSync(join(elsewhere, 'qemu.pid'))) await sleep(20);
    // both stale dirs claim a dead orchestrator; the decoy's pidfile points at a QEMU of another run dir
    const dead = { pid: 2 ** 22 + 1, startTime: 1, startedAt: new Date().toISOString(), argv: [] };
    writeFileSync(join(ours, 'owner.json'), JSON.stringify(dead));
    writeFileSync(join(decoy, 'owner.json'), JSON.stringify(dead));
    writeFileSync(join(decoy, 'qemu.pid'), String(q2.pid));
    const killed = reapStaleRuns();
    t.true(killed.includes(q1.pid ?? -1), 'the stale run\'s QEMU was killed');
    t.false(killed.includes(q2.pid ?? -1), 'a QEMU that does not name the stale run dir is left alone');
    await sleep(200);
    t.true(existsSync(`/proc/${q2.pid}`));
  } finally {
    q1.kill('SIGKILL');
    q2.kill('SIGKILL');
    for (const d of [ours, decoy, elsewhere]) rmSync(d, { recursive: true, force: true });
  }
});
