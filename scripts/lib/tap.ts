// TAP (kselftest style) parsing: pure, so fixtures test it.
export interface TapTest {
  n: number;
  name: string;
  ok: boolean;
  skip: boolean;
  comment: string;
}

export interface TapResult {
  tests: TapTest[];
  planned: number | null;
  diagnostics: string[];
  passed: number;
  failed: number;
  skipped: number;
  /** plan present and matching, and no failure */
  ok: boolean;
}

export function parseTap(text: string): TapResult {
  const tests: TapTest[] = [];
  const diagnostics: string[] = [];
  let planned: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan?.[1] !== undefined) {
      planned = Number(plan[1]);
      continue;
    }
    const m = /^(not ok|ok)\s+(\d+)\s*-?\s*([^#]*?)\s*(?:#\s*(.*))?$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) {
      const comment = m[4] ?? '';
      tests.push({ n: Number(m[2]), name: (m[3] ?? '').trim(), ok: m[1] === 'ok', skip: /^SKIP\b/i.test(comment), comment });
      continue;
    }
    if (line.startsWith('#')) diagnostics.push(line.slice(1).trim());
  }
  const failed = tests.filter((t) => !t.ok).length;
  const skipped = tests.filter((t) => t.ok && t.skip).length;
  return {
    tests, planned, diagnostics,
    passed: tests.length - failed - skipped, failed, skipped,
    ok: planned !== null && planned === tests.length && failed === 0,
  };
}
