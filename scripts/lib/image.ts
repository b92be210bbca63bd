// The guest image: Debian minbase from the host's apt mirror, our init and
// sshd config, per-image keys (client key and pinned host key), packed with
// `mkfs.ext4 -d` (no loop mounts). Two cache levels under paths.images():
//   base-<hash>/rootfs   debootstrap output (suite, packages, prune list, mirror)
//   <hash>/root.img      the bootable image (base + init.sh + sshd_config + keys)
// so editing the init or sshd settings rebuilds in seconds, not a minute.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic.ts';
import { InfraError } from './errors.ts';
import { ensureHost } from './host.ts';
import { LogFile, log } from './log.ts';
import { paths } from './paths.ts';
import { runOk } from './proc.ts';
import { procStartTime, withFileLock } from './lifecycle.ts';

export interface GuestImage {
  /** recipe hash: the image's identity */
  hash: string;
  dir: string;
  rootImage: string;
  clientKey: string;
  /** host key blob (base64 of the SSH wire format), pinned by the SSH client */
  hostKeyBlob: string;
  /** known_hosts for the system ssh client, under the alias `hostKeyAlias` */
  knownHosts: string;
  hostKeyAlias: string;
  mirror: string;
  /** image.json: packages and versions, size, build time */
  metadataPath: string;
}

export interface Recipe {
  suite: string;
  variant: string;
  components: string[];
  packages: string[];
  prune: string[];
  hostname: string;
  /** free space left in the root filesystem on top of its contents */
  freeMiB: number;
}

export interface ImageMetadata {
  schema: 1;
  hash: string;
  baseHash: string;
  suite: string;
  mirror: string;
  packages: Record<string, string>;
  usedMiB: number;
  sizeMiB: number;
  builtAt: string;
  durationSec: number;
}

/** Bump when the way an image is assembled changes (not its inputs). */
const FORMAT = 2;
const HOST_KEY_ALIAS = 'uringlet-guest';

function recipeDir(): string {
  return join(paths.vm(), 'image');
}

export function loadRecipe(): Recipe {
  return JSON.parse(readFileSync(join(recipeDir(), 'recipe.json'), 'utf8')) as Recipe;
}

/**
 * Pure: the mirror for `suite` in an apt sources text, deb822
 * (sources.list.d/*.sources) or one-line (sources.list) format. Security and
 * updates suites are skipped: debootstrap needs the main archive.
 */
export function mirrorFromAptSources(text: string, suite = 'bookworm'): string | undefined {
  if (/^\s*(Types|URIs):/im.test(text)) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string): string[] => {
        const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(stanza);
        return (m?.[1] ?? '').trim().split(/\s+/).filter((x) => x !== '');
      };
      if (/^\s*Enabled:\s*no/im.test(stanza)) continue;
      if (!field('Types').includes('deb') || !field('Suites').includes(suite)) continue;
      const uri = field('URIs')[0];
      if (uri !== undefined) return uri;
    }
    return undefined;
  }
  for (const line of text.split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[2] === suite && m[1] !== undefined) return m[1];
  }
  return undefined;
}

/** The mirror the host's apt uses (URINGLET_MIRROR overrides). */
export function hostMirror(suite: string): string {
  const env = process.env.URINGLET_MIRROR;
  if (env !== undefined && env !== '') return env;
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const m = mirrorFromAptSources(readFileSync(f, 'utf8'), suite);
    if (m !== undefined) return m;
  }
  throw new InfraError(`no apt source for ${suite} in ${files.join(' or ')}`, {
    details: ['set URINGLET_MIRROR to a Debian mirror URL (the one apt uses on this host)'],
  });
}

