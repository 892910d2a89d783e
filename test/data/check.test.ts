import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { checkDataset, checkPassed } from '../../src/data/check.js';
import { encodePng, solid, tempDir } from './images.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
afterEach(() => vi.restoreAllMocks());

async function build(): Promise<string> {
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'pool'));
  const jpg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
  writeFileSync(join(dir, 'images/1.jpg'), jpg);
  writeFileSync(join(dir, 'images/2.jpg'), await sharp(jpg).toColourspace('cmyk').jpeg().toBuffer()); // CMYK: fine
  writeFileSync(join(dir, 'images/3.jpg'), jpg.subarray(0, jpg.length >> 1)); // truncated
  // 4.jpg missing
  const row = (i: number, votes: string) => `${i} ${i} ${votes} 0 0 1`;
  writeFileSync(
    join(dir, 'AVA.txt'),
    [row(1, '0 0 0 1 2 1 0 0 0 0'), row(2, '0 0 0 0 1 1 0 0 0 0'), row(3, '1 1 1 1 1 1 1 1 1 1'), row(4, '0 0 0 0 0 0 0 0 0 2'), row(5, '0 0 0 0 0 0 0 0 0 0')].join('\n'),
  );
  writeFileSync(join(dir, 'pool/a.png'), encodePng(solid(300, 200, [0x1234, 0x5678, 0x9abc, 0x8000]), 300, 200, 6, 16)); // 16-bit RGBA: fine
  writeFileSync(join(dir, 'pool/b.jpg'), 'not an image');
  writeFileSync(join(dir, 'pool/c.jpg'), Buffer.alloc(0));
  writeFileSync(join(dir, 'pool/d.png'), encodePng(solid(2, 2, [0, 0, 0]), 2, 2, 2, 8, { width: 60000, height: 60000 }));
  const config = join(dir, 'dataset.json');
  writeFileSync(config, JSON.stringify({ name: 'tiny', labeled: { all: { format: 'ava', labels: 'AVA.txt', images: 'images' } }, unlabeled: [{ name: 'pool', dir: 'pool', weight: 2 }] }));
  return config;
}

describe('cskd data check', () => {
  it('reports every bad file by kind and every bad label line, and exits 1', async () => {
    const config = await build();
    const r = await checkDataset(config);
    expect(r.splits).toEqual([expect.objectContaining({ name: 'all', samples: 4, labelIssues: 1 })]);
    // Means: (4 + 10 + 6)/4 = 5; (5 + 6)/2 = 5.5; 5.5; 10 → mean of means 6.5.
    expect(r.splits[0]!.meanScore).toBeCloseTo(6.5, 12);
    expect(r.unlabeled).toEqual([{ name: 'pool', weight: 2, files: 4 }]);
    expect(r.filesChecked).toBe(8);
    expect(r.filesOk).toBe(3);
    expect(r.badByKind).toEqual({ missing: 1, 'zero-byte': 1, truncated: 1, 'not-an-image': 1, 'too-large': 1, unreadable: 0 });
    expect(r.badFiles.map((b) => [b.path.slice(dir.length + 1), b.kind, b.owner])).toEqual([
      ['images/3.jpg', 'truncated', 'all'],
      ['images/4.jpg', 'missing', 'all'],
      ['pool/b.jpg', 'not-an-image', 'unlabeled:pool'],
      ['pool/c.jpg', 'zero-byte', 'unlabeled:pool'],
      ['pool/d.png', 'too-large', 'unlabeled:pool'],
    ]);
    expect(r.labelIssues.map((i) => `${i.file}:${i.line}: ${i.message}`)).toEqual([`${join(dir, 'AVA.txt')}:5: all-zero histogram`]);
    expect(checkPassed(r)).toBe(false);

    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['data', 'check', config])).toBe(1);
    expect(out).toContain('files: 8 checked, 3 ok, bad: 1 missing, 1 zero-byte, 1 truncated, 1 not-an-image, 1 too-large');
    expect(out).toContain(`  ${join(dir, 'AVA.txt')}:5: all-zero histogram`);
    out = '';
    expect(await main(['data', 'check', config, '--json'])).toBe(1);
    expect((JSON.parse(out) as { filesOk: number }).filesOk).toBe(3);
    expect(await main(['data', 'check'])).toBe(2); // the missing argument is a usage error
  });
});
