import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../lib/errors.ts';

export interface Command {
  /** One line for `uringlet --help`. */
  summary: string;
  /** Receives argv after the command name; returns the exit code. Throws typed errors. */
  run(argv: string[]): Promise<number>;
}

/**
 * For commands whose arguments are a few flags: true if --help/-h asked for
 * the usage (printed here), a UserError for anything not in @flags.
 */
export function helpOrFlags(argv: string[], flags: string[], help: string): boolean {
  const unknown = argv.filter((a) => ![...flags, '--help', '-h'].includes(a));
  if (unknown.length > 0) throw new UserError(`unknown argument '${unknown[0]}'`, { details: help.split('\n') });
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help + '\n');
    return true;
  }
  return false;
}

/**
 * parseArgs with the command's usage attached to the UserError a bad
 * option becomes; null if --help/-h asked for the usage (printed here)
 */
export function parseCommandArgs<T extends ParseArgsConfig & { options: { help: { type: 'boolean' } } }>(
  config: T,
  help: string,
): ReturnType<typeof parseArgs<T>> | null {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    throw new UserError((e as Error).message, { details: help.split('\n') });
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help + '\n');
    return null;
  }
  return parsed;
}
