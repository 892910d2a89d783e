// buildGallery on a generated collection: what the site holds (rows, SRCC of
// the pair, labels, thumbnails), the thumbnail cache across rebuilds, and the
// clear errors (file:line) for bad input, with no half-written site left.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';

import sharp from 'sharp';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';

import { buildGallery } from '../../src/score/gallery/build.js';
import { tempDir } from '../data/images.js';
import { BINS, type Fixture, makeFixture } from './gallery_fixtures.js';

interface SiteRow {
  p: string;
  t: string | null;
  te?: string;
  l?: [number, number[]];
  s: ([number, number, number[]] | { e: string } | null)[];
}
interface SiteMeta {
  bins: number[];
  rows: number;
  chunks: string[];
  models: { name: string; rows: number; errors: number }[];
  pairs: { a: number; b: number; shared: number; srcc: number }[];
}

/** Runs the site's data scripts as the page would, against a stand-in global. */
function readSite(dir: string): { meta: SiteMeta; rows: SiteRow[] } {
  let meta: SiteMeta | null = null;
  const rows: SiteRow[] = [];
  const G = {
    meta: (m: SiteMeta) => {
      meta = m;
    },
    chunk: (c: number, rs: SiteRow[]) => {
      rs.forEach((r, i) => (rows[c * 16 + i] = r));
    },
  };
  runInNewContext(readFileSync(join(dir, 'data', 'meta.js'), 'utf8'), { CSKD_GALLERY: G });
  for (const c of meta!.chunks) runInNewContext(readFileSync(join(dir, c), 'utf8'), { CSKD_GALLERY: G });
  return { meta: meta!, rows };
}

