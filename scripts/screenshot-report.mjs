#!/usr/bin/env node
/* global document, window -- page.evaluate runs its callback in the browser */
// Opens a report (any local HTML file) in headless Chromium and saves a
// full-page screenshot, so a person can look at what the report really looks
// like in a browser. Also fails when the page asks the network for anything
// (the report must be self-contained) or logs a console error.
//
//   node scripts/screenshot-report.mjs <report.html> [out.png] [--width 1200]
//
// Needs playwright-core (a devDependency) and a Chromium: Debian's
// (apt-get install chromium) at /usr/bin/chromium, or CHROMIUM_PATH.
// Exits 0 with a message (and no screenshot) when no Chromium is found.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { width: { type: 'string', default: '1200' } } });
const [input, output] = positionals;
if (!input) {
  console.error('usage: node scripts/screenshot-report.mjs <report.html> [out.png] [--width 1200]');
  process.exit(2);
}
const html = resolve(input);
const png = resolve(output ?? html.replace(/\.html?$/i, '') + '.png');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.log(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH): screenshot skipped`);
  process.exit(0);
}

const { chromium } = await import('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'cskd-chromium-'));
// A fresh profile each run (playwright takes it as the persistent context's folder, i.e. --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: Number(values.width), height: 900 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const problems = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // A self-contained report loads nothing but itself.
  const own = pathToFileURL(html).href;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === own || url.startsWith('data:')) return route.continue();
    problems.push(`fetched ${url}`);
    return route.abort();
  });
  await page.goto(own, { waitUntil: 'load' });
  const stats = await page.evaluate(() => ({
    svgs: document.querySelectorAll('svg').length,
    emptySvgs: [...document.querySelectorAll('svg')].filter((s) => s.getBoundingClientRect().height < 10).length,
    overflowX: document.documentElement.scrollWidth > window.innerWidth,
    height: document.documentElement.scrollHeight,
  }));
  if (stats.emptySvgs > 0) problems.push(`${stats.emptySvgs} of ${stats.svgs} plots have no height`);
  if (stats.overflowX) problems.push('the page scrolls sideways');
  await page.screenshot({ path: png, fullPage: true });
  console.log(`${png}: ${stats.svgs} plots, page ${stats.height} px tall`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