function sha(parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Identity of the debootstrap stage. */
export function baseHash(recipe: Recipe, mirror: string): string {
  return sha([String(FORMAT), recipe.suite, recipe.variant, recipe.components.join(','), [...recipe.packages].sort().join(','), recipe.prune.join(','), mirror]);
}

/** Identity of the final image: the base plus everything in vm/image. */
export function recipeHash(recipe: Recipe = loadRecipe(), mirror: string = hostMirror(recipe.suite)): string {
  return sha([baseHash(recipe, mirror), readFileSync(join(recipeDir(), 'recipe.json')), readFileSync(join(recipeDir(), 'init.sh')), readFileSync(join(recipeDir(), 'sshd_config'))]);
}

function loadImage(dir: string, hash: string): GuestImage {
  const pub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
  const meta = JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as ImageMetadata;
  return {
    hash,
    dir,
    rootImage: join(dir, 'root.img'),
    clientKey: join(dir, 'client_key'),
    hostKeyBlob: pub[1] ?? '',
    knownHosts: join(dir, 'known_hosts'),
    hostKeyAlias: HOST_KEY_ALIAS,
    mirror: meta.mirror,
    metadataPath: join(dir, 'image.json'),
  };
}

async function buildBase(recipe: Recipe, mirror: string, hash: string): Promise<string> {
  const dir = join(paths.images(), `base-${hash}`);
  const rootfs = join(dir, 'rootfs');
  if (existsSync(join(dir, 'done'))) return rootfs;
  const tmp = join(paths.images(), `.base-${hash}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const logFile = new LogFile(join(tmp, 'debootstrap.log'));
  await log.step(`debootstrap ${recipe.suite} (${recipe.variant}, ${recipe.packages.length} packages; log: ${logFile.path})`, () =>
    runOk(
      'debootstrap',
      [`--variant=${recipe.variant}`, `--components=${recipe.components.join(',')}`, `--include=${recipe.packages.join(',')}`, recipe.suite, join(tmp, 'rootfs'), mirror],
      { log: logFile },
    ),
  );
  for (const p of recipe.prune) rmSync(join(tmp, 'rootfs', p), { recursive: true, force: true });
  writeFileSync(join(tmp, 'done'), `${mirror}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return rootfs;
}

/** Installed package versions, read from the image's dpkg database (no chroot). */
async function packageVersions(rootfs: string): Promise<Record<string, string>> {
  const r = await runOk('dpkg-query', [`--admindir=${join(rootfs, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\t${Version}\n']);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const [p, v] = line.split('\t');
    if (p && v) out[p] = v;
  }
  return out;
}

/** Our files into a copy of the base: init, sshd config, keys, fstab, hostname. */
async function customize(root: string, out: string, recipe: Recipe, logFile: LogFile): Promise<void> {
  const src = recipeDir();
  copyFileSync(join(src, 'init.sh'), join(root, 'sbin/uringlet-init'));
  chmodSync(join(root, 'sbin/uringlet-init'), 0o755);
  copyFileSync(join(src, 'sshd_config'), join(root, 'etc/ssh/sshd_config'));
  // Host keys made by openssh-server's postinst are dropped: one ed25519 key, made here, pinned by the client.
  for (const t of ['rsa', 'ecdsa', 'ed25519', 'dsa']) {
    rmSync(join(root, `etc/ssh/ssh_host_${t}_key`), { force: true });
    rmSync(join(root, `etc/ssh/ssh_host_${t}_key.pub`), { force: true });
  }
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'uringlet-guest-host', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key')], { log: logFile });
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'uringlet-client', '-f', join(out, 'client_key')], { log: logFile });
  chmodSync(join(out, 'client_key'), 0o600);
  mkdirSync(join(root, 'root/.ssh'), { recursive: true });
  chmodSync(join(root, 'root/.ssh'), 0o700);
  copyFileSync(join(out, 'client_key.pub'), join(root, 'root/.ssh/authorized_keys'));
  chmodSync(join(root, 'root/.ssh/authorized_keys'), 0o600);
  copyFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), join(out, 'host_key.pub'));
  const pub = readFileSync(join(out, 'host_key.pub'), 'utf8').trim().split(/\s+/);
  // The port changes every boot: the system ssh client looks the key up under a fixed alias (-o HostKeyAlias).
  writeFileSync(join(out, 'known_hosts'), `${HOST_KEY_ALIAS} ${pub[0]} ${pub[1]}\n`);
  writeFileSync(join(root, 'etc/hostname'), `${recipe.hostname}\n`);
  writeFileSync(join(root, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${recipe.hostname}\n`);
  // One `mount -a` in the init mounts all of these (a fork costs ~50 ms under TCG).
  writeFileSync(
    join(root, 'etc/fstab'),
    [
      'proc /proc proc defaults 0 0',
      'sys /sys sysfs defaults 0 0',
      'devpts /dev/pts devpts gid=5,mode=620,ptmxmode=666 0 0',
      'shm /dev/shm tmpfs mode=1777 0 0',
      'tmp /tmp tmpfs mode=1777 0 0',
      '',
    ].join('\n'),
  );
  // The root filesystem is a fresh per-run overlay: /run needs no tmpfs, sshd's privsep dir can ship in the image.
  for (const d of ['run/sshd', 'dev/pts', 'dev/shm', 'var/log', 'var/cache/apt/archives/partial']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'run/sshd'), 0o755);
}

async function buildFinal(hash: string, recipe: Recipe, mirror: string): Promise<void> {
  const t0 = Date.now();
  const bHash = baseHash(recipe, mirror);
  const base = await buildBase(recipe, mirror, bHash);
  const tmp = join(paths.images(), `.build-${hash}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const logFile = new LogFile(join(tmp, 'image.log'));
  const root = join(tmp, 'rootfs');
  await runOk('cp', ['-a', '--reflink=auto', base, root], { log: logFile });
  await log.step('guest init, sshd config and keys', () => customize(root, tmp, recipe, logFile));
  const packages = await packageVersions(root);
  const usedMiB = Number((await runOk('du', ['-sm', root])).stdout.split(/\s/)[0]);
  const sizeMiB = Math.ceil((usedMiB * 1.15 + recipe.freeMiB) / 64) * 64;
  await log.step(`mkfs.ext4 -d (${sizeMiB} MiB, ${usedMiB} MiB used)`, () =>
    runOk('mkfs.ext4', ['-q', '-F', '-L', 'uringlet-root', '-m', '0', '-d', root, join(tmp, 'root.img'), `${sizeMiB}M`], { log: logFile }),
  );
  rmSync(root, { recursive: true, force: true });
  const meta: ImageMetadata = {
    schema: 1, hash, baseHash: bHash, suite: recipe.suite, mirror, packages, usedMiB, sizeMiB,
    builtAt: new Date().toISOString(), durationSec: Math.round((Date.now() - t0) / 100) / 10,
  };
  writeJsonAtomic(join(tmp, 'image.json'), meta);
  const dir = join(paths.images(), hash);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

/**
 * Old images and bases (other recipes) untouched for `days`, and build
 * directories of builders that died. Recent ones stay: another checkout (or a
 * VM booting right now) may still use them.
 */
export function pruneImages(keep: { hash: string; baseHash: string }, days = 2): string[] {
  const root = paths.images();
  if (!existsSync(root)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    const old = Date.now() - statSync(p).mtimeMs > days * 86400_000;
    const deadBuilder = /^\.(build|base)-[0-9a-f]+-(\d+)$/.exec(name);
    const stale =
      (/^[0-9a-f]{16}$/.test(name) && name !== keep.hash && old) ||
      (/^base-[0-9a-f]{16}$/.test(name) && name !== `base-${keep.baseHash}` && old) ||
      (deadBuilder !== null && procStartTime(Number(deadBuilder[2])) === null);
    if (stale) {
      rmSync(p, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** The guest image for the current recipe: cached, built on first use (one builder at a time). */
export async function buildImage(): Promise<GuestImage> {
  const recipe = loadRecipe();
  const mirror = hostMirror(recipe.suite);
  const hash = recipeHash(recipe, mirror);
  const dir = join(paths.images(), hash);
  const ready = (): boolean => existsSync(join(dir, 'image.json')) && existsSync(join(dir, 'root.img'));
  if (!ready()) {
    mkdirSync(paths.images(), { recursive: true });
    await withFileLock(join(paths.images(), `.lock-${hash}`), async () => {
      if (ready()) return; // another process built it while we waited
      await ensureHost('image');
      await log.step(`building guest image ${hash} (${recipe.suite}, mirror ${mirror})`, () => buildFinal(hash, recipe, mirror));
      const removed = pruneImages({ hash, baseHash: baseHash(recipe, mirror) });
      if (removed.length > 0) log.info(`removed old guest images: ${removed.join(' ')}`);
    });
  }
  return loadImage(dir, hash);
}

/** Size of the image file in MiB (for `uringlet image`). */
export function imageSizeMiB(img: GuestImage): number {
  return Math.round(statSync(img.rootImage).size / 2 ** 20);
}
