// `cskd features` with the offline stand-in: the output says it is a stand-in,
// the store records it, and a missing --clip is an error that says what to pass.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { encodePng } from '../data/images.js';
import { captureOutput } from '../helpers/capture.js';

const root = mkdtempSync(join(tmpdir(), 'cskd-features-cli-'));
const savedCache = process.env['CSKD_CACHE'];
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  if (savedCache === undefined) delete process.env['CSKD_CACHE'];
  else process.env['CSKD_CACHE'] = savedCache;
});
afterEach(() => vi.restoreAllMocks());

const capture = captureOutput;

describe('cskd features', () => {
  it('runs the stand-in from a dataset config and labels it everywhere', async () => {
    process.env['CSKD_CACHE'] = join(root, 'cache');
    const imgs = join(root, 'photos');
    mkdirSync(imgs);
    for (let i = 0; i < 3; i++) {
      const px = Array.from({ length: 40 * 30 * 3 }, (_, k) => (k * (i + 3) * 7) % 256);
      writeFileSync(join(imgs, `p${i}.png`), encodePng(px, 40, 30, 2, 8));
    }
    writeFileSync(join(imgs, 'broken.png'), 'nope');
    const config = join(root, 'data.json');
    writeFileSync(config, JSON.stringify({ unlabeled: [{ name: 'photos', dir: 'photos' }] }));
    const c = capture();
    expect(await main(['features', config, '--clip', 'standin', '--threads', '2'])).toBe(0);
    expect(c.err()).toMatch(/using the offline STAND-IN, not CLIP/);
    expect(c.out()).toMatch(/store +.*features\/standin +\(STAND-IN features, not CLIP\)/);
    expect(c.out()).toMatch(/images +3 in the store: 3 embedded now, 0 already done, 1 failed now/);
    expect(c.out()).toMatch(/bad +.*broken.png: not-an-image/);
    expect(c.out()).toMatch(/view +resize 224, centre crop 224/);
    const header = JSON.parse(readFileSync(join(root, 'features', 'standin', 'store.json'), 'utf8'));
    expect(header.model).toMatchObject({ standIn: true, dim: 1792, engine: 'onnxruntime' });
    expect(header.model.description).toMatch(/STAND-IN \(not CLIP\)/);
  });

  it('asks for --clip and says what it takes', async () => {
    const c = capture();
    expect(await main(['features', root])).toBe(2);
    expect(c.err()).toMatch(/required option '--clip <model>' not specified/);
    expect(c.err().replace(/\s+/g, ' ')).toMatch(/or 'standin': an offline STAND-IN that is not CLIP/);
  });
});
