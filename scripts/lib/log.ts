// Progress on stderr, full logs in files. A failing step prints its last
// relevant lines and the path of the whole log.
import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

const quiet = () => process.env.URINGLET_QUIET === '1';
const t0 = Date.now();

function stamp(): string {
  const s = (Date.now() - t0) / 1000;
  return `[${s.toFixed(1).padStart(6)}s]`;
}

export const log = {
  info(msg: string): void {
    if (!quiet()) process.stderr.write(`${stamp()} ${msg}\n`);
  },
  warn(msg: string): void {
    process.stderr.write(`${stamp()} warning: ${msg}\n`);
  },
  step<T>(title: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    log.info(`▸ ${title}`);
    return fn().then(
      (v) => {
        log.info(`✓ ${title} (${((Date.now() - start) / 1000).toFixed(1)}s)`);
        return v;
      },
      (e: unknown) => {
        log.info(`✗ ${title} (${((Date.now() - start) / 1000).toFixed(1)}s)`);
        throw e;
      },
    );
  },
};

/** Append-only log file, created with its directory on first write. */
export class LogFile {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }
  write(text: string): void {
    appendFileSync(this.path, text);
  }
  tail(lines = 30): string[] {
    return tailLines(this.path, lines);
  }
}

export function tailLines(path: string, lines = 30): string[] {
  if (!existsSync(path)) return [];
  const all = readFileSync(path, 'utf8').split('\n');
  while (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all.slice(-lines);
}
