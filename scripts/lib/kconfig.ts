// Kernel configuration from fragments in vm/kconfig/, merged onto
// `make tinyconfig` with the kernel's merge_config.sh, then verified: an
// option that did not land is an error (Kconfig drops unmet ones silently).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors.ts';
import { LogFile } from './log.ts';
import { paths } from './paths.ts';
import { runOk } from './proc.ts';

export type Variant = 'default' | 'debug';

/** option name -> requested value ('y', 'm', 'n' or a literal) */
export type Fragment = Map<string, string>;

export function parseFragment(text: string): Fragment {
  const out: Fragment = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const off = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (off?.[1] !== undefined) {
      out.set(off[1], 'n');
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) throw new UserError(`bad kernel config fragment line: ${line}`);
    out.set(m[1], m[2]);
  }
  return out;
}

/** Pure: requested options that are not in the final .config as requested. */
export function missingOptions(requested: Fragment, finalConfig: string): string[] {
  const final = parseFragment(finalConfig);
  const missing: string[] = [];
  for (const [k, v] of requested) {
    const got = final.get(k);
    if (v === 'n' ? got !== undefined && got !== 'n' : got !== v) missing.push(`${k}=${v} (got ${got === undefined ? 'unset' : got})`);
  }
  return missing;
}

export function fragmentFiles(variant: Variant): string[] {
  const dir = paths.kconfig();
  return variant === 'debug' ? [join(dir, 'base.config'), join(dir, 'debug.config')] : [join(dir, 'base.config')];
}

export function fragmentsHash(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

/** All options the fragments request; a later fragment overrides an earlier one (as merge_config.sh does). */
export function requestedOptions(files: string[]): Fragment {
  const all: Fragment = new Map();
  for (const f of files) for (const [k, v] of parseFragment(readFileSync(f, 'utf8'))) all.set(k, v);
  return all;
}

const shortName = (f: string): string => f.split('/').slice(-3).join('/');

/** Throw a UserError naming every requested option that is not in `configPath` as requested. */
export function verifyConfig(fragments: string[], configPath: string, logPath?: string): void {
  const missing = missingOptions(requestedOptions(fragments), readFileSync(configPath, 'utf8'));
  if (missing.length > 0) {
    throw new UserError(`${missing.length} kernel config option(s) requested in ${fragments.map(shortName).join(' + ')} did not land in ${configPath} (unmet dependencies?)`, {
      details: [...missing, 'check each option\'s "depends on" in its Kconfig (make O=<dir> menuconfig, then /OPTION) and add what it needs to the fragment'],
      ...(logPath !== undefined ? { logPath } : {}),
    });
  }
}

/**
 * Write <buildDir>/.config: tinyconfig, the fragments merged with the
 * kernel's merge_config.sh, olddefconfig; then verify every option landed.
 */
export async function configure(
  tree: string,
  buildDir: string,
  fragments: string[],
  makeArgs: string[],
  env: Record<string, string>,
  logFile: LogFile,
): Promise<string> {
  const opts = { cwd: tree, env, log: logFile };
  const configPath = join(buildDir, '.config');
  await runOk('make', [...makeArgs, 'tinyconfig'], opts);
  await runOk('scripts/kconfig/merge_config.sh', ['-m', '-O', buildDir, configPath, ...fragments], {
    ...opts,
    env: { ...env, KCONFIG_CONFIG: configPath },
  });
  await runOk('make', [...makeArgs, 'olddefconfig'], opts);
  verifyConfig(fragments, configPath, logFile.path);
  return configPath;
}
