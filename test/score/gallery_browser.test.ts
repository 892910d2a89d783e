// The gallery page in headless Chromium (playwright-core), opened from disk
// as a person would: nothing requested outside the site, no console error,
// sorting, filtering, the larger view and its keys, the URL hash, the
// compare scatter, both viewports, no layout shift while thumbnails load,
// 100 000 rows, and drag-and-drop scoring when served live. Every expected
// order and count is computed here from the fixture's own numbers.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildGallery } from '../../src/score/gallery/build.js';
import { createGalleryHandler } from '../../src/score/gallery/handler.js';
import { tempDir } from '../data/images.js';
import { spearmanRef } from '../helpers/reference.js';
import { BINS, type Fixture, makeFixture } from './gallery_fixtures.js';

import type { BrowserContext as Browser, Page } from 'playwright-core';

const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const N = 40;
const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

let tmp: { dir: string; cleanup: () => void };
let fx: Fixture;
let site: string;
let siteUrl: string;
let context: Browser;
let profile: string;

/** A fresh page that records every request leaving the site and every console error. */
async function openPage(opts: { viewport?: { width: number; height: number }; hash?: string; delayThumbsMs?: number; url?: string } = {}) {
  const page = await context.newPage();
  const problems: string[] = [];
  const thumbs = new Set<string>();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const base = opts.url ?? siteUrl;
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (!url.startsWith(base) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      problems.push(`fetched ${url}`);
      return route.abort();
    }
    if (url.includes('/thumbs/')) thumbs.add(url);
    if (opts.delayThumbsMs && url.includes('/thumbs/')) await new Promise((r) => setTimeout(r, opts.delayThumbsMs));
    return route.continue();
  });
  await page.setViewportSize(opts.viewport ?? { width: 1280, height: 800 });
  await page.goto(`${base}index.html${opts.hash ? `#${opts.hash}` : ''}`);
  await page.waitForSelector('body[data-ready="yes"]', { timeout: 30_000 });
  return { page, problems, thumbs };
}

const cardPaths = (page: Page) => page.$$eval('#grid .card .path', (els) => els.map((e) => e.getAttribute('title')));

