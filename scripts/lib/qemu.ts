// QEMU: the settings every boot shares (vm/qemu.json, so both kernels of a
// comparison get exactly the same machine), the command line built from them
// (a pure function), a free host port for SSH, and a minimal QMP client.
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import type { Accel } from './accel.ts';
import { InfraError } from './errors.ts';
import { paths } from './paths.ts';

export interface QemuSettings {
  vcpus: number;
  memMiB: number;
  machine: string;
  /** firmware for -bios (qboot boots a -kernel much faster than SeaBIOS); null = QEMU's default */
  bios: string | null;
  cpu: Record<Accel, string>;
  rootCache: string;
  dataDiskCache: string;
  dataDiskAio: string;
  /** extra QEMU arguments, e.g. a virtio RNG */
  extraArgs: string[];
  cmdline: string[];
  /**
   * Kernel arguments added per accelerator ("tcg", "kvm"), and per accelerator
   * when the host TSC is invariant ("tcg+invariant-tsc"): under TCG the guest
   * TSC is the host's, so it is reliable exactly when the host's is.
   */
  cmdlineFor: Record<string, string[]>;
  bootTimeoutMs: Record<Accel, number>;
  debugBootTimeoutMs: number;
  accelProbeTimeoutMs: number;
}

export function qemuSettings(): QemuSettings {
  return JSON.parse(readFileSync(join(paths.vm(), 'qemu.json'), 'utf8')) as QemuSettings;
}

export interface QemuSpec {
  settings: QemuSettings;
  accel: Accel;
  kernel: string;
  /** appended to settings.cmdline */
  cmdline: string[];
  rootOverlay: string;
  dataDisks: { name: string; path: string }[];
  sshPort: number;
  runDir: string;
  vcpus: number;
  memMiB: number;
  /** appended last (e.g. -gdb tcp:127.0.0.1:PORT for a kernel debugger) */
  extraArgs?: string[];
  /** the host CPU has constant_tsc and nonstop_tsc */
  hostInvariantTsc: boolean;
}

/** Pure: the kernel command line for one boot (settings, accelerator extras, the caller's extras last so they win). */
export function kernelCmdline(s: Pick<QemuSpec, 'settings' | 'accel' | 'cmdline' | 'hostInvariantTsc'>): string[] {
  const per = s.settings.cmdlineFor;
  return [...s.settings.cmdline, ...(per[s.accel] ?? []), ...(s.hostInvariantTsc ? (per[`${s.accel}+invariant-tsc`] ?? []) : []), ...s.cmdline];
}

/** Does the host CPU have an invariant TSC (constant_tsc + nonstop_tsc)? */
export function hostHasInvariantTsc(cpuinfo: string): boolean {
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  return flags.includes('constant_tsc') && flags.includes('nonstop_tsc');
}

/** Pure: the QEMU argument vector for one boot. */
export function qemuArgs(s: QemuSpec): string[] {
  const st = s.settings;
  const accel = s.accel === 'tcg' ? 'tcg,thread=multi' : 'kvm';
  return [
    '-name', `uringlet,debug-threads=on`,
    '-machine', st.machine,
    '-accel', accel,
    '-cpu', st.cpu[s.accel],
    '-smp', String(s.vcpus),
    '-m', String(s.memMiB),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    ...(st.bios !== null ? ['-bios', st.bios] : []),
    '-kernel', s.kernel,
    '-append', kernelCmdline(s).join(' '),
    '-drive', `file=${s.rootOverlay},if=none,id=root,format=qcow2,cache=${st.rootCache},discard=unmap`,
    '-device', 'virtio-blk-pci,drive=root,serial=root',
    ...s.dataDisks.flatMap((d) => [
      '-drive', `file=${d.path},if=none,id=${d.name},format=raw,cache=${st.dataDiskCache},aio=${st.dataDiskAio}`,
      // serial=<name>: the guest finds the disk as /dev/disk/by-id/virtio-<name> or by order (vdb, vdc...)
      '-device', `virtio-blk-pci,drive=${d.name},serial=${d.name}`,
    ]),
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${s.sshPort}-:22`,
    '-device', 'virtio-net-pci,netdev=net0',
    ...st.extraArgs,
    '-chardev', `file,id=console,path=${join(s.runDir, 'console.log')}`,
    '-serial', 'chardev:console',
    '-qmp', `unix:${join(s.runDir, 'qmp.sock')},server=on,wait=off`,
    // paths naming the run dir also let the reaper recognise its own QEMU in /proc/<pid>/cmdline
    '-pidfile', join(s.runDir, 'qemu.pid'),
    ...(s.extraArgs ?? []),
  ];
}

/** Shell-quoted, for qemu.cmdline (a reproducer) and logs. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A TCP port on 127.0.0.1 that was free a moment ago (QEMU may still lose a race: the caller retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Pure: did QEMU fail because the forwarded port was taken? */
export function isPortConflict(qemuStderr: string): boolean {
  return /Could not set up host forwarding rule|hostfwd.*(in use|failed)|Address already in use/i.test(qemuStderr);
}

/**
 * One QMP command over the run's socket: greeting, qmp_capabilities, the
 * command, its reply. `quit` may close the socket without replying.
 */
export function qmp(sock: string, execute: string, args?: Record<string, unknown>, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    let phase: 'greeting' | 'caps' | 'cmd' = 'greeting';
    const done = (err: Error | null, value?: unknown): void => {
      clearTimeout(timer);
      c.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new InfraError(`QMP ${execute}: no reply within ${timeoutMs} ms (${sock})`)), timeoutMs);
    c.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        if (msg.event !== undefined) continue;
        if (phase === 'greeting' && msg.QMP !== undefined) {
          phase = 'caps';
          c.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (phase === 'caps' && msg.return !== undefined) {
          phase = 'cmd';
          c.write(JSON.stringify(args === undefined ? { execute } : { execute, arguments: args }) + '\n');
        } else if (msg.error !== undefined) {
          done(new InfraError(`QMP ${execute}: ${msg.error.desc}`));
        } else if (phase === 'cmd' && msg.return !== undefined) {
          done(null, msg.return);
        }
      }
    });
    c.on('error', (e) => done(execute === 'quit' && phase === 'cmd' ? null : new InfraError(`QMP ${execute}: ${e.message}`)));
    c.on('close', () => done(execute === 'quit' && phase === 'cmd' ? null : new InfraError(`QMP ${execute}: connection closed`)));
  });
}
