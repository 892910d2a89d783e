import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { parseCsv } from '../../src/data/csv.js';
import { loadDataset, readLabeledSplit } from '../../src/data/datasets.js';
import { formatLabelIssue, LabelFileError } from '../../src/data/errors.js';
import { binRange, meanToDistribution } from '../../src/data/labels.js';
import { globToRegExp, poolEpoch, resolvePool } from '../../src/data/pool.js';
import { tempDir } from './images.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const messages = (issues: { file: string; line: number; message: string }[]) => issues.map(formatLabelIssue);

describe('mean-only labels → distributions', () => {
  it('a mean at the centre of the scale is the plain sampled Gaussian', () => {
    const bins = binRange(1, 10, 1);
    const p = meanToDistribution(5.5, bins, 1.35);
    const w = bins.map((s) => Math.exp(-0.5 * ((s - 5.5) / 1.35) ** 2));
    const z = w.reduce((a, b) => a + b, 0);
    w.forEach((x, k) => expect(p[k]).toBeCloseTo(x / z, 12));
  });
  it('the distribution’s mean equals the label even near the ends', () => {
    const bins = binRange(1, 10, 1);
    for (const m of [1.3, 2, 4.7, 8.9, 9.8]) {
      const p = meanToDistribution(m, bins, 1.35);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(p.reduce((a, x, k) => a + x * bins[k]!, 0)).toBeCloseTo(m, 9);
    }
    expect(Array.from(meanToDistribution(1, bins, 1))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('csv', () => {
  it('reads quotes, doubled quotes, embedded newlines and CRLF, keeping start lines', () => {
    const r = parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n');
    expect(r).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 3, fields: ['multi\nline', '2'] },
    ]);
  });
});

describe('AVA', () => {
  const good = (i: number, id: string, votes: number[]) => `${i} ${id} ${votes.join(' ')} 1 2 100`;
  it('reads vote histograms and reports each bad line as file:line', async () => {
    const file = write(
      'ava/AVA.txt',
      [
        good(1, '1001', [0, 0, 1, 2, 3, 4, 0, 0, 0, 0]), // mean (3 + 8 + 15 + 24)/10 = 5
        good(2, '1002', [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), // mean (1 + 10)/2 = 5.5
        '3 1003 1 2 3', // line 3: wrong column count
        good(4, '1004', [0, -1, 0, 0, 0, 0, 0, 0, 0, 5]), // line 4: negative
        good(5, '1005', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // line 5: all zero
        good(6, '1001', [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]), // line 6: duplicate
        '7 1007 1 2 x 4 5 6 7 8 9 10 0 0 1', // line 7: non-numeric
        '8 1008 1 2 3.5 4 5 6 7 8 9 10 0 0 1', // line 8: fractional votes
      ].join('\n'),
    );
    const split = await readLabeledSplit('all', { format: 'ava', labels: 'ava/AVA.txt', images: 'ava/images' }, dir);
    expect(split.samples.map((s) => s.id)).toEqual(['1001', '1002']);
    expect(split.samples[0]!.mean).toBeCloseTo(5, 12);
    expect(split.samples[0]!.votes).toBe(10);
    expect(Array.from(split.samples[1]!.distribution)).toEqual([0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]);
    expect(split.samples[0]!.path).toBe(join(dir, 'ava/images/1001.jpg'));
    expect(messages(split.issues)).toEqual([
      `${file}:3: expected 15 columns (index, image id, 10 vote counts, 2 tags, challenge), got 5`,
      `${file}:4: negative value -1 in bin 2`,
      `${file}:5: all-zero histogram`,
      `${file}:6: duplicate image '1001' (first on line 1)`,
      `${file}:7: votes for score 3: 'x' is not a number`,
      `${file}:8: votes for score 3: '3.5' is not a whole number`,
    ]);
  });
  it('a split list keeps its ids in order and reports ids without labels', async () => {
    const list = write('ava/test_ids.txt', '1002.jpg\n9999\n1001\n');
    const split = await readLabeledSplit('test', { format: 'ava', labels: 'ava/AVA.txt', images: 'ava/images', split: 'ava/test_ids.txt' }, dir);
    expect(split.samples.map((s) => s.id)).toEqual(['1002', '1001']);
    expect(messages(split.issues).filter((m) => m.startsWith(list))).toEqual([`${list}:2: '9999' has no usable label in ${join(dir, 'ava/AVA.txt')}`]);
  });
  it('a missing label file is a LabelFileError naming it', async () => {
    await expect(readLabeledSplit('x', { format: 'ava', labels: 'nope.txt', images: '.' }, dir)).rejects.toBeInstanceOf(LabelFileError);
    await expect(readLabeledSplit('x', { format: 'ava', labels: 'nope.txt', images: '.' }, dir)).rejects.toThrow(join(dir, 'nope.txt'));
  });
});

describe('AADB, PARA, TAD66K and generic tables', () => {
  it('AADB: mean scores in [0, 1] over the five rating levels', async () => {
    const file = write('aadb/imgListTrainRegression_score.txt', 'farm1_a.jpg 0.5\nfarm1_b.jpg 1.2\nfarm1_c.jpg\n');
    const s = await readLabeledSplit('train', { format: 'aadb', labels: 'aadb/imgListTrainRegression_score.txt', images: 'aadb/img' }, dir);
    expect(s.bins).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(s.samples).toHaveLength(1);
    expect(s.samples[0]!.mean).toBe(0.5);
    // Symmetric around the middle bin with std 0.15: weights exp(−(d/0.15)²/2) at d = 0, ±0.25, ±0.5.
    const w = [0.5, 0.25, 0, 0.25, 0.5].map((d) => Math.exp(-0.5 * (d / 0.15) ** 2));
    const z = w.reduce((a, b) => a + b, 0);
    w.forEach((x, k) => expect(s.samples[0]!.distribution[k]).toBeCloseTo(x / z, 10));
    expect(messages(s.issues)).toEqual([`${file}:2: mean score 1.2 is outside the scale [0, 1]`, `${file}:3: expected 2 columns (image name, score), got 1`]);
  });
  it('PARA: bins from the aestheticScore_<bin> headers, images under <sessionId>/<imageName>', async () => {
    const bins = binRange(1, 5, 0.5);
    const header = ['imageName', 'sessionId', 'semantic', ...bins.map((b) => `aestheticScore_${b.toFixed(1)}`), 'aestheticScore_mean'];
    write(
      'para/PARA-GiaaTrain.csv',
      [header.join(','), 'iaa_pub1_.jpg,session1,people,0,0,0,2,2,0,0,0,0,2.75', 'iaa_pub2_.jpg,session1,people,0,0,0,0,0,0,0,0'].join('\n'),
    );
    const s = await readLabeledSplit('train', { format: 'para', labels: 'para/PARA-GiaaTrain.csv', images: 'para/imgs' }, dir);
    expect(s.bins).toEqual(bins);
    expect(s.samples[0]!.path).toBe(join(dir, 'para/imgs/session1/iaa_pub1_.jpg'));
    expect(s.samples[0]!.mean).toBeCloseTo((2.5 * 2 + 3 * 2) / 4, 12);
    expect(messages(s.issues)).toEqual([`${join(dir, 'para/PARA-GiaaTrain.csv')}:3: expected 13 columns (as the header on line 1), got 11`]);
  });
  it('TAD66K: mean scores by header', async () => {
    write('tad/train.csv', 'image,score\n1.jpg,7.25\n2.jpg,abc\n');
    const s = await readLabeledSplit('train', { format: 'tad66k', labels: 'tad/train.csv', images: 'tad/img' }, dir);
    expect(s.samples.map((x) => [x.id, x.mean])).toEqual([['1.jpg', 7.25]]);
    expect(s.samples[0]!.distribution.reduce((a, x, k) => a + x * (k + 1), 0)).toBeCloseTo(7.25, 9);
    expect(messages(s.issues)).toEqual([`${join(dir, 'tad/train.csv')}:3: score: 'abc' is not a number`]);
  });
  it('generic CSV with histogram columns and JSONL with an array field', async () => {
    write('gen/l.csv', 'file;h1;h2;h3\na.png;1;1;2\nb.png;0;0;0\n');
    const c = await readLabeledSplit('x', { format: 'csv', labels: 'gen/l.csv', images: 'gen', delimiter: ';', columns: { path: 'file', histogram: ['h1', 'h2', 'h3'] }, bins: [1, 2, 3] }, dir);
    expect(Array.from(c.samples[0]!.distribution)).toEqual([0.25, 0.25, 0.5]);
    expect(c.samples[0]!.mean).toBeCloseTo(2.25, 12);
    expect(messages(c.issues)).toEqual([`${join(dir, 'gen/l.csv')}:3: all-zero histogram`]);
    write('gen/l.jsonl', '{"p":"a.png","d":[0.2,0.8]}\n{"p":"b.png","d":"x"}\nnot json\n{"p":"a.png","d":[1,0]}\n');
    const j = await readLabeledSplit('y', { format: 'jsonl', labels: 'gen/l.jsonl', images: 'gen', columns: { path: 'p', histogram: 'd' }, bins: [0, 1], counts: false }, dir);
    expect(j.samples[0]!.mean).toBeCloseTo(0.8, 12);
    expect(j.samples[0]!.votes).toBeNull();
    const f = join(dir, 'gen/l.jsonl');
    expect(messages(j.issues)).toEqual([
      `${f}:2: histogram field 'd' is not an array`,
      expect.stringMatching(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: not valid JSON`)),
      `${f}:4: duplicate image 'a.png' (first on line 1)`,
    ]);
  });
});

describe('unlabeled pools', () => {
  it('folders, globs and lists; weights set the draw frequencies', async () => {
    write('pool/a/x1.jpg', 'x');
    write('pool/a/sub/x2.png', 'x');
    write('pool/a/notes.txt', 'x');
    write('pool/b/y1.jpg', 'x');
    write('pool/b/deep/y2.jpg', 'x');
    write('pool/b/deep/y3.webp', 'x');
    write('pool/list.txt', 'a/x1.jpg\n# comment\nb/y1.jpg\n');
    const { sources, issues } = await resolvePool(
      [
        { name: 'A', dir: 'pool/a' },
        { name: 'B', glob: 'pool/b/**/*.jpg', weight: 3 },
        { name: 'L', list: 'pool/list.txt' },
        { name: 'bad', dir: 'pool/none' },
        { name: 'two', dir: 'pool/a', list: 'pool/list.txt' },
      ],
      dir,
    );
    expect(sources.map((s) => [s.name, s.files.map((f) => f.slice(dir.length + 1))])).toEqual([
      ['A', ['pool/a/sub/x2.png', 'pool/a/x1.jpg']],
      ['B', ['pool/b/deep/y2.jpg', 'pool/b/y1.jpg']],
      ['L', ['pool/a/x1.jpg', 'pool/b/y1.jpg']],
    ]);
    expect(issues.map((i) => i.file)).toEqual(["unlabeled source 'bad'", "unlabeled source 'two'"]);
    const epoch = poolEpoch(sources, 1, 0, 10000);
    const freq = (n: string) => epoch.filter((e) => e.source === n).length / epoch.length;
    // Weights 1 : 3 : 1 → 0.2, 0.6, 0.2 (binomial sd 0.004 at n = 10000).
    expect(freq('A')).toBeCloseTo(0.2, 1);
    expect(freq('B')).toBeCloseTo(0.6, 1);
    expect(Math.abs(freq('B') - 0.6)).toBeLessThan(0.02);
    expect(poolEpoch(sources, 1, 0, 50)).toEqual(poolEpoch(sources, 1, 0, 50));
    expect(poolEpoch(sources, 1, 1, 50)).not.toEqual(poolEpoch(sources, 1, 0, 50));
  });
  it('globToRegExp: ** spans folders, * does not', () => {
    const re = globToRegExp('**/*.jpg');
    expect(['a.jpg', 'x/a.jpg', 'x/y/a.jpg'].every((p) => re.test(p))).toBe(true);
    expect(re.test('a.png')).toBe(false);
    expect(globToRegExp('x/*.jpg').test('x/y/a.jpg')).toBe(false);
  });
  it('loadDataset reads a config file and resolves paths against its folder', async () => {
    const cfg = write('ds.json', JSON.stringify({ name: 'mini', labeled: { train: { format: 'tad66k', labels: 'tad/train.csv', images: 'tad/img' } }, unlabeled: [{ name: 'A', dir: 'pool/a' }] }));
    const ds = await loadDataset(cfg);
    expect(ds.name).toBe('mini');
    expect(ds.splits[0]!.samples[0]!.path).toBe(join(dir, 'tad/img/1.jpg'));
    expect(ds.unlabeled[0]!.files).toHaveLength(2);
    write('broken.json', '{ nope');
    await expect(loadDataset(join(dir, 'broken.json'))).rejects.toThrow(/broken\.json: not valid JSON/);
  });
});
