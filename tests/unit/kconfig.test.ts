// Fragment verification against real final .config files (copied from the
// stock default and uringlet debug builds of this machine).
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../scripts/lib/errors.ts';
import { fragmentFiles, missingOptions, parseFragment, requestedOptions, verifyConfig } from '../../scripts/lib/kconfig.ts';
import { repoRoot } from '../../scripts/lib/paths.ts';

const fx = (f: string): string => join(repoRoot, 'tests/fixtures/kernel', f);
const read = (f: string): string => readFileSync(fx(f), 'utf8');

test('fragments: y, values, "=n" and "is not set" are all requests', (t) => {
  const req = parseFragment(read('request.config'));
  t.is(req.get('CONFIG_KASAN'), 'n');
  t.is(req.get('CONFIG_SLOB'), 'n');
  t.is(req.get('CONFIG_NR_CPUS'), '64');
  t.is(req.size, 5);
  t.throws(() => parseFragment('CONFIG_OK=y\nnot a config line\n'), { instanceOf: UserError, message: /not a config line/ });
});

test('every option of base.config landed in the real stock default .config', (t) => {
  t.deepEqual(missingOptions(requestedOptions(fragmentFiles('default')), read('stock-default.config')), []);
});

test('every option of base.config + debug.config landed in the real debug .config', (t) => {
  const req = requestedOptions(fragmentFiles('debug'));
  for (const o of ['CONFIG_PROVE_LOCKING', 'CONFIG_DEBUG_ATOMIC_SLEEP', 'CONFIG_KASAN', 'CONFIG_DEBUG_KMEMLEAK', 'CONFIG_DETECT_HUNG_TASK']) {
    t.is(req.get(o), 'y', `debug.config asks for ${o}`);
  }
  t.deepEqual(missingOptions(req, read('uringlet-debug.config')), []);
});

test('the debug options are named one by one when checked against a default .config', (t) => {
  const missing = missingOptions(parseFragment(readFileSync(join(repoRoot, 'vm/kconfig/debug.config'), 'utf8')), read('stock-default.config'));
  t.true(missing.includes('CONFIG_KASAN_GENERIC=y (got unset)'), missing.join('\n'));
  t.true(missing.includes('CONFIG_KASAN=y (got n)'), missing.join('\n'));
  t.true(missing.includes('CONFIG_PROVE_LOCKING=y (got n)'), 'an option shown as "is not set" reads as n');
  t.true(missing.includes('CONFIG_DEBUG_KMEMLEAK=y (got n)'), missing.join('\n'));
  // SLUB comes from base.config (tinyconfig would pick SLOB), not from debug.config
  t.false(missing.some((m) => m.startsWith('CONFIG_SLUB=')));
});

test('"=n" is satisfied by "is not set" or absence, and violated by y', (t) => {
  const final = read('final.config');
  t.deepEqual(missingOptions(parseFragment('CONFIG_KASAN=n\n# CONFIG_SLOB is not set\nCONFIG_NOT_THERE=n\n'), final), []);
  t.deepEqual(missingOptions(parseFragment('CONFIG_IO_URING=n\n'), final), ['CONFIG_IO_URING=n (got y)']);
  t.deepEqual(missingOptions(parseFragment('CONFIG_NR_CPUS=8\n'), final), ['CONFIG_NR_CPUS=8 (got 64)']);
});

test('a later fragment overrides an earlier one, as merge_config.sh does', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'uringlet-kconfig-'));
  writeFileSync(join(d, 'a.config'), 'CONFIG_A=y\nCONFIG_B=y\n');
  writeFileSync(join(d, 'b.config'), '# CONFIG_B is not set\n');
  t.deepEqual([...requestedOptions([join(d, 'a.config'), join(d, 'b.config')])], [['CONFIG_A', 'y'], ['CONFIG_B', 'n']]);
});

test('verifyConfig throws a UserError naming every dropped option', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'uringlet-kconfig-'));
  writeFileSync(join(d, 'want.config'), 'CONFIG_XFS_FS=y\nCONFIG_KASAN=y\nCONFIG_IO_URING=y\n');
  const e = t.throws(() => verifyConfig([join(d, 'want.config')], fx('final.config')), { instanceOf: UserError });
  t.regex(e?.message ?? '', /^2 kernel config option\(s\)/);
  t.deepEqual((e as UserError).details.slice(0, 2), ['CONFIG_XFS_FS=y (got unset)', 'CONFIG_KASAN=y (got n)']);
  t.notThrows(() => verifyConfig([join(d, 'want.config')].slice(0, 0), fx('final.config')));
});
