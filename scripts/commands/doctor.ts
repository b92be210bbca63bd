import type { Command } from './types.ts';
import { ensureHost, loadHostPackages, missingPackages, toolPresent, freeGiB } from '../lib/host.ts';
import { paths } from '../lib/paths.ts';
import { probeAccelerator } from '../lib/accel.ts';

const command: Command = {
  summary: 'check (and as root, install) host tools; report disk and KVM',
  async run(argv) {
    const checkOnly = argv.includes('--check');
    const spec = loadHostPackages();
    if (!checkOnly) await ensureHost('compare');
    for (const t of [...spec.tools, ...spec.optional]) {
      const ok = toolPresent(t.check);
      process.stdout.write(`${ok ? 'ok     ' : 'MISSING'} ${t.check.padEnd(36)} (${t.package}: ${t.for})\n`);
    }
    process.stdout.write(`disk: ${freeGiB(paths.src()).toFixed(1)} GiB free under ${paths.src()}\n`);
    const accel = await probeAccelerator();
    process.stdout.write(`accelerator: ${accel.accel} (${accel.reason})\n`);
    if (accel.accel === 'tcg') {
      process.stdout.write('  KVM is not usable: guests run under TCG emulation, roughly 10-50x slower per instruction; benchmarks are only comparable between runs on this same host.\n');
    }
    return missingPackages(spec.tools, toolPresent).length === 0 ? 0 : 2;
  },
};
export default command;
