// The guest image: Debian minbase from the host's apt mirror, our init and
// sshd config, per-image keys (client key and pinned host key), packed with
// `mkfs.ext4 -d` (no loop mounts). Cached under the recipe's hash.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { InfraError } from './errors.ts';
import { ensureHost } from './host.ts';
import { LogFile, log } from './log.ts';
import { paths } from './paths.ts';
import { runOk } from './proc.ts';

export interface GuestImage {
  dir: string;
  rootImage: string;
  clientKey: string;
  /** host key blob (base64 of the wire format), pinned by the SSH client */
  hostKeyBlob: string;
  knownHosts: string;
  mirror: string;
}

interface Recipe {
  suite: string;
  variant: string;
  packages: string[];
  prune?: string[];
  hostname?: string;
  /** free space left in the root filesystem on top of its contents */
  freeMiB: number;
}

/** Pure: the first http(s) URI of a deb822 sources file or a one-line sources.list. */
export function mirrorFromAptSources(text: string): string | undefined {
  const deb822 = /^URIs:\s*(\S+)/m.exec(text);
  if (deb822?.[1] !== undefined) return deb822[1];
  const legacy = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
  return legacy?.[1];
}

export function hostMirror(): string {
  if (process.env.URINGLET_MIRROR) return process.env.URINGLET_MIRROR;
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const m = mirrorFromAptSources(readFileSync(f, 'utf8'));
    if (m !== undefined && !/security/.test(m)) return m;
  }
  throw new InfraError('no Debian mirror found in the apt configuration; set URINGLET_MIRROR');
}

function recipeFiles(): string[] {
  const d = join(paths.vm(), 'image');
  return [join(d, 'recipe.json'), join(d, 'init.sh'), join(d, 'sshd_config')];
}

export function recipeHash(): string {
  const h = createHash('sha256');
  for (const f of recipeFiles()) h.update(readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

function loadImage(dir: string, mirror: string): GuestImage {
  const pub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
  return {
    dir,
    rootImage: join(dir, 'root.img'),
    clientKey: join(dir, 'client_key'),
    hostKeyBlob: pub[1] ?? '',
    knownHosts: join(dir, 'known_hosts'),
    mirror,
  };
}

export async function buildImage(): Promise<GuestImage> {
  const hash = recipeHash();
  const dir = join(paths.images(), hash);
  if (existsSync(join(dir, 'root.img')) && existsSync(join(dir, 'done'))) {
    return loadImage(dir, readFileSync(join(dir, 'done'), 'utf8').trim());
  }
  await ensureHost('image');
  const mirror = hostMirror();
  const recipe = JSON.parse(readFileSync(join(paths.vm(), 'image', 'recipe.json'), 'utf8')) as Recipe;
  const tmp = join(paths.images(), `.build-${hash}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const logFile = new LogFile(join(tmp, 'image.log'));
  const root = join(tmp, 'rootfs');
  await log.step(`debootstrap ${recipe.suite} (${recipe.variant}) from ${mirror} (log: ${logFile.path})`, () =>
    runOk('debootstrap', [`--variant=${recipe.variant}`, `--include=${recipe.packages.join(',')}`, recipe.suite, root, mirror], { log: logFile }),
  );
  await log.step('guest init, sshd config and keys', async () => {
    copyFileSync(join(paths.vm(), 'image', 'init.sh'), join(root, 'sbin/uringlet-init'));
    chmodSync(join(root, 'sbin/uringlet-init'), 0o755);
    copyFileSync(join(paths.vm(), 'image', 'sshd_config'), join(root, 'etc/ssh/sshd_config'));
    for (const p of recipe.prune ?? []) rmSync(join(root, p), { recursive: true, force: true });
    for (const f of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key', 'ssh_host_rsa_key.pub', 'ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub']) {
      rmSync(join(root, 'etc/ssh', f), { force: true });
    }
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'uringlet-guest-host', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key')], { log: logFile });
    await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'uringlet-client', '-f', join(tmp, 'client_key')], { log: logFile });
    mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
    copyFileSync(join(tmp, 'client_key.pub'), join(root, 'root/.ssh/authorized_keys'));
    copyFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), join(tmp, 'host_key.pub'));
    const pub = readFileSync(join(tmp, 'host_key.pub'), 'utf8').trim().split(/\s+/);
    writeFileSync(join(tmp, 'known_hosts'), `[127.0.0.1]:* ${pub[0]} ${pub[1]}\n`);
    writeFileSync(join(root, 'etc/hostname'), `${recipe.hostname ?? 'uringlet'}\n`);
    mkdirSync(join(root, 'var/log'), { recursive: true });
    rmSync(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  });
  const usedMiB = Number((await runOk('du', ['-sm', root])).stdout.split(/\s/)[0]);
  const sizeMiB = Math.ceil((usedMiB * 1.15 + recipe.freeMiB) / 64) * 64;
  await log.step(`mkfs.ext4 -d (${sizeMiB} MiB, ${usedMiB} MiB used)`, () =>
    runOk('mkfs.ext4', ['-q', '-F', '-L', 'uringlet-root', '-d', root, join(tmp, 'root.img'), `${sizeMiB}M`], { log: logFile }),
  );
  rmSync(root, { recursive: true, force: true });
  writeJsonAtomic(join(tmp, 'recipe.json'), { ...recipe, hash, mirror });
  writeFileSync(join(tmp, 'done'), mirror + '\n');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(paths.images(), { recursive: true });
  renameSync(tmp, dir);
  return loadImage(dir, mirror);
}