beforeAll(async () => {
  if (!existsSync(chromiumPath)) return;
  tmp = tempDir('cskd-gallery-web-');
  fx = await makeFixture(tmp.dir, N);
  site = join(tmp.dir, 'site');
  await buildGallery({ scores: [fx.student, fx.teacher], images: fx.dir, labels: fx.dataset, out: site, chunkRows: 16 });
  siteUrl = `${pathToFileURL(site).href}/`;
  const { chromium } = await import('playwright-core');
  profile = mkdtempSync(join(tmpdir(), 'cskd-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  tmp?.cleanup();
});

describe.skipIf(!existsSync(chromiumPath))('gallery page in Chromium', () => {
  it('sorts, filters, lists errors apart, keeps the view in the hash, and opens a larger view with keys', async () => {
    const { page, problems } = await openPage();
    const byMeanDesc = [...fx.studentRows].sort((a, b) => r4(b.mean) - r4(a.mean)).map((r) => r.path);
    expect(await cardPaths(page)).toEqual(byMeanDesc);
    // Mean ± std on a card is the score file's.
    const top = fx.studentRows.find((r) => r.path === byMeanDesc[0])!;
    expect(await page.textContent('#grid .card .score')).toContain(`${top.mean.toFixed(2)} ± ${top.std.toFixed(2)}`);

    // Its histogram: one bar per bin, heights in proportion to the distribution (the tallest of it and the true one fills the box).
    const heights = (await page.$$eval('#grid .card >> nth=0', (els) => [...els[0]!.querySelectorAll('svg.hist rect.bar')].map((r) => Number(r.getAttribute('height'))))) as number[];
    const tallest = Math.max(...top.distribution.map(r4), ...fx.labelDistributions.get(top.path)!.map(r4));
    expect(heights).toHaveLength(BINS.length);
    heights.forEach((h, k) => expect(h).toBeCloseTo((r4(top.distribution[k]!) / tallest) * 27, 1));

    await page.selectOption('#sort', 'std-asc');
    const byStdAsc = [...fx.studentRows].sort((a, b) => r4(a.std) - r4(b.std)).map((r) => r.path);
    expect(await cardPaths(page)).toEqual(byStdAsc);
    expect(page.url()).toContain('#sort=std-asc');

    await page.selectOption('#sort', 'err-desc');
    const byError = [...fx.studentRows].sort((a, b) => Math.abs(r4(b.mean) - r4(fx.labels.get(b.path)!)) - Math.abs(r4(a.mean) - r4(fx.labels.get(a.path)!))).map((r) => r.path);
    expect(await cardPaths(page)).toEqual(byError);

    await page.fill('#min', '4');
    await page.fill('#max', '6');
    await page.waitForFunction("location.hash.includes('max=6')");
    const inRange = byError.filter((p) => {
      const m = r4(fx.studentRows.find((r) => r.path === p)!.mean);
      return m >= 4 && m <= 6;
    });
    expect(inRange.length).toBeGreaterThan(0);
    expect(inRange.length).toBeLessThan(N - 1);
    expect(await cardPaths(page)).toEqual(inRange);
    await page.fill('#min', '');
    await page.fill('#max', '');
    await page.fill('#q', 'photo-01');
    await page.waitForFunction("location.hash.includes('q=photo-01')");
    expect(await cardPaths(page)).toEqual(byError.filter((p) => p.includes('photo-01')));

    // The hash is the view: a new page opened at this URL shows the same cards.
    const shared = await openPage({ hash: new URL(page.url()).hash.slice(1) });
    expect(await cardPaths(shared.page)).toEqual(byError.filter((p) => p.includes('photo-01')));
    expect(shared.problems).toEqual([]);
    await shared.page.close();

    // Errors apart: the one row the student could not score, and not among the cards.
    await page.fill('#q', '');
    await page.waitForFunction("!location.hash.includes('q=')");
    expect(await cardPaths(page)).not.toContain(fx.errorPath);
    await page.click('#tab-errors');
    expect(await page.$$eval('#errors tbody tr td.p', (els) => els.map((e) => e.textContent))).toEqual([fx.errorPath]);

    // The larger view: the full distribution, arrows step through the current order, Esc closes.
    await page.click('#tab-grid');
    await page.click('#grid .card >> nth=0');
    await page.waitForSelector('#viewer:not([hidden])');
    expect(await page.textContent('#viewer-body h2')).toBe(byError[0]);
    const cells = await page.$$eval('#viewer-body table.dist tbody td.pred', (els) => els.map((e) => e.textContent));
    const first = fx.studentRows.find((r) => r.path === byError[0])!;
    expect(cells).toEqual(first.distribution.map((p) => `${(r4(p) * 100).toFixed(1)}%`));
    // With labels, the true distribution beside the predicted one: the votes over their total.
    const trueCells = await page.$$eval('#viewer-body table.dist tbody td.true', (els) => els.map((e) => e.textContent));
    expect(trueCells).toEqual(fx.labelDistributions.get(byError[0]!)!.map((p) => `${(r4(p) * 100).toFixed(1)}%`));
    expect(await page.$$eval('#viewer-body svg.big-hist rect.true', (els) => els.length)).toBe(BINS.length);
    await page.keyboard.press('ArrowRight');
    expect(await page.textContent('#viewer-body h2')).toBe(byError[1]);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowLeft');
    expect(await page.textContent('#viewer-body h2')).toBe(byError[1]);
    expect(page.url()).toMatch(/open=\d+/);
    await page.keyboard.press('Escape');
    expect(await page.isHidden('#viewer')).toBe(true);
    expect(page.url()).not.toMatch(/open=/);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('compares two models: one scatter point per shared image, their SRCC, the largest disagreements', async () => {
    const { page, problems } = await openPage({ hash: 'v=compare' });
    const teacher = new Map(fx.teacherRows.map((r) => [r.path, r4(r.mean)]));
    const shared = fx.studentRows.filter((r) => teacher.has(r.path));
    expect(await page.$$eval('svg.scatter circle.pt', (els) => els.length)).toBe(shared.length);
    // SRCC by the plain formula: 1 − 6 Σ d² / (n (n² − 1)) on ranks (no ties among these means).
    const rank = (v: number[]) => v.map((a) => 1 + v.filter((b) => b < a).length);
    const ra = rank(shared.map((r) => r4(r.mean)));
    const rb = rank(shared.map((r) => teacher.get(r.path)!));
    const n = shared.length;
    const d2 = ra.reduce((s, r, i) => s + (r - rb[i]!) ** 2, 0);
    expect(await page.textContent('#srcc')).toBe((1 - (6 * d2) / (n * (n * n - 1))).toFixed(3));
    const gap = (r: (typeof shared)[number]) => Math.abs(r4(r.mean) - teacher.get(r.path)!);
    const worst = [...shared].sort((a, b) => gap(b) - gap(a)).slice(0, 24).map((r) => r.path);
    expect(await page.$$eval('#pairs .pair .path', (els) => els.map((e) => e.getAttribute('title')))).toEqual(worst);

    // A path filter: the scatter and its SRCC are of the images left (float64 Spearman with average ranks).
    await page.fill('#q', 'photo-00');
    await page.waitForFunction("location.hash.includes('q=photo-00')");
    const left = shared.filter((r) => r.path.includes('photo-00'));
    expect(left.length).toBeGreaterThan(2);
    expect(left.length).toBeLessThan(shared.length);
    expect(await page.$$eval('svg.scatter circle.pt', (els) => els.length)).toBe(left.length);
    expect(await page.textContent('#shared')).toBe(String(left.length));
    const rho = spearmanRef(
      left.map((r) => r4(r.mean)),
      left.map((r) => teacher.get(r.path)!),
    );
    expect(await page.textContent('#srcc')).toBe(rho.toFixed(3));
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it.each([
    [1280, 800],
    [390, 844],
  ])('fits a %i×%i viewport, and nothing moves while thumbnails load', async (width, height) => {
    const { page, problems, thumbs } = await openPage({ viewport: { width, height }, delayThumbsMs: 400 });
    // (Browser-side code as strings: this project's TypeScript has no DOM types.)
    await page.evaluate(`window.cls = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.cls += e.value; }).observe({ type: 'layout-shift', buffered: false });`);
    const rects = () => page.$$eval('#grid .card', (els) => els.slice(0, 12).map((e) => JSON.stringify(e.getBoundingClientRect())));
    const before = await rects();
    const loading = await page.$$eval('#grid .card img', (els) => els.filter((i) => !(i as unknown as { complete: boolean }).complete).length);
    expect(loading).toBeGreaterThan(0); // the thumbnails really were still on their way
    await page.waitForFunction("[...document.querySelectorAll('#grid .card img')].slice(0, 4).every((i) => i.complete && i.naturalWidth > 0)");
    expect(await rects()).toEqual(before);
    expect(await page.evaluate('window.cls')).toBe(0);
    const layout = await page.evaluate("({ overflow: document.documentElement.scrollWidth > window.innerWidth, cards: document.querySelectorAll('#grid .card').length })");
    expect(layout).toEqual({ overflow: false, cards: N - 1 });
    const columns = new Set(before.map((r) => (JSON.parse(r) as { x: number }).x)).size;
    expect(columns).toBe(width > 1000 ? 6 : 2);
    if (width < 1000) {
      // Lazy: on a phone the 39 cards run ~20 screens tall; only those near the screen ask for their thumbnail.
      expect(thumbs.size).toBeGreaterThan(0);
      expect(thumbs.size).toBeLessThan(N - 1);
      for (let y = 0; y < 20; y++) {
        await page.evaluate('window.scrollBy(0, window.innerHeight)');
        await page.waitForTimeout(50);
      }
      await page.waitForFunction("[...document.querySelectorAll('#grid .card img')].every((i) => i.complete && i.naturalWidth > 0)");
      expect(thumbs.size).toBe(N - 1);
      await page.evaluate('window.scrollTo(0, 0)');
    }
    // The larger view fits the screen.
    await page.click('#grid .card >> nth=0');
    const box = await page.$eval('.viewer-box', (e) => ({ w: e.getBoundingClientRect().width, sw: e.scrollWidth, cw: e.clientWidth }));
    expect(box.w).toBeLessThanOrEqual(width);
    expect(box.sw).toBeLessThanOrEqual(box.cw);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('opens 100 000 rows fast, with only the first page of cards in the document', async () => {
    const big = join(tmp.dir, 'big.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const m = 1 + ((i * 7919) % 9000) / 1000;
      const p = BINS.map((b) => Math.exp(-0.5 * (b - m) ** 2));
      const z = p.reduce((a, b) => a + b, 0);
      lines.push(JSON.stringify({ path: `many/${i}.jpg`, mean: m, std: 1, distribution: p.map((x) => Number((x / z).toPrecision(5))), error: null }));
    }
    writeFileSync(big, `${lines.join('\n')}\n`);
    const out = join(tmp.dir, 'big-site');
    await buildGallery({ scores: [big], images: tmp.dir, out });
    const t0 = Date.now();
    const { page, problems } = await openPage({ url: `${pathToFileURL(out).href}/` });
    const ms = Date.now() - t0;
    const cards = await page.$$eval('#grid .card', (els) => els.length);
    expect(cards).toBe(120);
    expect(await page.textContent('#status')).toContain('100000 of 100000 images shown');
    // The highest mean first: 9.999 is i·7919 mod 9000 = 8999.
    expect(await page.getAttribute('#grid .card >> nth=0', 'data-mean')).toBe('9.999');
    expect(ms).toBeLessThan(8000); // a shared two-core machine; locally about 1 s
    await page.mouse.wheel(0, 20_000);
    await page.waitForFunction("document.querySelectorAll('#grid .card').length > 120");
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);

  it('served live: drops an image, posts it to /score, shows the answer', async () => {
    const handler = createGalleryHandler({ galleryDir: site, imagesRoot: fx.dir, score: (b) => Promise.resolve({ mean: 6.5, std: b.length > 0 ? 1.25 : 0, distribution: BINS.map(() => 0.1) }) });
    const server: Server = createServer((req, res) => {
      void handler(req, res).then((done) => {
        if (!done) res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { page, problems } = await openPage({ url });
      await page.evaluate(`{
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array([1, 2, 3])], 'mine.jpg', { type: 'image/jpeg' }));
        document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }`);
      await page.waitForFunction("document.querySelector('#drop-results .score')?.textContent?.includes('6.50')");
      expect(await page.textContent('#drop-results .score')).toBe('6.50 ± 1.25');
      // The larger view shows the original image, from the images root.
      await page.click('#grid .card >> nth=0');
      expect(await page.getAttribute('#viewer-body .big img', 'src')).toMatch(/^images\/img\/photo-\d{3}\.jpg$/);
      await page.waitForFunction("(document.querySelector('#viewer-body .big img')?.naturalWidth ?? 0) > 0");
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});
