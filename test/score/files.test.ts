// `cskd score`: input expansion, CSV/JSONL rows, error rows per kind, resume
// after a kill (torn last row), shard coverage, and the exit status.
import { appendFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, normalize, relative } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { parseCsv } from '../../src/data/csv.js';
import { expandInputs, parseShard, shardOf, sniffImageFormat } from '../../src/score/inputs.js';
import { csvHeader } from '../../src/score/results.js';
import { Scorer } from '../../src/score/scorer.js';
import { tempDir } from '../data/images.js';
import { photoJpeg, tinyModel, writeImageSet, type ImageSet } from './fixtures.js';
import { captureOutput } from '../helpers/capture.js';

const { dir, cleanup } = tempDir('cskd-score-cli-');
let model: string;
let images: ImageSet;
let imageDir: string;

beforeAll(async () => {
  model = await tinyModel(dir);
  imageDir = join(dir, 'images');
  images = await writeImageSet(imageDir);
  writeFileSync(join(imageDir, 'README.txt'), 'not an image, and named like it\n');
  writeFileSync(join(imageDir, 'labels.json'), '{}');
  writeFileSync(join(imageDir, '.hidden.jpg'), await photoJpeg(40, 40, 2));
});
afterAll(cleanup);
afterEach(() => vi.restoreAllMocks());

const capture = captureOutput;

const allPaths = (): string[] => [...images.good, ...images.bad.keys()].map((p) => normalize(p));

function readCsv(path: string): { header: string[]; rows: string[][] } {
  const records = parseCsv(readFileSync(path, 'utf8')).map((r) => r.fields);
  return { header: records[0]!, rows: records.slice(1) };
}

