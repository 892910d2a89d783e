// Gallery thumbnails against plain sharp doing the same work in the same run:
// 10 000 JPEGs (640×480, generated here: blurred noise, so they compress like
// photos, not like flat colour) → fit inside 320², flatten, JPEG quality 80.
// Both sides write every thumbnail again on each call (cskd with force: true,
// so no cache hit hides the work). The peer is timed at its best concurrency,
// picked in this run by a sweep over 1, 2, 4, 8 and 16 images in flight.
import { linkSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { DEFAULT_THUMBNAILS, defaultThumbnailConcurrency, makeThumbnails } from '../../src/score/gallery/thumbnails.js';
import type { BenchCase, Suite } from '../lib/types.js';

const IMAGES = 10_000;
const DISTINCT = 50;
const SWEEP = [1, 2, 4, 8, 16];

interface Files {
  dir: string;
  paths: string[];
}

async function generate(): Promise<Files> {
  const dir = mkdtempSync(join(tmpdir(), 'cskd-bench-thumbs-'));
  mkdirSync(join(dir, 'src'));
  const distinct: string[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const p = join(dir, 'src', `seed-${i}.jpg`);
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 60 + 3 * i, sigma: 40 } } })
      .blur(1.2)
      .jpeg({ quality: 85 })
      .toFile(p);
    distinct.push(p);
  }
  // Removed at exit as well as after the peer, so a --no-peer run leaves nothing behind.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  // Hard links: 10 000 names, as a scored folder has, without 10 000 encodes up front.
  const paths: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const p = join(dir, 'src', `img-${String(i).padStart(5, '0')}.jpg`);
    linkSync(distinct[i % DISTINCT]!, p);
    paths.push(p);
  }
  return { dir, paths };
}

/** Plain sharp: the same pipeline, `inFlight` images at a time. */
async function plainSharp(paths: readonly string[], out: string, inFlight: number): Promise<void> {
  const { size, quality } = DEFAULT_THUMBNAILS;
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      await sharp(paths[i]!)
        .rotate()
        .resize(size, size, { fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality })
        .toFile(join(out, `${i}.jpg`));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

function thumbsCase(): BenchCase {
  let files: Promise<Files> | null = null;
  const get = () => (files ??= generate());
  const cleanup = async () => {
    if (files) rmSync((await files).dir, { recursive: true, force: true });
    files = null;
  };
  return {
    shape: `${IMAGES} JPEG 640×480 → 320² JPEG q${DEFAULT_THUMBNAILS.quality}`,
    threads: [2],
    peer: {
      runner: 'inprocess',
      label: 'sharp alone (same pipeline, best of 1/2/4/8/16 in flight)',
      async prepare() {
        const { dir, paths } = await get();
        const out = join(dir, 'peer');
        mkdirSync(out, { recursive: true });
        let best = { inFlight: 1, ms: Infinity };
        for (const inFlight of SWEEP) {
          const t0 = performance.now();
          await plainSharp(paths.slice(0, 1000), out, inFlight);
          const ms = performance.now() - t0;
          if (ms < best.ms) best = { inFlight, ms };
        }
        console.log(`  peer    sweep: best at ${best.inFlight} in flight (${(best.ms / 1000).toFixed(2)} ms per image)`);
        return { runAsync: () => plainSharp(paths, out, best.inFlight), dispose: cleanup };
      },
    },
    async prepare() {
      const { dir, paths } = await get();
      const out = join(dir, 'cskd');
      let made = 0;
      console.log(`  cskd    ${defaultThumbnailConcurrency()} in flight (its default)`);
      return {
        runAsync: async () => {
          const t = await makeThumbnails(paths, { dir: out, force: true });
          made = t.filter((x) => x.file !== null).length;
        },
        check: () => (made === IMAGES ? null : `made ${made} of ${IMAGES} thumbnails`),
      };
    },
  };
}

export const galleryThumbs: Suite = {
  name: 'gallery_thumbs',
  title: 'Gallery thumbnails: 10 000 images',
  description:
    'cskd: `makeThumbnails` (src/score/gallery/thumbnails.ts) over 10 000 generated 640×480 JPEGs (50 distinct, hard-linked), ' +
    'stat + cache name + sharp (auto-orient, fit inside 320², flatten, JPEG q80) at its default concurrency, rewriting every thumbnail ' +
    '(force: true). Peer: plain sharp, the same pipeline, at whichever of 1/2/4/8/16 images in flight a sweep over 1 000 of them found fastest, ' +
    'in the same process and run.',
  shapeHeader: 'images',
  cases: () => [thumbsCase()],
};
