import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { Rng } from '../../src/util/rng.js';
import { decodeImage, looksTruncated, openImage, renderView } from '../../src/data/decode.js';
import { ImageFileError, type ImageErrorKind } from '../../src/data/errors.js';

import { CLIP_NORMALIZATION, IMAGENET_NORMALIZATION, evalView, type ViewSpec } from '../../src/data/transforms.js';
import { encodePng, normalized, solid, tempDir } from './images.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const clip = CLIP_NORMALIZATION;
const rng = () => new Rng(1);

async function expectKind(path: string, kind: ImageErrorKind): Promise<void> {
  const err = await decodeImage(path, evalView(16), rng()).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageFileError);
  expect((err as ImageFileError).kind).toBe(kind);
  expect((err as ImageFileError).file).toBe(path);
  expect((err as ImageFileError).message).toContain(path);
}

/** A 200×150 noisy JPEG (noise so that the entropy-coded data is long). */
async function noisyJpeg(): Promise<Buffer> {
  const w = 200;
  const h = 150;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7919) % 251;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** Mean of each channel plane of a CHW array. */
function channelMeans(chw: Float32Array, plane: number): number[] {
  return [0, 1, 2].map((c) => chw.subarray(c * plane, (c + 1) * plane).reduce((a, b) => a + b, 0) / plane);
}

describe('bad files: each kind is a typed error naming the file', () => {
  it('missing', async () => {
    await expectKind(join(dir, 'nope.jpg'), 'missing');
  });
  it('zero-byte', async () => {
    const p = join(dir, 'empty.jpg');
    writeFileSync(p, Buffer.alloc(0));
    await expectKind(p, 'zero-byte');
  });
  it('text named .jpg is not an image', async () => {
    const p = join(dir, 'text.jpg');
    writeFileSync(p, 'this is a caption, not a photo\n');
    await expectKind(p, 'not-an-image');
  });
  it('truncated JPEG (cut at 30%, 80% and 100 bytes short)', async () => {
    const jpg = await noisyJpeg();
    for (const n of [Math.floor(jpg.length * 0.3), Math.floor(jpg.length * 0.8), jpg.length - 100]) {
      const p = join(dir, `trunc-${n}.jpg`);
      writeFileSync(p, jpg.subarray(0, n));
      await expectKind(p, 'truncated');
    }
  });
  it('truncated PNG', async () => {
    const png = encodePng(solid(64, 64, [1, 2, 3]).map((v, i) => (v * i) % 256), 64, 64, 2, 8);
    const p = join(dir, 'trunc.png');
    writeFileSync(p, png.subarray(0, png.length - 30));
    await expectKind(p, 'truncated');
  });
  it('a forged 100000×100000 header is refused before decoding', async () => {
    const p = join(dir, 'bomb.png');
    writeFileSync(p, encodePng(solid(4, 4, [0, 0, 0]), 4, 4, 2, 8, { width: 100_000, height: 100_000 }));
    await expectKind(p, 'too-large');
    // And a real image just over a configured limit: 64×64 = 4096 pixels.
    const q = join(dir, 'big.png');
    writeFileSync(q, encodePng(solid(64, 64, [9, 9, 9]), 64, 64, 2, 8));
    await expect(openImage(q, { maxPixels: 4095 })).rejects.toMatchObject({ kind: 'too-large' });
    await expect(openImage(q, { maxPixels: 4096 })).resolves.toMatchObject({ width: 64, height: 64 });
  });
  it('a directory is unreadable', async () => {
    const p = join(dir, 'adir.jpg');
    mkdirSync(p);
    await expectKind(p, 'unreadable');
  });
  it('looksTruncated knows each end marker', async () => {
    const jpg = await noisyJpeg();
    expect(looksTruncated(jpg)).toBe(false);
    expect(looksTruncated(jpg.subarray(0, jpg.length - 2))).toBe(true);
    const png = encodePng([0, 0, 0], 1, 1, 2, 8);
    expect(looksTruncated(png)).toBe(false);
    expect(looksTruncated(png.subarray(0, png.length - 12))).toBe(true);
  });
});