describe('inputs', () => {
  it('folders are walked recursively; images found by content or extension; hidden files and non-images skipped', async () => {
    const { files, empty } = await expandInputs([imageDir]);
    expect(new Set(files)).toEqual(new Set(allPaths()));
    expect(files).toContain(normalize(join(imageDir, 'sub', 'no-extension')));
    expect(empty).toEqual([]);
  });

  it('globs, @lists (relative to the list), explicit paths; each path once', async () => {
    const list = join(dir, 'lists', 'some.txt');
    mkdirSync(join(dir, 'lists'), { recursive: true });
    writeFileSync(list, `# two photos and a missing one\n${relative(join(dir, 'lists'), images.good[0]!)}\n\n${images.good[1]}\n../nope.jpg\n`);
    const { files, empty } = await expandInputs([`@${list}`, join(imageDir, '*.jpg'), join(imageDir, '**', '*.gif'), images.good[0]!, join(dir, 'empty-*.png')]);
    expect(files).toEqual([
      normalize(images.good[0]!),
      normalize(images.good[1]!),
      normalize(join(dir, 'nope.jpg')),
      ...[2, 3].map((i) => normalize(join(imageDir, `photo${i}.jpg`))),
      normalize(join(imageDir, 'sub', 'deeper', 'anim.gif')),
    ]);
    expect(empty).toEqual([join(dir, 'empty-*.png')]);
    await expect(expandInputs([`@${join(dir, 'no-list.txt')}`])).rejects.toThrow(/cannot read list file .*no-list.txt \(ENOENT\)/);
  });

  it('sniffs the formats sharp reads', () => {
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageFormat(Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'))).toBe('webp');
    expect(sniffImageFormat(Buffer.from('\x00\x00\x00\x1cftypavif', 'latin1'))).toBe('avif');
    expect(sniffImageFormat(Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1'))).toBeNull();
    expect(sniffImageFormat(Buffer.from('hello'))).toBeNull();
  });

  it('shards partition the paths: every path in exactly one shard, the same on every call', () => {
    const paths = Array.from({ length: 1000 }, (_, i) => `photos/${Math.floor(i / 100)}/img_${i}.jpg`);
    const n = 7;
    const counts = new Array<number>(n).fill(0);
    for (const p of paths) {
      const s = shardOf(p, n);
      expect(s).toBe(shardOf(p, n));
      counts[s]!++;
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
    // Roughly even (binomial sd ≈ 11 around 143).
    for (const c of counts) expect(Math.abs(c - 1000 / n)).toBeLessThan(60);
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/0 ≤ i < n/);
    expect(() => parseShard('1-4')).toThrow(/i\/n/);
  });
});

describe('cskd score', () => {
  it('writes a CSV row per image, an error row naming each bad kind, and exits 0', async () => {
    const out = join(dir, 'all.csv');
    const c = capture();
    const listed = join(dir, 'listed.txt');
    writeFileSync(listed, `${join(dir, 'missing.jpg')}\n${join(imageDir, 'sub')}\n`);
    expect(await main(['score', imageDir, `@${listed}`, '--model', model, '--out', out, '--batch-size', '4', '--threads', '1'])).toBe(0);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(csvHeader([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    const byPath = new Map(rows.map((r) => [r[0]!, r]));
    expect(rows).toHaveLength(allPaths().length + 2);
    const expected = new Map<string, string>([...images.bad].map(([p, k]) => [normalize(p), k]));
    expected.set(join(dir, 'missing.jpg'), 'missing');
    expected.set(join(imageDir, 'sub'), 'unreadable');
    for (const [p, kind] of expected) {
      const row = byPath.get(p);
      expect(row, p).toBeDefined();
      expect(row!.at(-1)!.split(':')[0]).toBe(kind);
      expect(row!.slice(1, -1).every((v) => v === '')).toBe(true);
    }
    const scorer = await Scorer.load(model, { threads: 1 });
    try {
      for (const p of images.good) {
        const row = byPath.get(normalize(p))!;
        expect(row.at(-1)).toBe('');
        const s = await scorer.score(p);
        expect(Number(row[1])).toBeCloseTo(s.mean, 5);
        expect(Number(row[2])).toBeCloseTo(s.std, 5);
        row.slice(3, -1).forEach((v, k) => expect(Number(v)).toBeCloseTo(s.distribution[k]!, 6));
      }
    } finally {
      await scorer.release();
    }
    expect(c.err()).toMatch(new RegExp(`${allPaths().length + 2} images in .*: ${images.good.length} scored, ${images.bad.size + 2} errors \\(.*truncated 1.*\\) → .*all.csv`, 's'));
    // Not a TTY here: plain progress lines, no carriage returns.
    expect(c.err()).not.toContain('\r');
  });

  for (const format of ['csv', 'jsonl'] as const) {
    it(`resumes after a kill (${format}): the torn last row is cut, finished images skipped, no duplicates`, async () => {
      const ref = join(dir, `ref.${format}`);
      const out = join(dir, `killed.${format}`);
      capture();
      expect(await main(['score', imageDir, '-m', model, '-o', ref, '--threads', '1', '-q'])).toBe(0);
      const lines = readFileSync(ref, 'utf8').split('\n').filter((l) => l !== '');
      const keep = format === 'csv' ? 6 : 5; // CSV: header + 5 rows
      // What a kill leaves: complete rows, then half of the next one.
      const torn = lines[keep]!.slice(0, Math.floor(lines[keep]!.length / 2));
      writeFileSync(out, `${lines.slice(0, keep).join('\n')}\n${torn}`);
      const c = capture();
      expect(await main(['score', imageDir, '-m', model, '-o', out, '--threads', '1'])).toBe(0);
      const after = readFileSync(out, 'utf8');
      expect(after.endsWith('\n')).toBe(true);
      const got = after.split('\n').filter((l) => l !== '');
      expect(got).toHaveLength(lines.length);
      expect(new Set(got)).toEqual(new Set(lines));
      expect(c.err()).toMatch(/5 already done; cut a torn last row of \d+ bytes/);
      // A third run has nothing to do.
      capture();
      expect(await main(['score', imageDir, '-m', model, '-o', out, '--threads', '1'])).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe(after);
    });
  }

  it('--retry-errors scores earlier error rows again, replacing them', async () => {
    const folder = join(dir, 'retry');
    mkdirSync(folder, { recursive: true });
    const p = join(folder, 'later.jpg');
    writeFileSync(p, Buffer.alloc(0));
    writeFileSync(join(folder, 'ok.jpg'), await photoJpeg(50, 40, 4));
    const out = join(dir, 'retry.jsonl');
    capture();
    expect(await main(['score', folder, '-m', model, '-o', out, '-q'])).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('"error":"zero-byte: ');
    writeFileSync(p, await photoJpeg(50, 40, 5)); // the file arrives
    expect(await main(['score', folder, '-m', model, '-o', out, '-q'])).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('"error":"zero-byte: '); // not retried by default
    expect(await main(['score', folder, '-m', model, '-o', out, '-q', '--retry-errors'])).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; error: string | null; mean: number });
    expect(rows.map((r) => r.path).sort()).toEqual([p, join(folder, 'ok.jpg')].sort());
    expect(rows.every((r) => r.error === null && r.mean > 0)).toBe(true);
  });

  it('--shard i/n: the shards together score every input exactly once', async () => {
    const n = 3;
    const seen: string[] = [];
    capture();
    for (let i = 0; i < n; i++) {
      const out = join(dir, `shard${i}.csv`);
      expect(await main(['score', imageDir, '-m', model, '-o', out, '--shard', `${i}/${n}`, '-q'])).toBe(0);
      const { rows } = readCsv(out);
      for (const r of rows) expect(shardOf(r[0]!, n)).toBe(i);
      seen.push(...rows.map((r) => r[0]!));
    }
    expect(seen.sort()).toEqual(allPaths().sort());
  });

  it('fatal problems exit 1 with a message (unknown format, a header for other bins, no inputs); a missing --model is a usage error (2)', async () => {
    const c = capture();
    expect(await main(['score', imageDir, '-o', join(dir, 'x.csv')])).toBe(2);
    expect(await main(['score', imageDir, '-m', model, '-o', join(dir, 'x.txt')])).toBe(1);
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'path,mean,std,p_1,p_2,error\n');
    expect(await main(['score', imageDir, '-m', model, '-o', other])).toBe(1);
    expect(await main(['score', join(dir, 'nothing-*.jpg'), '-m', model, '-o', join(dir, 'y.csv')])).toBe(1);
    expect(await main(['score', imageDir, '-m', join(dir, 'missing.onnx'), '-o', join(dir, 'y.csv')])).toBe(1);
    const err = c.err();
    expect(err).toContain("required option '-m, --model <file>' not specified");
    expect(err).toContain('use .csv or .jsonl');
    expect(err).toMatch(/other.csv:1: the header is 'path,mean,std,p_1,p_2,error'/);
    expect(err).toContain('no image files found in the inputs');
    expect(err).toMatch(/cannot read .*missing.onnx/);
    expect(readFileSync(other, 'utf8')).toBe('path,mean,std,p_1,p_2,error\n'); // left alone
  });

  it('a corrupt complete row is an error, not something to overwrite', async () => {
    const out = join(dir, 'corrupt.jsonl');
    writeFileSync(out, '{"path":"a.jpg","error":null}\nnot json\n{"path":"b.jpg","error":null}\n');
    const c = capture();
    expect(await main(['score', imageDir, '-m', model, '-o', out])).toBe(1);
    expect(c.err()).toMatch(/corrupt.jsonl:2: not a JSON object with a "path"/);
    appendFileSync(out, '');
    rmSync(out);
  });

  it('symlinked files in folders are followed', async () => {
    const folder = join(dir, 'links');
    mkdirSync(folder, { recursive: true });
    symlinkSync(images.good[0]!, join(folder, 'link.jpg'));
    const { files } = await expandInputs([folder]);
    expect(files).toEqual([join(folder, 'link.jpg')]);
  });
});
