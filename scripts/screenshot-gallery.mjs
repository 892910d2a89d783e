#!/usr/bin/env node
/* global document, window -- page.evaluate runs its callback in the browser */
// Opens a built gallery (`cskd gallery … --out DIR`) from disk in headless
// Chromium at a desktop and a phone viewport and saves screenshots of the
// grid, the larger view and the compare view, so a person can look at them.
// Fails when the page asks for anything outside DIR or logs a console error.
//
//   node scripts/screenshot-gallery.mjs <gallery dir> [out dir] [--hash 'sort=std-desc']
//
// Needs playwright-core and a Chromium (/usr/bin/chromium, or CHROMIUM_PATH);
// exits 0 with a message when there is none.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { hash: { type: 'string', default: '' } } });
const [input, output] = positionals;
if (!input) {
  console.error("usage: node scripts/screenshot-gallery.mjs <gallery dir> [out dir] [--hash 'sort=std-desc']");
  process.exit(2);
}
const site = resolve(input);
const outDir = resolve(output ?? join(site, 'screenshots'));
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.log(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH): screenshots skipped`);
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });

const { chromium } = await import('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'cskd-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const siteUrl = pathToFileURL(site).href + '/';
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(siteUrl) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    problems.push(`fetched ${url}`);
    return route.abort();
  });
  // Lazy images below the fold do not load; wait for those in view.
  const imagesInView = () =>
    page.waitForFunction(() =>
      [...document.images].every((i) => {
        const r = i.getBoundingClientRect();
        return i.complete || r.bottom < 0 || r.top > window.innerHeight || r.width === 0;
      }),
    );
  const settle = async () => {
    await page.waitForSelector('body[data-ready="yes"]');
    await imagesInView();
  };
  for (const [name, w, h] of [['desktop', 1280, 800], ['phone', 390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(`${siteUrl}index.html${values.hash ? `#${values.hash}` : ''}`);
    await settle();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    if (overflow) problems.push(`${name}: the page scrolls sideways`);
    await page.screenshot({ path: join(outDir, `${name}-grid.png`) });
    await page.click('.card');
    await page.waitForSelector('#viewer:not([hidden])');
    await imagesInView();
    await page.screenshot({ path: join(outDir, `${name}-viewer.png`) });
    await page.keyboard.press('Escape');
    if (await page.isVisible('#tab-compare')) {
      await page.click('#tab-compare');
      await page.waitForSelector('svg.scatter');
      await imagesInView();
      await page.screenshot({ path: join(outDir, `${name}-compare.png`), fullPage: name === 'desktop' });
    }
  }
  console.log(`screenshots in ${outDir}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
