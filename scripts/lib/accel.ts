// Which QEMU accelerator actually works here. /dev/kvm existing is not
// enough (nested virtualization may be off: a KVM guest then hangs right
// after the BIOS), so we boot a kernel under KVM with a short timeout and
// look for its first line. The answer is cached per host.
import { existsSync, readFileSync, accessSync, constants } from 'node:fs';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeJsonAtomic } from './atomic.ts';
import { paths } from './paths.ts';
import { log } from './log.ts';
import { qemuSettings } from './qemu.ts';

export type Accel = 'kvm' | 'tcg';
export interface AccelProbe {
  accel: Accel;
  reason: string;
}

function cachePath(): string {
  return join(paths.host(), `accel-${hostname()}-${release()}.json`);
}

function kvmDeviceUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Boot `kernel` under KVM on our machine type for at most `timeoutMs`; true if it printed its banner. */
async function kernelBootsUnderKvm(kernel: string, timeoutMs: number): Promise<boolean> {
  const st = qemuSettings();
  const r = await execa(
    'qemu-system-x86_64',
    ['-accel', 'kvm', '-cpu', st.cpu.kvm, '-machine', st.machine, ...(st.bios !== null ? ['-bios', st.bios] : []), '-m', '256',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-serial', 'stdio', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 earlyprintk=serial'],
    { reject: false, timeout: timeoutMs, all: true },
  );
  return /Linux version/.test(String(r.all ?? ''));
}

export async function probeAccelerator(opts: { kernel?: string; refresh?: boolean } = {}): Promise<AccelProbe> {
  if (process.env.URINGLET_ACCEL === 'tcg' || process.env.URINGLET_ACCEL === 'kvm') {
    return { accel: process.env.URINGLET_ACCEL, reason: 'forced by URINGLET_ACCEL' };
  }
  if (!kvmDeviceUsable()) return { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' };
  const cache = cachePath();
  if (!opts.refresh && existsSync(cache)) {
    return JSON.parse(readFileSync(cache, 'utf8')) as AccelProbe;
  }
  if (opts.kernel === undefined || !existsSync(opts.kernel)) {
    return { accel: 'tcg', reason: '/dev/kvm exists but no kernel is built yet to probe it; assuming TCG' };
  }
  const timeoutMs = qemuSettings().accelProbeTimeoutMs;
  const ok = await kernelBootsUnderKvm(opts.kernel, timeoutMs);
  const result: AccelProbe = ok
    ? { accel: 'kvm', reason: 'a probe kernel booted under KVM' }
    : { accel: 'tcg', reason: `/dev/kvm exists but a KVM guest printed nothing within ${timeoutMs / 1000} s (no nested virtualization?)` };
  writeJsonAtomic(cache, result);
  log.info(`accelerator: ${result.accel} (${result.reason})`);
  return result;
}
