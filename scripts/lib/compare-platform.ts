// Adapter from the comparison runner's Platform to the modules other
// engineers own: kernel builds (kbuild.ts), the guest image (image.ts), VMs
// (vm.ts) and the functional suites (guest-tests.ts, liburing-suite.ts).
// Kept thin on purpose; a missing module is a clear error (or, for a test
// suite, a loud "not run"), never a silent skip.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError } from './errors.ts';
import { repoRoot } from './paths.ts';
import type { Platform } from './compare-run.ts';

function libPath(name: string): string {
  return join(repoRoot, 'scripts', 'lib', name);
}

export async function realPlatform(): Promise<Platform> {
  const missing = ['kbuild.ts', 'vm.ts'].filter((f) => !existsSync(libPath(f)));
  if (missing.length > 0) {
    throw new InfraError(`the comparison needs ${missing.map((m) => `scripts/lib/${m}`).join(' and ')}, which this checkout does not have yet`);
  }
  throw new InfraError('compare-platform: adapter to kbuild.ts/vm.ts not written yet');
}
