// Facts about the machine a comparison ran on, recorded with every result:
// numbers from a TCG guest on 2 cores mean something else than from KVM.
import { cpus, totalmem, hostname, release } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';

export interface HostInfo {
  hostname: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  qemu: string;
  gcc: string;
  node: string;
  /** Filled in by the runner from the VM layer. */
  accelerator?: string;
  vcpus?: number;
  guestMemoryMiB?: number;
  /** Guest kernel arguments the profile added (vm.cmdline). */
  guestCmdline?: string[];
  /** fio version inside the guest. */
  guestFio?: string;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await execa(cmd, args, { reject: false, timeout: 10_000 });
    return (r.stdout || r.stderr).split('\n')[0]?.trim() || 'unknown';
  } catch {
    return 'not installed';
  }
}

function osName(): string {
  if (!existsSync('/etc/os-release')) return 'unknown';
  const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
  return m?.[1] ?? 'unknown';
}

export async function hostInfo(): Promise<HostInfo> {
  const c = cpus();
  return {
    hostname: hostname(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpus: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    kernel: release(),
    qemu: await firstLine('qemu-system-x86_64', ['--version']),
    gcc: await firstLine('gcc', ['--version']),
    node: process.version,
  };
}