describe('colour handling: every input becomes 8-bit sRGB', () => {
  it('RGBA is composited on white', async () => {
    // Opaque-free red (alpha 0) → white; red at alpha 128 → 255, 255·(1 − 128/255), same.
    const p = join(dir, 'rgba.png');
    const px = [...solid(8, 4, [255, 0, 0, 0]), ...solid(8, 4, [255, 0, 0, 128])];
    writeFileSync(p, encodePng(px, 8, 8, 6, 8));
    const out = await decodeImage(p, { ...evalView(8), geometry: { kind: 'center', resize: 8 } }, rng());
    const top = 0; // row 0, column 0
    const bottom = 7 * 8; // row 7, column 0
    for (let c = 0; c < 3; c++) expect(out[c * 64 + top]).toBeCloseTo(normalized(255, clip.mean[c]!, clip.std[c]!), 4);
    const half = 255 - (255 * 128) / 255; // 127
    expect(out[0 * 64 + bottom]).toBeCloseTo(normalized(255, clip.mean[0], clip.std[0]), 4);
    for (const c of [1, 2]) expect(Math.abs(out[c * 64 + bottom]! - normalized(half, clip.mean[c]!, clip.std[c]!))).toBeLessThan(1.5 / 255 / clip.std[c]!);
  });
  it('16-bit PNG becomes 8-bit by keeping the high byte (libvips cast, v >> 8)', async () => {
    const p = join(dir, 'sixteen.png');
    // v >> 8: 0x8080 → 128, 0xff00 → 255 (v/257 would give 254), 0x01ff → 1 (v/257 would give 2).
    writeFileSync(p, encodePng(solid(6, 6, [0x8080, 0xff00, 0x01ff]), 6, 6, 2, 16));
    const src = await openImage(p);
    const out = await renderView(src, evalView(6, IMAGENET_NORMALIZATION), rng());
    const m = channelMeans(out, 36);
    const n = IMAGENET_NORMALIZATION;
    expect(m[0]).toBeCloseTo(normalized(128, n.mean[0], n.std[0]), 4);
    expect(m[1]).toBeCloseTo(normalized(255, n.mean[1], n.std[1]), 4);
    expect(m[2]).toBeCloseTo(normalized(1, n.mean[2], n.std[2]), 4);
  });
  it('grayscale and gray+alpha PNGs become three equal channels', async () => {
    const p = join(dir, 'gray.png');
    writeFileSync(p, encodePng(solid(5, 5, [100]), 5, 5, 0, 8));
    const m = channelMeans(await decodeImage(p, evalView(5), rng()), 25);
    for (let c = 0; c < 3; c++) expect(m[c]).toBeCloseTo(normalized(100, clip.mean[c]!, clip.std[c]!), 4);
    const q = join(dir, 'graya.png');
    writeFileSync(q, encodePng(solid(5, 5, [0, 0]), 5, 5, 4, 8)); // black, fully transparent → white
    const mq = channelMeans(await decodeImage(q, evalView(5), rng()), 25);
    for (let c = 0; c < 3; c++) expect(mq[c]).toBeCloseTo(normalized(255, clip.mean[c]!, clip.std[c]!), 4);
  });
  it('CMYK JPEG is converted to sRGB close to the colour it was made from', async () => {
    const colour = { r: 200, g: 120, b: 40 };
    const cmyk = await sharp({ create: { width: 16, height: 16, channels: 3, background: colour } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const p = join(dir, 'cmyk.jpg');
    writeFileSync(p, cmyk);
    const m = channelMeans(await decodeImage(p, evalView(16), rng()), 256);
    // The sRGB → CMYK → sRGB round trip through libvips's built-in profiles moves a
    // saturated colour by up to ~30 levels; channel order and magnitude must survive.
    [colour.r, colour.g, colour.b].forEach((v, c) => expect(Math.abs(m[c]! - normalized(v, clip.mean[c]!, clip.std[c]!))).toBeLessThan(32 / 255 / clip.std[c]!));
    const levels = m.map((x, c) => (x * clip.std[c]! + clip.mean[c]!) * 255);
    expect(levels[0]).toBeGreaterThan(levels[1]!);
    expect(levels[1]).toBeGreaterThan(levels[2]!);
  });
  it('WebP, AVIF, TIFF and the first frame of an animated GIF', async () => {
    const red = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    const blue = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
    const files: Record<string, Buffer> = {
      'a.webp': await sharp(red).webp({ lossless: true }).toBuffer(),
      'a.avif': await sharp(red).avif({ lossless: true }).toBuffer(),
      'a.tiff': await sharp(red).tiff().toBuffer(),
      'a.gif': await sharp([red, blue], { join: { animated: true } }).gif().toBuffer(),
    };
    expect((await sharp(files['a.gif']!).metadata()).pages).toBe(2);
    for (const [name, buf] of Object.entries(files)) {
      const p = join(dir, name);
      writeFileSync(p, buf);
      const m = channelMeans(await decodeImage(p, evalView(16), rng()), 256);
      expect(Math.abs(m[0]! - normalized(255, clip.mean[0], clip.std[0])), name).toBeLessThan(4 / 255 / clip.std[0]);
      expect(Math.abs(m[2]! - normalized(0, clip.mean[2], clip.std[2])), name).toBeLessThan(4 / 255 / clip.std[2]);
    }
  });
});

describe('geometry', () => {
  // Left half red, right half blue, 80×40.
  const halves = (w: number, h: number) => {
    const px: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.push(...(x < w / 2 ? [255, 0, 0] : [0, 0, 255]));
    return Buffer.from(px);
  };
  const redAt = (out: Float32Array, size: number, x: number, y: number) => out[y * size + x]! > 0;

  it('EXIF orientation 6 (rotate 90° clockwise) puts the left half on top', async () => {
    const jpg = await sharp(halves(80, 40), { raw: { width: 80, height: 40, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const p = join(dir, 'rot.jpg');
    writeFileSync(p, jpg);
    const src = await openImage(p);
    expect([src.width, src.height]).toEqual([40, 80]);
    const spec: ViewSpec = { ...evalView(40), geometry: { kind: 'center', resize: 40 } };
    const out = await renderView(src, spec, rng()); // 40×80 → centre 40×40: rows 20..59 of the rotated image
    expect(redAt(out, 40, 20, 5)).toBe(true); // rotated row 25: red
    expect(redAt(out, 40, 20, 34)).toBe(false); // rotated row 54: blue
  });
  it('flipProbability 1 mirrors the image', async () => {
    const p = join(dir, 'halves.png');
    writeFileSync(p, encodePng(halves(40, 40), 40, 40, 2, 8));
    const plain = await decodeImage(p, evalView(40), rng());
    const flipped = await decodeImage(p, { ...evalView(40), flipProbability: 1 }, rng());
    for (const [x, y] of [[3, 3], [36, 20], [10, 39]] as const) expect(flipped[y * 40 + x]).toBe(plain[y * 40 + 39 - x]);
    expect(redAt(plain, 40, 3, 3)).toBe(true);
    expect(redAt(flipped, 40, 3, 3)).toBe(false);
  });
  it('invalid view specs are refused with a RangeError', async () => {
    const p = join(dir, 'halves.png');
    await expect(decodeImage(p, { ...evalView(16), geometry: { kind: 'center', resize: 12 } }, rng())).rejects.toThrow(/resize 12 must be an integer ≥ size 16/);
    await expect(decodeImage(p, { ...evalView(16), flipProbability: 2 }, rng())).rejects.toThrow(RangeError);
  });
});
