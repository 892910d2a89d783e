// `cskd gallery` end to end through main(): the summary it prints (--json and
// text) against the fixture's own numbers, the site it leaves, usage errors
// (exit 2, before any work) and a bad score file (exit 1, one line naming file:line).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture.js';
import { spearmanRef } from '../helpers/reference.js';
import { tempDir } from '../data/images.js';
import { type Fixture, makeFixture } from '../score/gallery_fixtures.js';

const N = 12;
let tmp: { dir: string; cleanup: () => void };
let fx: Fixture;

beforeAll(async () => {
  tmp = tempDir('cskd-cli-gallery-');
  fx = await makeFixture(tmp.dir, N, 3);
}, 60_000);
afterAll(() => tmp.cleanup());
afterEach(() => vi.restoreAllMocks());

interface Summary {
  out: string;
  images: number;
  models: { name: string; rows: number; errors: number }[];
  labeled: { split: string; matched: number; unmatched: number } | null;
  pairs: { a: number; b: number; shared: number; srcc: number }[];
  thumbnails: { made: number; reused: number; failed: number };
}

describe('cskd gallery', () => {
  it('--json: the summary says what the fixture holds; the site is written', async () => {
    const out = join(tmp.dir, 'site');
    const c = captureOutput();
    const code = await main(['gallery', fx.student, fx.teacher, '--images', fx.dir, '--labels', fx.dataset, '--name', 'small', '--name', 'big', '--out', out, '--json']);
    vi.restoreAllMocks();
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const s = JSON.parse(c.out()) as Summary;
    expect(s.out).toBe(out);
    expect(s.images).toBe(N);
    expect(s.models.map((m) => [m.name, m.rows, m.errors])).toEqual([
      ['small', N, 1],
      ['big', N, 0],
    ]);
    expect(s.labeled).toEqual({ split: 'test', matched: N, unmatched: 0 });
    expect(s.thumbnails).toEqual({ made: N - 1, reused: 0, failed: 1 });
    const teacher = new Map(fx.teacherRows.map((r) => [r.path, r.mean]));
    const shared = fx.studentRows.filter((r) => teacher.has(r.path));
    expect(s.pairs).toHaveLength(1);
    expect(s.pairs[0]!.shared).toBe(shared.length);
    expect(s.pairs[0]!.srcc).toBeCloseTo(
      spearmanRef(
        shared.map((r) => r.mean),
        shared.map((r) => teacher.get(r.path)!),
      ),
      4,
    );
    for (const f of ['index.html', 'assets/app.js', 'data/meta.js', 'data/rows-0000.js', 'gallery.json']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'data', 'meta.js'), 'utf8')).toContain('"title":"Scores: small vs big"');
  });

  it('text: one line per fact on stdout, progress off under --quiet; a rebuild reuses the thumbnails', async () => {
    const out = join(tmp.dir, 'site-text');
    let c = captureOutput();
    expect(await main(['gallery', fx.student, '--images', fx.dir, '--out', out, '--thumb-size', '64', '--quality', '60'])).toBe(0);
    vi.restoreAllMocks();
    expect(c.out()).toContain(`wrote ${out}: ${N} images, student (${N} rows, 1 errors)`);
    expect(c.out()).toContain(`thumbnails: ${N - 1} made, 0 reused, 1 without one`);
    expect(c.out()).toMatch(/\nopen file:\/\/.*\/site-text\/index\.html\n$/);
    c = captureOutput();
    expect(await main(['--quiet', 'gallery', fx.student, '--images', fx.dir, '--out', out, '--thumb-size', '64', '--quality', '60'])).toBe(0);
    vi.restoreAllMocks();
    expect(c.err()).toBe('');
    expect(c.out()).toContain(`thumbnails: 0 made, ${N - 1} reused, 1 without one`);
  });

  it.each([
    [['--split', 'train'], "option '--split <name>' needs --labels <dataset>"],
    [['--name', 'only-one', '--name', 'two', '--name', 'three'], '3 --name for 1 score files'],
    [['--thumb-size', '8'], "option '--thumb-size <px>' argument '8' is invalid. expected an integer from 16 to 4096"],
    [['--quality', 'high'], "option '--quality <q>' argument 'high' is invalid"],
    [['--bins', '1,2,x'], "option '--bins <list>' argument '1,2,x' is invalid"],
    [['--bins', '3:1'], 'expected lo:hi[:step] with lo < hi'],
  ])('usage error %j: exit 2 naming the option, nothing written', async (extra, message) => {
    const out = join(tmp.dir, `site-usage-${extra[0]!.slice(2)}`);
    const c = captureOutput();
    expect(await main(['gallery', fx.student, '--out', out, ...extra])).toBe(2);
    expect(c.err()).toContain(message);
    expect(existsSync(out)).toBe(false);
  });

  it('exit 2 without --out or without a score file', async () => {
    const c = captureOutput();
    expect(await main(['gallery', fx.student])).toBe(2);
    expect(c.err()).toContain("required option '-o, --out <dir>' not specified");
    expect(await main(['gallery', '--out', join(tmp.dir, 'x')])).toBe(2);
    expect(c.err()).toContain("missing required argument 'scores'");
  });

  it('a bad score file: exit 1, one line naming file:line', async () => {
    const bad = join(tmp.dir, 'bad.csv');
    const lines = readFileSync(fx.student, 'utf8').split('\n');
    lines[3] = lines[3]!.replace(/,[^,]*,/, ',NaNish,');
    writeFileSync(bad, lines.join('\n'));
    const c = captureOutput();
    expect(await main(['gallery', bad, '--images', fx.dir, '--out', join(tmp.dir, 'site-bad')])).toBe(1);
    expect(c.err()).toBe(`cskd gallery: ${bad}:4: mean: 'NaNish' is not a number\n`);
    // --split reaches the dataset: the fixture has only 'test'.
    expect(await main(['gallery', fx.student, '--images', fx.dir, '--labels', fx.dataset, '--split', 'train', '--out', join(tmp.dir, 'site-split')])).toBe(1);
    expect(c.err()).toContain("has no split 'train' (for gallery labels); it has: test");
  });

  it('--bins sets the axis of JSON Lines scores', async () => {
    const out = join(tmp.dir, 'site-bins');
    const c = captureOutput();
    expect(await main(['gallery', fx.teacher, '--images', fx.dir, '--bins', '0.5:5:0.5', '--out', out, '--json'])).toBe(0);
    expect(readFileSync(join(out, 'data', 'meta.js'), 'utf8')).toContain(`"bins":[${Array.from({ length: 10 }, (_, k) => (k + 1) / 2).join(',')}]`);
    expect(JSON.parse(c.out()).images).toBe(N);
  });
});