/** Spearman by its textbook definition: Pearson of ranks, a tie taking the mean of the ranks it spans (O(n²)). */
function spearman(x: number[], y: number[]): number {
  const rank = (v: number[]) => v.map((a) => 1 + v.filter((b) => b < a).length + (v.filter((b) => b === a).length - 1) / 2);
  const rx = rank(x);
  const ry = rank(y);
  const m = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const mx = m(rx);
  const my = m(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

const N = 40;
let tmp: { dir: string; cleanup: () => void };
let fx: Fixture;

beforeAll(async () => {
  tmp = tempDir('cskd-gallery-');
  fx = await makeFixture(tmp.dir, N);
}, 60_000);
afterAll(() => tmp.cleanup());

describe('buildGallery', () => {
  it('writes rows, the pair’s SRCC, labels and thumbnails the score files and images say', async () => {
    const out = join(tmp.dir, 'site');
    const summary = await buildGallery({ scores: [fx.student, fx.teacher], images: fx.dir, labels: fx.dataset, out, chunkRows: 16 });
    const { meta, rows } = readSite(out);
    expect(meta.rows).toBe(N);
    expect(rows.length).toBe(N);
    expect(meta.chunks.length).toBe(Math.ceil(N / 16));
    expect(meta.bins).toEqual(BINS);
    expect(meta.models).toEqual([
      { name: 'student', rows: N, errors: 1 },
      { name: 'teacher', rows: N, errors: 0 },
    ]);

    // Every scored row's mean and std, to the 4 decimals the site keeps.
    const byPath = new Map(rows.map((r) => [r.p, r]));
    for (const r of fx.studentRows) {
      const s = byPath.get(r.path)!.s[0] as [number, number, number[]];
      expect(s[0]).toBeCloseTo(r.mean, 4);
      expect(s[1]).toBeCloseTo(r.std, 4);
    }
    expect(byPath.get(fx.errorPath)!.s[0]).toEqual({ e: 'not-an-image: no image format recognised' });

    // SRCC over the images both scored, against the plain formula.
    const teacher = new Map(fx.teacherRows.map((r) => [r.path, r.mean]));
    const shared = fx.studentRows.filter((r) => teacher.has(r.path));
    const expected = spearman(
      shared.map((r) => r.mean),
      shared.map((r) => teacher.get(r.path)!),
    );
    expect(meta.pairs).toHaveLength(1);
    expect(meta.pairs[0]!.shared).toBe(N - 1);
    expect(meta.pairs[0]!.srcc).toBeCloseTo(expected, 4);
    expect(summary.pairs[0]!.srcc).toBeCloseTo(expected, 4);

    // Labels: each row carries its true mean and distribution (votes over their total).
    for (const [path, mean] of fx.labels) {
      expect(byPath.get(path)!.l![0]).toBeCloseTo(mean, 4);
      byPath.get(path)!.l![1].forEach((p, k) => expect(p).toBeCloseTo(fx.labelDistributions.get(path)![k]!, 4));
    }
    expect(summary.labeled).toEqual({ split: 'test', matched: N, unmatched: 0 });

    // Thumbnails: one per readable image, inside 320², none for the broken file.
    expect(summary.thumbnails).toEqual({ made: N - 1, reused: 0, failed: 1 });
    expect(byPath.get(fx.errorPath)!.t).toBeNull();
    expect(byPath.get(fx.errorPath)!.te).toMatch(/not readable as an image/);
    const one = byPath.get(fx.studentRows[0]!.path)!;
    const src = await sharp(join(fx.dir, one.p)).metadata();
    const th = await sharp(join(out, 'thumbs', one.t!)).metadata();
    expect(th.format).toBe('jpeg');
    const scale = Math.min(1, 320 / Math.max(src.width, src.height));
    expect(th.width).toBe(Math.round(src.width * scale));
    expect(readdirSync(join(out, 'thumbs')).length).toBe(N - 1);
    for (const f of ['index.html', 'assets/app.js', 'assets/style.css', 'data/live.js', 'gallery.json']) expect(existsSync(join(out, f))).toBe(true);
  });

  it('reuses unchanged thumbnails on a rebuild and remakes a changed image’s', async () => {
    const out = join(tmp.dir, 'site-cache');
    await buildGallery({ scores: [fx.student], images: fx.dir, out });
    const again = await buildGallery({ scores: [fx.student], images: fx.dir, out });
    expect(again.thumbnails).toEqual({ made: 0, reused: N - 1, failed: 1 });
    const changed = join(fx.dir, fx.studentRows[3]!.path);
    await sharp({ create: { width: 90, height: 60, channels: 3, background: '#123456' } }).jpeg().toFile(changed + '.tmp.jpg');
    writeFileSync(changed, readFileSync(changed + '.tmp.jpg'));
    const third = await buildGallery({ scores: [fx.student], images: fx.dir, out });
    expect(third.thumbnails).toEqual({ made: 1, reused: N - 2, failed: 1 });
    // The replaced thumbnail is gone with the old site; only the current ones remain.
    expect(readdirSync(join(out, 'thumbs')).length).toBe(N - 1);
    expect(readdirSync(dirname(out)).filter((n) => n.startsWith('site-cache.'))).toEqual([]);
  });

  it('names file and line of a malformed row, and leaves the previous gallery whole', async () => {
    const out = join(tmp.dir, 'site-bad');
    await buildGallery({ scores: [fx.student], images: fx.dir, out });
    const before = readFileSync(join(out, 'data', 'meta.js'), 'utf8');
    const lines = readFileSync(fx.student, 'utf8').split('\n');
    const bad = join(tmp.dir, 'bad.csv');
    lines[7] = lines[7]!.replace(/,[^,]*,/, ',oops,');
    writeFileSync(bad, lines.join('\n'));
    await expect(buildGallery({ scores: [bad], images: fx.dir, out })).rejects.toThrow(`${bad}:8: mean: 'oops' is not a number`);
    expect(readFileSync(join(out, 'data', 'meta.js'), 'utf8')).toBe(before);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('site-bad.'))).toEqual([]);

    const jsonl = join(tmp.dir, 'bad.jsonl');
    writeFileSync(jsonl, `${readFileSync(fx.teacher, 'utf8').split('\n').slice(0, 3).join('\n')}\n{"path": "x.jpg", "mean": 3\n`);
    await expect(buildGallery({ scores: [jsonl], out })).rejects.toThrow(new RegExp(`^${jsonl}:4: not JSON`));
    const torn = join(tmp.dir, 'torn.jsonl');
    writeFileSync(torn, readFileSync(fx.teacher, 'utf8').slice(0, -20));
    await expect(buildGallery({ scores: [torn], out })).rejects.toThrow(`${torn}:${N}: the last line has no newline`);
    const short = join(tmp.dir, 'short.csv');
    writeFileSync(short, `${lines[0]}\na.jpg,5,1\n`);
    await expect(buildGallery({ scores: [short], out })).rejects.toThrow(`${short}:2: 3 fields, expected 14`);
    await expect(buildGallery({ scores: [join(tmp.dir, 'missing.csv')], out })).rejects.toThrow(`${join(tmp.dir, 'missing.csv')}: cannot read: ENOENT`);
  });

  it('refuses mismatched score files and an output folder that is not a gallery', async () => {
    const out = join(tmp.dir, 'site-mismatch');
    const otherBins = join(tmp.dir, 'bins5.csv');
    writeFileSync(otherBins, 'path,mean,std,p_1,p_2,p_3,p_4,p_5,error\nimg/photo-000.jpg,3,1,0.2,0.2,0.2,0.2,0.2,\n');
    await expect(buildGallery({ scores: [fx.student, otherBins], images: fx.dir, out })).rejects.toThrow(
      `mismatched score files: ${fx.student} has 10 score bins, ${otherBins} has 5`,
    );
    const elsewhere = join(tmp.dir, 'elsewhere.jsonl');
    writeFileSync(elsewhere, `${JSON.stringify({ path: 'other/x.jpg', mean: 5.5, std: 2.87, distribution: BINS.map(() => 0.1), error: null })}\n`);
    await expect(buildGallery({ scores: [fx.student, elsewhere], images: fx.dir, out })).rejects.toThrow(/have no scored image in common/);
    expect(existsSync(out)).toBe(false);

    writeFileSync(join(tmp.dir, 'keep.txt'), 'x');
    await expect(buildGallery({ scores: [fx.student], images: fx.dir, out: tmp.dir })).rejects.toThrow(/refusing to replace it/);
    expect(existsSync(join(tmp.dir, 'keep.txt'))).toBe(true);
  });
});
