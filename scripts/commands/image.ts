// `uringlet image`: build (or find cached) the guest image and print where it is.
import { readFileSync } from 'node:fs';
import { helpOrFlags, type Command } from './types.ts';
import { buildImage, imageSizeMiB, type ImageMetadata } from '../lib/image.ts';

const imageHelp = `usage: uringlet image [--json]
  Builds the guest image from the recipe in vm/image/ (or finds it in the cache), prints where it is,
  what it holds and its SSH key and pinned host key; --json prints the same as JSON.`;

const command: Command = {
  summary: 'build (or show the cached) guest image',
  async run(argv) {
    if (helpOrFlags(argv, ['--json'], imageHelp)) return 0;
    const img = await buildImage();
    const meta = JSON.parse(readFileSync(img.metadataPath, 'utf8')) as ImageMetadata;
    if (argv.includes('--json')) {
      process.stdout.write(JSON.stringify({ ...img, metadata: meta }, null, 2) + '\n');
      return 0;
    }
    const show = ['fio', 'liburing2', 'openssh-server', 'xfsprogs', 'e2fsprogs'].map((p) => `${p} ${meta.packages[p] ?? '?'}`).join(', ');
    process.stdout.write(
      [
        `image:       ${img.rootImage} (${imageSizeMiB(img)} MiB, ${meta.usedMiB} MiB used, recipe ${img.hash})`,
        `built:       ${meta.builtAt} in ${meta.durationSec} s from ${meta.mirror} (${meta.suite})`,
        `packages:    ${Object.keys(meta.packages).length} (${show})`,
        `client key:  ${img.clientKey}`,
        `known_hosts: ${img.knownHosts} (host key alias ${img.hostKeyAlias})`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
export default command;
