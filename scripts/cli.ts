#!/usr/bin/env -S node --import tsx
// Thin CLI: parse the command name, hand the rest to the command module, map
// typed errors to exit codes. All behaviour lives in lib/ and commands/.
import { commands } from './commands/index.ts';
import { isUringletError, ExitCode, UserError } from './lib/errors.ts';

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return [
    'usage: uringlet <command> [options]',
    '',
    'commands:',
    ...rows,
    '',
    'exit codes: 0 ok, 1 test failure/regression, 2 user or infrastructure error, 3 kernel crash/hang',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? ExitCode.userOrInfra : ExitCode.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`uringlet: unknown command '${name}'\n\n${usage()}\n`);
    return ExitCode.userOrInfra;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    // node:util parseArgs rejects unknown or malformed options with a TypeError: that is the user's input.
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UserError((e as Error).message, { details: [`see: uringlet ${name} --help`] });
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (isUringletError(e)) {
      process.stderr.write(`\nuringlet: ${e.kind}: ${e.message}\n`);
      for (const line of e.details) process.stderr.write(`  | ${line}\n`);
      if (e.logPath !== undefined) process.stderr.write(`  full log: ${e.logPath}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`\nuringlet: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = ExitCode.userOrInfra;
    }
  },
);
