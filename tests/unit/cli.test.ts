// Every command answers --help without doing anything, and rejects an unknown
// option as a user error (exit 2) that shows the command's usage, never as an
// internal error.
import test from 'ava';
import { execa } from 'execa';
import { commands } from '../../scripts/commands/index.ts';

const cli = ['--import=tsx', 'scripts/cli.ts'];

for (const name of Object.keys(commands)) {
  test(`${name}: --help prints usage and exits 0; an unknown option is a user error`, async (t) => {
    const help = await execa('node', [...cli, name, '--help'], { reject: false });
    t.is(help.exitCode, 0, help.stderr);
    t.regex(help.stdout, /usage: uringlet /);
    const bad = await execa('node', [...cli, name, '--no-such-option'], { reject: false });
    t.is(bad.exitCode, 2, bad.stdout);
    t.regex(bad.stderr, /uringlet: user-error: /);
    t.regex(bad.stderr, new RegExp(`usage: uringlet ${name}\\b`));
    t.notRegex(bad.stderr, /internal error/);
  });
}

test('vm --put: LOCAL goes to /root/<name>, LOCAL:REMOTE where asked; a relative guest path or a missing file is a user error', async (t) => {
  const { parsePut } = await import('../../scripts/commands/vm.ts');
  const { UserError } = await import('../../scripts/lib/errors.ts');
  t.deepEqual(parsePut('package.json'), { local: 'package.json', remote: '/root/package.json' });
  t.deepEqual(parsePut('tests/unit:/tmp/u'), { local: 'tests/unit', remote: '/tmp/u' });
  t.throws(() => parsePut('package.json:tmp/x'), { instanceOf: UserError, message: /absolute/ });
  t.throws(() => parsePut('no-such-file-here'), { instanceOf: UserError, message: /does not exist/ });
});
