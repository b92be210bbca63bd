// The HTML report opened in a real headless Chromium (Debian's `chromium`
// package) and screenshotted: the SVG charts must lay out with real sizes
// and the screenshot must not be a blank page.
import test from 'ava';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { renderHtml } from '../../scripts/lib/report-html.ts';
import { fixtureSummary } from './report-fixture.ts';

const executablePath = '/usr/bin/chromium';

test('report.html renders in headless Chromium with visible SVG charts', async (t) => {
  if (!existsSync(executablePath)) {
    return t.fail(`${executablePath} missing: install the Debian package 'chromium' (apt-get install chromium)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'report-html-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtml(fixtureSummary()));
  // A fresh profile directory per run (Playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file://')) requests.push(r.url());
    });
    await page.goto(`file://${file}`);
    const layout = await page.evaluate(() => {
      const svgs = [...document.querySelectorAll('svg')];
      return {
        title: document.title,
        svgs: svgs.map((s) => {
          const r = s.getBoundingClientRect();
          return { w: r.width, h: r.height, marks: s.querySelectorAll('circle, rect, polyline').length };
        }),
      };
    });
    t.regex(layout.title, /uringlet compare/);
    t.true(layout.svgs.length >= 6);
    for (const s of layout.svgs) {
      t.true(s.w > 300 && s.h > 200, `svg laid out at ${s.w}x${s.h}`);
      t.true(s.marks > 3);
    }
    t.deepEqual(requests, [], 'the report must not fetch anything');

    const full = await page.screenshot({ fullPage: true, path: join(dir, 'report.png') });
    const chart = await page.locator('svg').first().screenshot();
    await page.setContent('<!doctype html><html><body></body></html>');
    const blank = await page.screenshot({ fullPage: true });
    // PNG sizes track content: a rendered report compresses far worse than a blank page.
    t.true(full.length > 20 * blank.length, `report ${full.length} B vs blank ${blank.length} B`);
    t.true(chart.length > 5000, `chart screenshot ${chart.length} B`);
    t.log(`screenshot: ${join(dir, 'report.png')} (${full.length} bytes)`);
  } finally {
    await browser.close();
  }
  rmSync(join(dir, 'profile'), { recursive: true, force: true });
});
