import type { Command } from './types.ts';
import { buildImage } from '../lib/image.ts';

const command: Command = {
  summary: 'build (or show the cached) guest image',
  async run() {
    const img = await buildImage();
    process.stdout.write(`image:  ${img.rootImage}\nkey:    ${img.clientKey}\nknown_hosts: ${img.knownHosts}\n`);
    return 0;
  },
};
export default command;
